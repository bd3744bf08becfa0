//! HMAC signatures of webhook calls: [`SignatureVerifier`], a route [`Middleware`] that lets
//! through only requests signed with a shared secret, and [`sign`], which produces the header a
//! sender attaches.
//!
//! The scheme is Novu's: the header (by default `x-convotic-signature`) carries
//! `t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. The timestamp is signed with
//! the body, so a captured request cannot be replayed once it leaves the replay window, and a
//! timestamp cannot be moved without breaking the signature. Several `v1=` entries may be sent
//! and several secrets configured, so a secret can be rotated without downtime: the sender
//! signs with both the old and the new secret (or the receiver accepts both) for a while.
//!
//! ```
//! use std::time::Duration;
//!
//! use convotic_plugin_sdk::prelude::*;
//! use convotic_plugin_sdk::signature::sign;
//!
//! let route = Route::post("/webhook/external")
//!     .auth(false)
//!     .middleware(
//!         SignatureVerifier::new("current-secret")
//!             .secret("previous-secret")
//!             .replay_window(Duration::from_secs(300)),
//!     )
//!     .handler(|req: RouteRequest, _ctx: Context| async move {
//!         Ok(RouteResponse::json(200, serde_json::json!({"ok": true})))
//!     });
//!
//! // What a sender puts in the header for a body sent at `t_ms`:
//! let value = sign("current-secret", 1_700_000_000_000, br#"{"event":"order.paid"}"#);
//! assert!(value.starts_with("t=1700000000000,v1="));
//! ```

mod header;
#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Middleware, Next};
use crate::context::Context;
use crate::error::HandlerError;
use crate::types::{RouteRequest, RouteResponse};
use header::TAG_BYTES;

/// Default name of the signature header.
pub const DEFAULT_HEADER: &str = "x-convotic-signature";

/// Default replay window: a signature older than this is refused.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Default clock-skew tolerance: a signature dated further in the future is refused.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Name of the middleware in the manifest.
pub const MIDDLEWARE_NAME: &str = "hmac-signature";

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
fn tag(secret: &[u8], timestamp: &str, body: &[u8]) -> [u8; TAG_BYTES] {
    // HMAC accepts keys of any length (long keys are hashed first): this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut out = [0u8; TAG_BYTES];
    out.copy_from_slice(mac.finalize().into_bytes().as_slice());
    out
}

/// The signature header value for `body` sent at `t_ms` (ms since the Unix epoch):
/// `t=<t_ms>,v1=<hex HMAC-SHA256(secret, "<t_ms>.<body>")>`.
///
/// `body` must be the exact bytes sent: a verifier checks the raw body, not a re-serialized
/// JSON value.
pub fn sign(secret: impl AsRef<[u8]>, t_ms: u64, body: &[u8]) -> String {
    let timestamp = t_ms.to_string();
    let tag = tag(secret.as_ref(), &timestamp, body);
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// The current time in ms since the Unix epoch (0 if the clock is before 1970).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A duration in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a request's signature was refused. The `Display` text starts with the check that
/// failed (`missing header`, `malformed`, `expired`, `future-dated`, `mismatch`) and is what
/// the middleware puts in its 401 answer; it never contains a secret or an expected tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The request has no signature header.
    #[error("missing header {header}")]
    MissingHeader {
        /// The header looked for.
        header: String,
    },
    /// The header is not `t=<unix ms>,v1=<64 hex digits>`.
    #[error("malformed header: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The signature is authentic but older than the replay window.
    #[error("expired: signed {age_ms} ms ago, the replay window is {window_ms} ms")]
    Expired {
        /// How old the timestamp is.
        age_ms: u64,
        /// The replay window.
        window_ms: u64,
    },
    /// The signature is authentic but dated further in the future than the clock skew allows.
    #[error(
        "future-dated: signed {ahead_ms} ms ahead of this clock, the tolerance is {skew_ms} ms"
    )]
    FutureDated {
        /// How far ahead the timestamp is.
        ahead_ms: u64,
        /// The clock-skew tolerance.
        skew_ms: u64,
    },
    /// No `v1` signature matches the body under any configured secret.
    #[error("mismatch: no v1 signature matches the body")]
    Mismatch,
    /// The verifier has no (non-empty) secret: every request is refused. A configuration
    /// error, answered with HTTP 500.
    #[error("no signing secret is configured")]
    NoSecret,
}

/// Verifies HMAC-signed requests (see the [module documentation](self)); as a route
/// [`Middleware`] it answers 401 `{"error": {"code": "invalid_signature", "message": ...}}`
/// without calling the handler when the signature is missing, malformed, expired,
/// future-dated or wrong.
///
/// Checks, in order: the header is present and well-formed; one of its `v1` tags equals
/// HMAC-SHA256 of `"<t>.<raw body>"` under one of the secrets (compared in constant time);
/// `t` is at most [`replay_window`](Self::replay_window) old (default 5 min) and at most
/// [`clock_skew`](Self::clock_skew) in the future (default 30 s). The time checks come after
/// the signature check, so they are only reported for authentic requests.
///
/// The verifier does not remember requests: a request replayed inside the window is accepted
/// again. Make handlers idempotent (e.g. keyed by an event id in the body) where that matters.
#[derive(Clone)]
pub struct SignatureVerifier {
    header: String,
    secrets: Vec<Vec<u8>>,
    replay_window: Duration,
    clock_skew: Duration,
}

