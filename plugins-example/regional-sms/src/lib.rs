//! `regional-sms` as a library: the fake regional SMS provider, shared by the
//! `fake-sms-provider` demo binary and the end-to-end tests of the `regional-sms` module.
//!
//! The module itself is the `regional-sms` binary (`src/main.rs`).

pub mod fake_provider;
