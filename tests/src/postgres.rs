//! A PostgreSQL database of its own for one test, created on the local server and dropped
//! (with its connections) when the guard is dropped, so no test depends on or leaves behind
//! state. The server is `$CONVOTIC_TEST_POSTGRES` (a `key=value` connection string without
//! `dbname`), by default `host=127.0.0.1 port=5432 user=postgres` (trust auth).

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
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(async move {
                let (client, connection) = tokio_postgres::connect(
                    &format!("{} dbname={dbname} connect_timeout=5", server()),
                    tokio_postgres::NoTls,
                )
                .await
                .map_err(|e| e.to_string())?;
                let driver = tokio::spawn(connection);
                let result = client.batch_execute(&sql).await.map_err(|e| e.to_string());
                drop(client);
                let _ = driver.await;
                result
            })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_string())?
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
