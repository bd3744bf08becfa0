//! Tests of [`super::unpack`] and [`super::pack`]: each hostile archive is refused with its own
//! message and nothing lands outside the destination.

use super::*;

/// One raw entry of a hand-made archive (paths written as given, unchecked).
struct Raw<'a> {
    name: &'a str,
    kind: tar::EntryType,
    link: &'a str,
    data: &'a [u8],
    mode: u32,
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: tar::EntryType::Regular,
        link: "",
        data,
        mode: 0o644,
    }
}

fn link<'a>(name: &'a str, kind: tar::EntryType, target: &'a str) -> Raw<'a> {
    Raw {
        name,
        kind,
        link: target,
        data: b"",
        mode: 0o777,
    }
}

/// Builds a gzip'd tar with the names written byte for byte (tar's own setters refuse `..`).
fn archive(entries: &[Raw]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        {
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
            gnu.linkname[..entry.link.len()].copy_from_slice(entry.link.as_bytes());
        }
        header.set_entry_type(entry.kind);
        header.set_size(entry.data.len() as u64);
        header.set_mode(entry.mode);
        header.set_cksum();
        builder.append(&header, entry.data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// Unpacks into `<tmp>/dest` and returns the error message; checks nothing was written in
/// `<tmp>` outside `dest`.
fn refused(bytes: &[u8], limits: Limits) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let error = unpack(bytes, &dest, limits)
        .expect_err("refused")
        .to_string();
    let outside: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("dest")]);
    error
}

#[test]
fn a_plain_package_unpacks_with_normalised_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut exe = file("bin/run", b"#!/bin/sh\n");
    exe.mode = 0o4755; // setuid is dropped
    let bytes = archive(&[
        file("convotic-module.toml", b"name = \"x\"\n"),
        exe,
        file("./lib/a.js", b"1"),
        link("lib/b.js", tar::EntryType::Symlink, "a.js"),
        link("lib/c.js", tar::EntryType::Link, "lib/a.js"),
    ]);
    let unpacked = unpack(&bytes, tmp.path(), Limits::default()).unwrap();
    // Five entries and the two directories created for them.
    assert_eq!(unpacked.entries, 7);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::symlink_metadata(tmp.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/run"), 0o755);
    assert_eq!(mode("convotic-module.toml"), 0o644);
    assert_eq!(std::fs::read(tmp.path().join("lib/b.js")).unwrap(), b"1");
    assert_eq!(std::fs::read(tmp.path().join("lib/c.js")).unwrap(), b"1");
}

#[test]
fn parent_components_are_refused() {
    let message = refused(&archive(&[file("../evil", b"x")]), Limits::default());
    assert!(
        message.contains("\"../evil\"") && message.contains(".."),
        "{message}"
    );
    let message = refused(&archive(&[file("a/../../evil", b"x")]), Limits::default());
    assert!(message.contains(".."), "{message}");
}

#[test]
fn absolute_paths_are_refused() {
    let message = refused(&archive(&[file("/tmp/evil", b"x")]), Limits::default());
    assert!(message.contains("absolute"), "{message}");
}

#[test]
fn links_leaving_the_package_are_refused() {
    let message = refused(
        &archive(&[link("out", tar::EntryType::Symlink, "/etc/passwd")]),
        Limits::default(),
    );
    assert!(message.contains("outside"), "{message}");
    let message = refused(
        &archive(&[link("a/out", tar::EntryType::Symlink, "../../x")]),
        Limits::default(),
    );
    assert!(message.contains("outside"), "{message}");
    let message = refused(
        &archive(&[link("hard", tar::EntryType::Link, "/etc/passwd")]),
        Limits::default(),
    );
    assert!(
        message.contains("hard link") && message.contains("outside"),
        "{message}"
    );
    let message = refused(
        &archive(&[link("hard", tar::EntryType::Link, "../x")]),
        Limits::default(),
    );
    assert!(message.contains("outside"), "{message}");
}

#[test]
fn a_chain_of_links_that_leaves_the_package_is_refused() {
    // d/u -> .. is the root (inside); v -> d/u/.. looks like "d" but really is the parent
    // of the package: only the resolution of the real tree sees it.
    let message = refused(
        &archive(&[
            Raw {
                name: "d",
                kind: tar::EntryType::Directory,
                link: "",
                data: b"",
                mode: 0o755,
            },
            link("d/u", tar::EntryType::Symlink, ".."),
            link("v", tar::EntryType::Symlink, "d/u/.."),
        ]),
        Limits::default(),
    );
    assert!(
        message.contains("\"v\"") && message.contains("outside"),
        "{message}"
    );
}

