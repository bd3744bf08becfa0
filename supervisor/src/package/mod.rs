//! Module packages: a directory with `convotic-module.toml` at its root, shipped as a gzip'd
//! tar with a SHA-256 digest (docs/packages.md). [`manifest`] reads the manifest and turns a
//! deployed package into a module spec, [`archive`] packs and (as hostile input) unpacks
//! archives, [`files`] selects what of a package directory is packed.

pub mod archive;
pub mod files;
pub mod manifest;

pub use archive::{digest, pack, unpack, ArchiveError, Limits, PackFile, Packed, Unpacked};
pub use files::files_to_pack;
pub use manifest::{parse, PackageManifest, PackageSettings, Runtime, MANIFEST_FILE};
