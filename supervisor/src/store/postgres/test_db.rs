//! A fresh PostgreSQL database per test, dropped when the test ends.
//!
//! The server is the one of `CONVOTIC_TEST_POSTGRES` (a `key=value` connection string without
//! `dbname`), by default the local server over TCP: `host=127.0.0.1 port=5432 user=postgres`.

/// The connection string of the test server, without a database.
pub(crate) fn server() -> String {
    std::env::var("CONVOTIC_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres".into())
}

/// A database created for one test; dropped (with its connections) when this is dropped.
#[derive(Debug)]
pub(crate) struct TestDb {
    name: String,
}

impl TestDb {
    /// Creates `convotic_test_<random>`. Runs on its own thread and runtime, so it may be called
    /// from synchronous code inside a test's runtime.
    pub(crate) fn create() -> TestDb {
        let name = format!(
            "convotic_test_{}",
            crate::store::util::random_lower_alnum(16)
        );
        let sql = format!("CREATE DATABASE {name}");
        on_own_runtime(move || async move { admin(&sql).await })
            .unwrap_or_else(|e| panic!("cannot create a test database on {}: {e}", server()));
        TestDb { name }
    }

    /// The connection string of this database.
    pub(crate) fn url(&self) -> String {
        format!("{} dbname={}", server(), self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = on_own_runtime(move || async move { admin(&sql).await }) {
            eprintln!("cannot drop test database {}: {e}", self.name);
        }
    }
}

/// Runs one statement on the server's `postgres` database.
async fn admin(sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(
        &format!("{} dbname=postgres connect_timeout=5", server()),
        tokio_postgres::NoTls,
    )
    .await
    .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await.map_err(|e| e.to_string());
    drop(client);
    let _ = driver.await;
    result
}

/// Runs the future `make` builds to completion on a new thread with its own runtime.
pub(crate) fn on_own_runtime<T, F, Fut>(make: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("test runtime")
            .block_on(make())
    })
    .join()
    .expect("test database thread panicked")
}
