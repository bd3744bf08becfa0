//! The embedded durable queue in the SQLite store (the default backend).