impl SignatureVerifier {
    /// A verifier with one secret and the defaults: header [`DEFAULT_HEADER`], replay window
    /// [`DEFAULT_REPLAY_WINDOW`], clock skew [`DEFAULT_CLOCK_SKEW`].
    ///
    /// An empty secret is ignored (anyone could sign with it); a verifier without any secret
    /// refuses every request with [`SignatureError::NoSecret`].
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        SignatureVerifier::with_secrets([secret])
    }

    /// A verifier accepting signatures made with any of `secrets`.
    pub fn with_secrets<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let verifier = SignatureVerifier {
            header: DEFAULT_HEADER.to_string(),
            secrets: Vec::new(),
            replay_window: DEFAULT_REPLAY_WINDOW,
            clock_skew: DEFAULT_CLOCK_SKEW,
        };
        secrets.into_iter().fold(verifier, |v, s| v.secret(s))
    }

    /// Also accepts signatures made with `secret` (e.g. the previous one, during a rotation).
    #[must_use]
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        if !secret.is_empty() {
            self.secrets.push(secret.to_vec());
        }
        self
    }

    /// The header carrying the signature (case-insensitive; default [`DEFAULT_HEADER`]).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = name.into().to_ascii_lowercase();
        self
    }

    /// How old a signature may be (default 5 min).
    #[must_use]
    pub fn replay_window(mut self, window: Duration) -> Self {
        self.replay_window = window;
        self
    }

    /// How far in the future a signature may be dated, for senders whose clock is ahead
    /// (default 30 s).
    #[must_use]
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The header name, lower-case.
    pub fn header_name(&self) -> &str {
        &self.header
    }

    /// Verifies a request against the current time; `Ok` carries the signed timestamp (ms).
    pub fn verify(&self, req: &RouteRequest) -> Result<u64, SignatureError> {
        self.verify_at(req.header(&self.header), &req.raw_body, now_ms())
    }

    /// Verifies a header value (`None` when the header is absent) and the exact body bytes as
    /// if the time were `now_ms`; `Ok` carries the signed timestamp (ms).
    pub fn verify_at(
        &self,
        header: Option<&str>,
        body: &[u8],
        now_ms: u64,
    ) -> Result<u64, SignatureError> {
        if self.secrets.is_empty() {
            return Err(SignatureError::NoSecret);
        }
        let Some(value) = header else {
            return Err(SignatureError::MissingHeader {
                header: self.header.clone(),
            });
        };
        let parsed = header::parse(value).map_err(|reason| SignatureError::Malformed { reason })?;
        if !self.matches(&parsed, body) {
            return Err(SignatureError::Mismatch);
        }
        let t = parsed.timestamp_ms;
        if t <= now_ms {
            let (age_ms, window_ms) = (now_ms - t, millis(self.replay_window));
            if age_ms > window_ms {
                return Err(SignatureError::Expired { age_ms, window_ms });
            }
        } else {
            let (ahead_ms, skew_ms) = (t - now_ms, millis(self.clock_skew));
            if ahead_ms > skew_ms {
                return Err(SignatureError::FutureDated { ahead_ms, skew_ms });
            }
        }
        Ok(t)
    }

    /// Whether a `v1` tag of the header is the body's tag under one of the secrets. Every
    /// comparison is constant-time.
    fn matches(&self, parsed: &header::SignatureHeader<'_>, body: &[u8]) -> bool {
        self.secrets.iter().any(|secret| {
            let expected = tag(secret, parsed.timestamp_text, body);
            parsed
                .signatures
                .iter()
                .any(|given| bool::from(expected.ct_eq(given)))
        })
    }

    /// The answer to a refused request.
    fn refusal(err: &SignatureError) -> RouteResponse {
        let (status, code) = match err {
            SignatureError::NoSecret => (500, "signature_not_configured"),
            _ => (401, "invalid_signature"),
        };
        RouteResponse::json(
            status,
            json!({ "error": { "code": code, "message": err.to_string() } }),
        )
    }
}

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureVerifier")
            .field("header", &self.header)
            .field(
                "secrets",
                &format_args!("<{} redacted>", self.secrets.len()),
            )
            .field("replay_window", &self.replay_window)
            .field("clock_skew", &self.clock_skew)
            .finish()
    }
}

impl Middleware for SignatureVerifier {
    fn name(&self) -> &str {
        MIDDLEWARE_NAME
    }

    fn call<'a>(
        &'a self,
        req: RouteRequest,
        ctx: Context,
        next: Next,
    ) -> BoxFuture<'a, Result<RouteResponse, HandlerError>> {
        match self.verify(&req) {
            Ok(_) => next.run(req, ctx),
            Err(err) => {
                let response = SignatureVerifier::refusal(&err);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
