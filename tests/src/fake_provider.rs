//! A fake regional SMS provider for the end-to-end tests of the `regional-sms` block: a real
//! HTTP server on loopback that the module under test calls, recording what it receives.
//!
//! It is the `regional-sms` crate's own [`regional_sms::fake_provider`], the one the
//! `fake-sms-provider` demo binary serves, so the tests and the demo keep the same contract
//! (see that module for it).
//!
//! ```no_run
//! use convotic_e2e::fake_provider::FakeProvider;
//!
//! let provider = FakeProvider::start("demo-token-123");
//! // create a regional-sms connection with base_url = provider.url(), send a message...
//! assert_eq!(provider.messages()[0]["to"], "+33612345678");
//! assert_eq!(provider.messages()[0]["authorization"], "Bearer demo-token-123");
//! ```

pub use regional_sms::fake_provider::FakeProvider;
