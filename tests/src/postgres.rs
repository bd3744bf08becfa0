//! A PostgreSQL database of its own for one test, created on the local server and dropped
//! (with its connections) when the guard is dropped, so no test depends on or leaves behind
//! state. The server is `$CONVOTIC_TEST_POSTGRES` (a `key=value` connection string without
//! `dbname`), by default `host=127.0.0.1 port=5432 user=postgres` (trust auth).
//!
//! [`PostgresServer`] is a throwaway server of a test's own instead, for tests that need one
//! on another address (the cluster test in network namespaces).

/// A test database.
pub struct TestDatabase {
    name: String,
}

fn server() -> String {
    std::env::var("CONVOTIC_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

/// Runs `sql` on the server's `postgres` database (its own thread and runtime).
fn admin(sql: String) -> Result<(), String> {
    run_on("postgres".into(), sql)
}

/// Runs `sql` on database `dbname` (its own thread and runtime).
fn run_on(dbname: String, sql: String) -> Result<(), String> {
    run_with(server(), dbname, sql)
}

/// Runs `sql` on database `dbname` of the server `conninfo` (`key=value` pairs without
/// `dbname`), on its own thread and runtime.
fn run_with(conninfo: String, dbname: String, sql: String) -> Result<(), String> {
    on_server(conninfo, dbname, sql, false).map(drop)
}

/// Runs `sql` on database `dbname` of `conninfo` on a thread and runtime of its own: as a batch,
/// or (`one_number`) as a query whose first row's first column is a `bigint`, returned.
fn on_server(
    conninfo: String,
    dbname: String,
    sql: String,
    one_number: bool,
) -> Result<Option<i64>, String> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(async move {
                let (client, connection) = tokio_postgres::connect(
                    &format!("{conninfo} dbname={dbname} connect_timeout=5"),
                    tokio_postgres::NoTls,
                )
                .await
                .map_err(|e| e.to_string())?;
                let driver = tokio::spawn(connection);
                let result = if one_number {
                    client
                        .query_one(&sql, &[])
                        .await
                        .map(|row| Some(row.get::<_, i64>(0)))
                } else {
                    client.batch_execute(&sql).await.map(|()| None)
                };
                drop(client);
                let _ = driver.await;
                result.map_err(|e| e.to_string())
            })
    })
    .join()
    .map_err(|_| "database thread panicked".to_string())?
}

impl TestDatabase {
    /// Creates `convotic_e2e_<random>`.
    pub fn create() -> Self {
        let name = format!(
            "convotic_e2e_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        admin(format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test database on {}: {e}", server()));
        Self { name }
    }

    /// `postgres://` URL of this database, as `[store] url` takes it.
    pub fn url(&self) -> String {
        let mut host = "127.0.0.1".to_string();
        let mut port = "5432".to_string();
        let mut user = "postgres".to_string();
        for pair in server().split_whitespace() {
            match pair.split_once('=') {
                Some(("host", v)) => host = v.into(),
                Some(("port", v)) => port = v.into(),
                Some(("user", v)) => user = v.into(),
                _ => {}
            }
        }
        format!("postgres://{user}@{host}:{port}/{}", self.name)
    }

    /// Runs `sql` on this database (e.g. to plant a record the API would not create).
    pub fn execute(&self, sql: &str) {
        run_on(self.name.clone(), sql.to_string()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The `[store]` table pointing at this database.
    pub fn store_table(&self) -> String {
        format!("[store]\nurl = \"{}\"\n", self.url())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Err(e) = admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("cannot drop test database {}: {e}", self.name);
        }
    }
}

/// A throwaway PostgreSQL server of its own (from Debian's packages,
/// `/usr/lib/postgresql/<version>/bin`), for tests that need one reachable on an address other
/// than the machine's server (which listens on 127.0.0.1 only and whose configuration is never
/// touched): `initdb` in a temp dir as the `postgres` user, trust authentication for the
/// loopback and one given subnet, listening on one given address and a free port. Stopped
/// (fast shutdown, then SIGKILL) and its directory removed when dropped.
pub struct PostgresServer {
    child: std::process::Child,
    dir: tempfile::TempDir,
    /// The address it listens on.
    pub host: std::net::Ipv4Addr,
    /// Its port.
    pub port: u16,
}

/// How clients reach a [`PostgresServer`] over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Plaintext.
    Plain,
    /// TLS only.
    Tls,
    /// TLS only, with a client certificate.
    ClientCert,
}

/// The newest `/usr/lib/postgresql/<version>/bin` directory.
fn postgres_bin_dir() -> std::path::PathBuf {
    let mut dirs: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server binaries under /usr/lib/postgresql: apt-get install postgresql"
        )
    })
}

impl PostgresServer {
    /// Initializes and starts a server listening on `host` (and its own socket directory),
    /// accepting every user without a password from the loopback and from `trusted` (a CIDR,
    /// e.g. `10.213.0.0/24`); waits until it answers. Must run as root (the server runs as
    /// the `postgres` user), on the thread that drops it (the server dies with that thread).
    pub fn start(host: std::net::Ipv4Addr, trusted: &str) -> Self {
        Self::start_with(host, trusted, Transport::Plain)
    }

    /// Like [`PostgresServer::start`], with TLS: a CA and a server certificate for `host`
    /// (made with the `openssl` command), and every TCP connection without TLS refused. The
    /// CA's certificate is [`PostgresServer::ca_file`].
    pub fn start_tls(host: std::net::Ipv4Addr, trusted: &str) -> Self {
        Self::start_with(host, trusted, Transport::Tls)
    }

