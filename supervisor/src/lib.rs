//! The Convotic module supervisor: runs every Custom Module as its own sandboxed process,
//! speaks the versioned plugin protocol to it over a Unix socket, keeps it running, and
//! forwards work to it.
//!
//! * [`names`] and [`json_schema`]: the naming rules and compiled JSON Schemas every layer
//!   shares (the lowest layer).
//! * [`config`]: the TOML configuration.
//! * [`process`]: spawning (through the single-threaded spawn helper), output capture,
//!   runtime directories, process trees.
//! * [`protocol`]: connect, handshake, manifest validation, the multiplexed work stream.
//! * [`supervision`]: the per-module lifecycle (states, restarts, backoff, health, stop).
//! * [`registry`]: what ready modules offer (route tables, node and block schemas), from their
//!   manifests.
//! * [`bus`]: workers' message bus (NATS JetStream or the embedded queue) and dispatcher.
//! * [`cron`]: cron schedules in their time zones (fire times across daylight-saving changes).
//! * [`host`]: the Host services modules call (their `ctx`).
//! * [`store`]: the SQLite store (workspaces, API keys, platform data, module storage).
//! * [`metrics`]: Prometheus counters and histograms.
//! * [`outcomes`]: what a failed invocation means at every extension point (HTTP answer,
//!   worker settlement, cron run outcome), in one table.
//! * [`delivery`]: delivery of messages and workflow runs to their targets (Block, signed
//!   webhook, JetStream), with retries and dead letters.
//! * [`signature`]: the webhook signature scheme.
//! * [`gateway`]: the HTTP listener (health, admin API, platform API, console).
//! * [`cli`]: the command line.

pub mod bus;
pub mod cli;
pub mod config;
pub mod cron;
pub mod delivery;
pub mod deploy;
pub mod gateway;
pub mod host;
pub mod integrations;
pub mod json_schema;
pub mod metrics;
pub mod names;
pub mod outcomes;
pub mod package;
pub mod process;
pub mod protocol;
pub mod registry;
pub mod sandbox;
pub mod secrets;
pub mod signature;
pub mod store;
pub mod supervision;
