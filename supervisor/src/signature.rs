//! The webhook signature scheme the SDKs verify (docs/http.md, "Signed webhooks"), used by the
//! supervisor wherever it signs a request: header [`HEADER`] with
//! `t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

use hmac::{KeyInit, Mac};

/// The header carrying the signature.
pub const HEADER: &str = "x-convotic-signature";

/// The signature header's value for `body` sent at `t_ms` with `secret`.
pub fn sign(secret: &str, t_ms: u64, body: &[u8]) -> String {
    let timestamp = t_ms.to_string();
    // HMAC takes keys of any length.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_matches_a_known_vector() {
        // HMAC-SHA256("secret", "1700000000000.{}"), computed with Python's hmac module.
        assert_eq!(
            sign("secret", 1_700_000_000_000, b"{}"),
            "t=1700000000000,v1=8399216d111287e3bb28e25c0f4f31dffdf831c68c9ee2b96c2f67c9b81d341b"
        );
        assert_ne!(
            sign("secret", 1_700_000_000_000, b"{}"),
            sign("other", 1_700_000_000_000, b"{}")
        );
    }
}