    /// Like [`PostgresServer::start_tls`], and every TCP connection must present a client
    /// certificate signed by the CA whose common name is the user (`cert` authentication).
    /// One for `postgres` is [`PostgresServer::client_cert_file`] and
    /// [`PostgresServer::client_key_file`] (mode 0600).
    pub fn start_tls_client_cert(host: std::net::Ipv4Addr) -> Self {
        Self::start_with(host, "127.0.0.1/32", Transport::ClientCert)
    }

    fn start_with(host: std::net::Ipv4Addr, trusted: &str, transport: Transport) -> Self {
        let tls = transport != Transport::Plain;
        use std::os::unix::process::CommandExt;
        let user = nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .expect("no postgres user: apt-get install postgresql");
        let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
        let bin = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("cvt-pg")
            .tempdir()
            .expect("tempdir");
        nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid))
            .expect("give the temp dir to the postgres user (run as root)");
        let data = dir.path().join("data");
        let output = std::process::Command::new(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .current_dir(dir.path())
            .uid(uid)
            .gid(gid)
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        rules.push_str(&format!("host all all {trusted} trust\n"));
        if transport == Transport::ClientCert {
            // Before initdb's trust lines: TCP with TLS needs a certificate.
            rules = format!("hostssl all all all cert\n{rules}");
        }
        if tls {
            // First match wins: TCP without TLS is refused before any trust line.
            rules = format!("hostnossl all all all reject\n{rules}");
            make_certificates(dir.path(), &data, host, user.uid, user.gid);
        }
        std::fs::write(&hba, rules).expect("write pg_hba.conf");
        let port = std::net::TcpListener::bind((host, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port on {host}: {e}"));
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        let mut command = std::process::Command::new(bin.join("postgres"));
        crate::die_with_spawning_thread(&mut command);
        let child = command
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-p", &port.to_string()])
            .args(["-c", &format!("listen_addresses={host}")])
            .args(if tls {
                &[
                    "-c",
                    "ssl=on",
                    "-c",
                    "ssl_cert_file=server.crt",
                    "-c",
                    "ssl_key_file=server.key",
                    // The CA that client certificates must chain to.
                    "-c",
                    "ssl_ca_file=../ca.crt",
                ][..]
            } else {
                &[][..]
            })
            .current_dir(dir.path())
            .uid(uid)
            .gid(gid)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start postgres");
        let server = Self {
            child,
            dir,
            host,
            port,
        };
        server.wait_ready();
        server
    }

    /// Connection string of the server's own socket (no TLS needed there).
    fn admin_conninfo(&self) -> String {
        format!(
            "host={} port={} user=postgres",
            self.dir.path().display(),
            self.port
        )
    }

    /// The CA certificate a [`PostgresServer::start_tls`] server's certificate chains to.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A client certificate for the user `postgres`, signed by the CA.
    pub fn client_cert_file(&self) -> std::path::PathBuf {
        self.dir.path().join("client.crt")
    }

    /// The private key of [`PostgresServer::client_cert_file`] (mode 0600, owned by the
    /// test's user).
    pub fn client_key_file(&self) -> std::path::PathBuf {
        self.dir.path().join("client.key")
    }

    /// Runs a query returning one number (on the `postgres` database, over the socket).
    pub fn query_i64(&self, sql: &str) -> i64 {
        on_server(
            self.admin_conninfo(),
            "postgres".into(),
            sql.to_string(),
            true,
        )
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_default()
    }

    fn wait_ready(&self) {
        let started = std::time::Instant::now();
        loop {
            let conninfo = self.admin_conninfo();
            match run_with(conninfo, "postgres".into(), "SELECT 1".into()) {
                Ok(()) => return,
                Err(e) if started.elapsed() > std::time::Duration::from_secs(30) => panic!(
                    "the throwaway PostgreSQL server did not answer on {}:{} within 30 s: {e}\n\
                     --- its log ---\n{}",
                    self.host,
                    self.port,
                    self.log()
                ),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Creates database `name`; returns its `postgres://` URL.
    pub fn create_database(&self, name: &str) -> String {
        let conninfo = self.admin_conninfo();
        run_with(
            conninfo,
            "postgres".into(),
            format!("CREATE DATABASE {name}"),
        )
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        format!("postgres://postgres@{}:{}/{name}", self.host, self.port)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        // SIGINT: fast shutdown (disconnects clients, no wait for them).
        let _ = kill(pid, Signal::SIGINT);
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA (`<dir>/ca.crt`) and a server certificate for `host` signed by it
/// (`<data>/server.crt`, `<data>/server.key` owned by the server's user), made with `openssl`.
fn make_certificates(
    dir: &std::path::Path,
    data: &std::path::Path,
    host: std::net::Ipv4Addr,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
) {
    let openssl = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl (Debian's openssl package; scripts/test installs it)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    // A key pair and a certificate signed by the CA, for `name` (its common name `subject`,
    // its X.509 extensions `extensions`).
    let issue = |name: &str, subject: &str, extensions: &str| {
        std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("extensions file");
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        openssl(&[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=convotic test CA",
    ]);
    issue(
        "server",
        &format!("/CN={host}"),
        &format!(
            "subjectAltName=IP:{host}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        ),
    );
    // A client certificate for `postgres` (cert authentication maps its common name).
    issue(
        "client",
        "/CN=postgres",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    for name in ["server.crt", "server.key"] {
        let target = data.join(name);
        std::fs::rename(dir.join(name), &target).expect("move the certificate");
        nix::unistd::chown(&target, Some(uid), Some(gid)).expect("chown");
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        data.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod server.key");
    std::fs::set_permissions(
        dir.join("client.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod client.key");
}
