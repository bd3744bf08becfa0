//! The HTTP listener under hostile clients, against the real binary: every request-target form
//! of RFC 9112 §3.2, a slowloris of more connections than the default open-file limit, the
//! connection cap, header and body timeouts, the response size limit and buffer budget with
//! slow readers, bodies without a content type, and which endpoints need the admin token.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

use convotic_e2e::{ModuleEntry, Supervisor};
use reqwest::Method;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(30);

fn address(sup: &Supervisor) -> String {
    sup.base.trim_start_matches("http://").to_string()
}

/// Sends `request` on a new connection; returns the whole answer read until the server closes
/// or `Connection: close`-less answers stop (read timeout).
fn exchange(sup: &Supervisor, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(sup)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn assert_no_panic(sup: &Supervisor) {
    let log = sup.log();
    assert!(!log.contains("panicked"), "panic in the log:\n{log}");
    assert!(!log.contains("panic:"), "panic in the log:\n{log}");
}

#[test]
fn every_request_target_form_gets_an_answer_and_nothing_panics() {
    let sup = Supervisor::start(&[], &[]);
    let host = address(&sup);
    let cases: Vec<(String, u16)> = vec![
        // origin-form
        (format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 200),
        // absolute-form: routed by its path
        (
            format!("GET http://{host}/healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            200,
        ),
        // authority-form: only for CONNECT, and this is no proxy
        (
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n".into(),
            400,
        ),
        (
            format!("GET {host} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            400,
        ),
        (
            "OPTIONS example.com:80 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".into(),
            400,
        ),
        // asterisk-form
        (format!("OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 204),
        (format!("GET * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 400),
    ];
    for (request, expected) in &cases {
        let answer = exchange(&sup, request.as_bytes());
        assert_eq!(
            status_of(&answer),
            *expected,
            "{request:?} answered:\n{answer}\n--- log ---\n{}",
            sup.log()
        );
        if *expected == 400 {
            assert!(answer.contains("bad_request_target"), "{answer}");
        }
    }
    let options = exchange(
        &sup,
        format!("OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(
        options.to_ascii_lowercase().contains("allow: get"),
        "{options}"
    );
    assert_eq!(sup.get("/healthz").0, 200);
    assert_no_panic(&sup);
}

/// Sets this process's soft open-file limit; returns the hard limit.
fn set_open_file_limit(soft: Option<u64>) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(
        Resource::RLIMIT_NOFILE,
        soft.unwrap_or(hard).min(hard),
        hard,
    )
    .expect("setrlimit");
    hard
}

/// The soft and hard "Max open files" of a process.
fn open_file_limits(pid: i32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

fn is_closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let closed = match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

#[test]
fn a_slowloris_beyond_the_default_file_limit_leaves_health_and_admin_answering() {
    // The supervisor starts with the common default soft limit of 1024 (inherited); this
    // process then takes the hard limit for its own connections.
    let hard = set_open_file_limit(Some(1024));
    let sup = Supervisor::start_with(
        &[],
        &[],
        &["header_read_timeout = \"2s\"", "idle_timeout = \"60s\""],
    );
    set_open_file_limit(None);
    let (soft, hard_seen) = open_file_limits(sup.pid());
    assert_eq!(soft, hard_seen, "the supervisor raised its soft limit");
    assert!(
        hard > 1200,
        "the test needs a hard limit above 1200, have {hard}"
    );

    let started = Instant::now();
    let mut idle = Vec::new();
    let mut partial = Vec::new();
    for i in 0..1200 {
        let mut stream = TcpStream::connect(address(&sup)).expect("connect");
        if i % 2 == 0 {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .expect("partial head");
            partial.push(stream);
        } else {
            idle.push(stream);
        }
    }
    // Connections a slowloris holds do not lock others out.
    let (status, _) = sup.get("/healthz");
    assert_eq!(status, 200, "{}", sup.log());
    let (status, body) = sup.get("/admin/v1/modules");
    assert_eq!(status, 200, "{body}");

    // Partial heads are cut after the header timeout; idle connections stay for idle_timeout.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !partial.iter_mut().all(is_closed) {
        assert!(
            Instant::now() < deadline,
            "partial-head connections still open after {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed before the header timeout"
    );
    let still_open = idle
        .iter_mut()
        .map(is_closed)
        .filter(|closed| !closed)
        .count();
    assert!(
        still_open > 500,
        "idle connections are closed only after idle_timeout (open: {still_open})"
    );
    assert_eq!(sup.get("/healthz").0, 200);
    assert_no_panic(&sup);
}

#[test]
fn modules_get_the_open_file_limit_the_supervisor_started_with() {
    let hard = set_open_file_limit(Some(1024));
    let sup = Supervisor::start_with(
        &[ModuleEntry::fixture("fixture", "ok").with("sandbox = \"none\"")],
        &[],
        &[],
    );
    set_open_file_limit(None);
    sup.wait_state("fixture", "ready", LONG);
    assert_eq!(
        open_file_limits(sup.pid()),
        (hard.to_string(), hard.to_string()),
        "the supervisor raised its own soft limit"
    );
    let module = sup.module("fixture")["pid"].as_i64().expect("module pid") as i32;
    let (soft, _) = open_file_limits(module);
    assert_eq!(
        soft, "1024",
        "the module (profile none) got the starting soft limit back"
    );
}

#[test]
fn connections_over_the_cap_get_a_503_and_freed_slots_serve_again() {
    let sup = Supervisor::start_with(&[], &[], &["max_connections = 20"]);
    let held: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(address(&sup)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let answer = exchange(&sup, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_of(&answer), 503, "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = exchange(
            &sup,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        if status_of(&answer) == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never freed: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_no_panic(&sup);
}

/// Opens an HTTP/2 (prior knowledge) connection: sends the preface and an empty SETTINGS
/// frame, returns the stream and the server's SETTINGS as (identifier, value) pairs.
fn http2_connect(sup: &Supervisor) -> (TcpStream, Vec<(u16, u32)>) {
    let mut stream = TcpStream::connect(address(sup)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .expect("preface");
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).expect("server frame header");
    assert_eq!(header[3], 0x4, "the server's first frame is SETTINGS");
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).expect("settings payload");
    let settings = payload
        .chunks_exact(6)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
            )
        })
        .collect();
    (stream, settings)
}

#[test]
fn http2_connections_get_a_stream_limit_and_are_closed_when_idle() {
    let sup = Supervisor::start_with(
        &[],
        &[],
        &[
            "http2_max_concurrent_streams = 7",
            "header_read_timeout = \"2s\"",
            "idle_timeout = \"2s\"",
        ],
    );
    const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    let started = Instant::now();
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..50 {
        let (stream, settings) = http2_connect(&sup);
        assert!(
            settings.contains(&(MAX_CONCURRENT_STREAMS, 7)),
            "SETTINGS_MAX_CONCURRENT_STREAMS 7 advertised: {settings:?}"
        );
        held.push(stream);
    }
    assert_eq!(sup.get("/healthz").0, 200);
    // Connections that never send a request are closed by the server (GOAWAY, then EOF).
    for mut stream in held {
        let mut sink = [0u8; 1024];
        loop {
            match stream.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!(
                    "an idle HTTP/2 connection still open after {:?}: {e}",
                    started.elapsed()
                ),
            }
        }
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed before the timeout"
    );
    assert_eq!(sup.get("/healthz").0, 200);
    assert_no_panic(&sup);
}

fn fixture_supervisor(server: &[&str]) -> (Supervisor, String) {
    let sup = Supervisor::start_with(&[ModuleEntry::fixture("fixture", "ok")], &[], server);
    sup.wait_state("fixture", "ready", LONG);
    let key = sup.create_key("ws_test");
    (sup, key)
}

#[test]
fn a_body_that_trickles_in_is_cut_off_with_408() {
    let (sup, key) = fixture_supervisor(&["body_read_timeout = \"1s\""]);
    let started = Instant::now();
    let request = format!(
        "POST /v1/modules/fixture/echo HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"a\":"
    );
    let answer = exchange(&sup, request.as_bytes());
    assert_eq!(status_of(&answer), 408, "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn json_without_content_type_reaches_the_module_and_non_json_is_named() {
    let (sup, key) = fixture_supervisor(&[]);
    let response = sup
        .http(Method::POST, "/v1/modules/fixture/echo")
        .header("x-api-key", &key)
        .body(r#"{"order": 42}"#)
        .send()
        .expect("echo");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().expect("json");
    assert_eq!(body["order"], 42, "{body}");

    let response = sup
        .http(Method::POST, "/v1/modules/fixture/expects-json")
        .header("x-api-key", &key)
        .header("content-type", "text/plain")
        .body(r#"{"order": 42}"#)
        .send()
        .expect("expects-json");
    // A module's BAD_INPUT is 422 rejected_input (one outcome table for every entry point).
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().expect("json");
    assert_eq!(body["error"]["code"], "rejected_input", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("expects a JSON body") && message.contains("text/plain"),
        "{body}"
    );
}

/// A connection with a small receive buffer that reads the answer's head and then stops.
fn slow_reader(sup: &Supervisor, path: &str, key: &str) -> (TcpStream, String) {
    let address: std::net::SocketAddrV4 = address(sup).parse().expect("v4");
    // SAFETY: plain socket calls on a descriptor this function owns; the buffer size is set
    // before connect so the advertised window stays small.
    let stream = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket");
        let size: libc::c_int = 4096;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sockaddr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: address.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*address.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let rc = libc::connect(
            fd,
            (&sockaddr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(rc, 0, "connect");
        TcpStream::from_raw_fd(fd)
    };
    let mut stream = stream;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {key}\r\n\r\n").as_bytes())
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    (stream, String::from_utf8_lossy(&head).into_owned())
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[test]
fn slow_readers_cannot_make_the_supervisor_hold_unbounded_responses() {
    let (sup, key) = fixture_supervisor(&[
        "response_buffer_bytes = 33554432",
        "max_response_bytes = 13631488",
    ]);
    let path = "/v1/workspaces/ws_test/modules/fixture/large/12288";
    // Over the per-response limit: a 502 naming the limit and the size.
    let response = sup
        .http(
            Method::GET,
            "/v1/workspaces/ws_test/modules/fixture/large/13313",
        )
        .header("x-api-key", &key)
        .send()
        .expect("too large");
    assert_eq!(response.status().as_u16(), 502);
    let body: Value = response.json().expect("json");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(body["error"]["code"], "response_too_large", "{body}");
    assert!(
        message.contains("13631488") && message.contains(&(13313 * 1024).to_string()),
        "{body}"
    );

    // One full read first, so buffers that live for the whole run exist before measuring.
    let warm = sup
        .http(Method::GET, path)
        .header("x-api-key", &key)
        .send()
        .expect("warm-up");
    assert_eq!(warm.status().as_u16(), 200);
    assert_eq!(warm.bytes().expect("body").len(), 12288 * 1024);
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(sup.pid());

    let mut readers = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..24 {
        let (stream, head) = slow_reader(&sup, path, &key);
        statuses.push(status_of(&head));
        if status_of(&head) == 503 {
            assert!(head.to_ascii_lowercase().contains("retry-after"), "{head}");
        }
        readers.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(sup.pid());
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(ok + refused, 24, "{statuses:?}");
    assert!(
        (1..=3).contains(&ok),
        "the 32 MiB budget holds two 12 MiB bodies: {statuses:?}"
    );
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 150,
        "RSS grew by {grown_mib} MiB with 24 slow readers (before {before} KiB, after {after} KiB)"
    );
    drop(readers);
    // The budget comes back once the readers are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = sup
            .http(Method::GET, path)
            .header("x-api-key", &key)
            .send()
            .expect("after");
        if response.status().as_u16() == 200 {
            assert_eq!(response.bytes().expect("body").len(), 12288 * 1024);
            break;
        }
        assert!(Instant::now() < deadline, "the budget never came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_no_panic(&sup);
}

#[test]
fn metrics_and_readiness_details_need_the_admin_token_and_client_errors_are_not_errors() {
    let sup = Supervisor::start_with(&[ModuleEntry::fixture("fixture", "ok")], &[], &[]);
    sup.wait_state("fixture", "ready", LONG);
    let anonymous = |path: &str| {
        let response = sup.http(Method::GET, path).send().expect(path);
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    };
    assert_eq!(anonymous("/healthz").0, 200);
    let (status, body) = anonymous("/metrics");
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("fixture"), "{body}");
    let (status, body) = anonymous("/readyz");
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body, serde_json::json!({"ready": true}));

    let metrics = sup
        .http(Method::GET, "/metrics")
        .bearer_auth(&sup.token)
        .send()
        .expect("metrics");
    assert_eq!(metrics.status().as_u16(), 200);
    assert!(metrics
        .text()
        .unwrap_or_default()
        .contains("convotic_module_up"));
    let (status, body) = sup.get("/readyz");
    assert_eq!(status, 200);
    assert!(body["not_ready"].is_array(), "{body}");

    // Malformed requests: answered, logged at debug, summarized at most once a minute.
    for i in 0..200 {
        let garbage = format!("GARBAGE\x01 {i} \r\n\r\n");
        let _ = exchange(&sup, garbage.as_bytes());
    }
    assert_eq!(sup.get("/healthz").0, 200);
    let log = sup.log();
    let error_lines = log.lines().filter(|l| l.contains("ERROR")).count();
    assert_eq!(error_lines, 0, "{log}");
    let client_lines = log.lines().filter(|l| l.contains("client error")).count();
    assert!(client_lines <= 2, "{client_lines} lines:\n{log}");
    assert_no_panic(&sup);
}

#[test]
fn doctor_shows_the_gateway_limits_as_they_will_apply() {
    let sup = Supervisor::start_with(
        &[],
        &[],
        &["max_connections = 100000000", "idle_timeout = \"45s\""],
    );
    let output = std::process::Command::new(convotic_e2e::binary("convotic-supervisor"))
        .args(["doctor", "--json", "--config"])
        .arg(sup.config_path())
        .output()
        .expect("doctor");
    let report: Value = serde_json::from_slice(&output.stdout).expect("doctor --json");
    let gateway = &report["gateway"];
    let hard = gateway["open_files"]["hard"].as_u64().expect("hard limit");
    let server = &gateway["server"];
    assert_eq!(server["max_connections"], 100_000_000, "{gateway}");
    let effective = server["max_connections_effective"]
        .as_u64()
        .expect("effective");
    assert!(
        effective < 100_000_000 && effective <= hard,
        "lowered to fit {hard} open files: {gateway}"
    );
    assert_eq!(server["idle_timeout"], "45s", "{gateway}");
    assert_eq!(server["header_read_timeout"], "10s", "{gateway}");

    let output = std::process::Command::new(convotic_e2e::binary("convotic-supervisor"))
        .args(["doctor", "--config"])
        .arg(sup.config_path())
        .output()
        .expect("doctor");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("lowered from 100000000 to fit the open-file limit"),
        "{text}"
    );
}