#[test]
fn entries_are_never_written_through_a_link() {
    let message = refused(
        &archive(&[link("l", tar::EntryType::Symlink, "."), file("l/x", b"x")]),
        Limits::default(),
    );
    assert!(message.contains("symlink"), "{message}");
}

#[test]
fn device_files_and_fifos_are_refused() {
    for (kind, word) in [
        (tar::EntryType::Char, "device"),
        (tar::EntryType::Block, "device"),
        (tar::EntryType::Fifo, "fifo"),
    ] {
        let message = refused(&archive(&[link("dev", kind, "")]), Limits::default());
        assert!(message.contains(word), "{message}");
    }
}

#[test]
fn an_entry_written_twice_is_refused() {
    let message = refused(
        &archive(&[file("a", b"1"), file("a", b"2")]),
        Limits::default(),
    );
    assert!(message.contains("twice"), "{message}");
}

#[test]
fn the_size_cap_is_enforced_while_decompressing() {
    let big = vec![0u8; 3 * 1024 * 1024];
    let limits = Limits {
        max_unpacked_bytes: 1024 * 1024,
        max_entries: 100,
    };
    let message = refused(&archive(&[file("zeros", &big)]), limits);
    assert!(message.contains("1 MiB"), "{message}");
    // Spread over files, each under the cap.
    let third = vec![0u8; 512 * 1024];
    let message = refused(
        &archive(&[file("a", &third), file("b", &third), file("c", &third)]),
        limits,
    );
    assert!(message.contains("1 MiB"), "{message}");
}

#[test]
fn the_entry_cap_is_enforced() {
    let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let entries: Vec<Raw> = names.iter().map(|n| file(n, b"")).collect();
    let limits = Limits {
        max_unpacked_bytes: 1024,
        max_entries: 10,
    };
    let message = refused(&archive(&entries), limits);
    assert!(message.contains("more than 10 entries"), "{message}");
}

#[test]
fn garbage_and_truncated_archives_are_refused() {
    let message = refused(b"not a gzip stream at all", Limits::default());
    assert!(message.contains("not a valid gzip'd tar"), "{message}");
    let good = archive(&[file("a", &[7u8; 10_000])]);
    let message = refused(&good[..good.len() / 2], Limits::default());
    assert!(message.contains("not a valid"), "{message}");
}

#[test]
fn packing_is_deterministic_and_round_trips() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), "alpha").unwrap();
    std::fs::write(src.path().join("run"), "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        src.path().join("run"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let files = vec![
        PackFile {
            name: "run".into(),
            source: src.path().join("run"),
        },
        PackFile {
            name: "docs/a.txt".into(),
            source: src.path().join("a.txt"),
        },
    ];
    let first = pack(&files, Limits::default()).unwrap();
    let mut reversed = files.clone();
    reversed.reverse();
    let second = pack(&reversed, Limits::default()).unwrap();
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.digest, digest(&first.bytes));
    assert_eq!(first.files, 2);
    let out = tempfile::tempdir().unwrap();
    unpack(&first.bytes, out.path(), Limits::default()).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("docs/a.txt")).unwrap(),
        "alpha"
    );
    let mode = std::fs::metadata(out.path().join("run"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn packing_refuses_what_unpacking_would() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a"), vec![0u8; 2048]).unwrap();
    let files: Vec<PackFile> = (0..3)
        .map(|i| PackFile {
            name: format!("f{i}").into(),
            source: src.path().join("a"),
        })
        .collect();
    let limits = Limits {
        max_unpacked_bytes: 4096,
        max_entries: 2,
    };
    assert!(pack(&files, limits)
        .unwrap_err()
        .contains("over the limit of 2"));
    let limits = Limits {
        max_unpacked_bytes: 4096,
        max_entries: 10,
    };
    let message = pack(&files, limits).unwrap_err();
    assert!(message.contains("total more than"), "{message}");
}

#[test]
fn directories_count_as_entries_and_depth_and_name_length_are_capped() {
    // Long names go through tar's own GNU long-name extension.
    let long = |path: &str| {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        let mut header = tar::Header::new_gnu();
        header.set_size(0);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, &b""[..]).unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    };
    // One file 30 directories deep is 31 entries.
    let deep = (0..30)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/")
        + "/f";
    let limits = Limits {
        max_unpacked_bytes: 1024,
        max_entries: 20,
    };
    let message = refused(&long(&deep), limits);
    assert!(message.contains("directories included"), "{message}");
    let deeper = (0..60).map(|_| "d").collect::<Vec<_>>().join("/");
    let message = refused(&long(&deeper), Limits::default());
    assert!(message.contains("nested more than"), "{message}");
    let message = refused(&long(&"n".repeat(2000)), Limits::default());
    assert!(
        message.contains("over 1024 bytes") && message.len() < 600,
        "{message}"
    );
}
