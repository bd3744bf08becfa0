//! Unit tests of [`SignatureVerifier`] and [`sign`]: each check, its boundaries in both time
//! directions, secret rotation, and the middleware's answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::handler::boxed;
use crate::types::ResponseBody;

const NOW: u64 = 1_700_000_000_000;
const BODY: &[u8] = br#"{"event":"order.paid","id":"o_1"}"#;

fn verifier() -> SignatureVerifier {
    SignatureVerifier::new("s3cret")
}

fn check(v: &SignatureVerifier, header: &str, body: &[u8]) -> Result<u64, SignatureError> {
    v.verify_at(Some(header), body, NOW)
}

#[test]
fn sign_matches_a_known_vector() {
    // HMAC-SHA256("s3cret", "1700000000000.{...}") computed independently (openssl dgst).
    let value = sign("s3cret", NOW, BODY);
    assert_eq!(
        value,
        "t=1700000000000,v1=bbb462abd7798c6555e43cac26e08edd37993d7da8936f5e10bcd72ebbe98087"
    );
}

#[test]
fn valid_signature_is_accepted() {
    assert_eq!(
        check(&verifier(), &sign("s3cret", NOW, BODY), BODY),
        Ok(NOW)
    );
    // Up to 30 s of clock skew ahead is tolerated, as is a signature 5 min old.
    let ahead = sign("s3cret", NOW + 30_000, BODY);
    assert_eq!(check(&verifier(), &ahead, BODY), Ok(NOW + 30_000));
    let old = sign("s3cret", NOW - 300_000, BODY);
    assert_eq!(check(&verifier(), &old, BODY), Ok(NOW - 300_000));
}

#[test]
fn expired_signature_is_refused() {
    let old = sign("s3cret", NOW - 300_001, BODY);
    assert_eq!(
        check(&verifier(), &old, BODY),
        Err(SignatureError::Expired {
            age_ms: 300_001,
            window_ms: 300_000
        })
    );
    // A timestamp in seconds instead of milliseconds is ~53 years old.
    let seconds = sign("s3cret", NOW / 1000, BODY);
    assert!(matches!(
        check(&verifier(), &seconds, BODY),
        Err(SignatureError::Expired { .. })
    ));
    let epoch = sign("s3cret", 0, BODY);
    assert!(matches!(
        check(&verifier(), &epoch, BODY),
        Err(SignatureError::Expired { .. })
    ));
}

#[test]
fn future_dated_signature_is_refused() {
    let ahead = sign("s3cret", NOW + 30_001, BODY);
    assert_eq!(
        check(&verifier(), &ahead, BODY),
        Err(SignatureError::FutureDated {
            ahead_ms: 30_001,
            skew_ms: 30_000
        })
    );
    // Far in the future: must not pass as "within the window" (no unsigned arithmetic
    // wrap-around, no absolute-value shortcut that applies the 5 min window forward).
    for t in [NOW + 299_000, NOW + 86_400_000, u64::MAX] {
        let value = sign("s3cret", t, BODY);
        assert!(
            matches!(
                check(&verifier(), &value, BODY),
                Err(SignatureError::FutureDated { .. })
            ),
            "t = {t}"
        );
    }
}

#[test]
fn windows_are_configurable() {
    let v = verifier()
        .replay_window(Duration::from_secs(10))
        .clock_skew(Duration::ZERO);
    assert!(check(&v, &sign("s3cret", NOW - 10_000, BODY), BODY).is_ok());
    assert!(check(&v, &sign("s3cret", NOW - 10_001, BODY), BODY).is_err());
    assert!(check(&v, &sign("s3cret", NOW, BODY), BODY).is_ok());
    assert!(matches!(
        check(&v, &sign("s3cret", NOW + 1, BODY), BODY),
        Err(SignatureError::FutureDated { .. })
    ));
}

#[test]
fn tampered_body_is_refused() {
    let value = sign("s3cret", NOW, BODY);
    let tampered = br#"{"event":"order.paid","id":"o_2"}"#;
    assert_eq!(
        check(&verifier(), &value, tampered),
        Err(SignatureError::Mismatch)
    );
    // Re-serialized JSON (same value, other bytes) does not verify either: the raw body counts.
    let reformatted = br#"{"event": "order.paid", "id": "o_1"}"#;
    assert_eq!(
        check(&verifier(), &value, reformatted),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn moved_timestamp_is_refused() {
    // A captured signature with its timestamp moved into the window does not verify.
    let old = sign("s3cret", NOW - 600_000, BODY);
    let sig = old.split_once(",v1=").map(|(_, s)| s.to_string()).unwrap();
    let moved = format!("t={NOW},v1={sig}");
    assert_eq!(
        check(&verifier(), &moved, BODY),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn wrong_secret_is_refused() {
    let value = sign("other", NOW, BODY);
    assert_eq!(
        check(&verifier(), &value, BODY),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn missing_header_is_refused() {
    assert_eq!(
        verifier().verify_at(None, BODY, NOW),
        Err(SignatureError::MissingHeader {
            header: DEFAULT_HEADER.to_string()
        })
    );
}

#[test]
fn malformed_header_is_refused() {
    for value in ["", "garbage", "t=abc,v1=00", "v1=00", "t=1700000000000"] {
        assert!(
            matches!(
                check(&verifier(), value, BODY),
                Err(SignatureError::Malformed { .. })
            ),
            "{value:?}"
        );
    }
}

#[test]
fn rotated_secrets_are_accepted() {
    // The receiver accepts the new and the old secret...
    let v = SignatureVerifier::with_secrets(["new", "old"]);
    assert!(check(&v, &sign("old", NOW, BODY), BODY).is_ok());
    assert!(check(&v, &sign("new", NOW, BODY), BODY).is_ok());
    assert_eq!(
        check(&v, &sign("other", NOW, BODY), BODY),
        Err(SignatureError::Mismatch)
    );
    // ...and a sender may sign with both: one matching v1 entry is enough.
    let by_old = sign("old", NOW, BODY);
    let by_new = sign("new", NOW, BODY);
    let (t, old_sig) = by_old.split_once(",").unwrap();
    let new_sig = by_new.split_once(",").map(|(_, s)| s).unwrap();
    let both = format!("{t},{old_sig},{new_sig}");
    assert!(check(&SignatureVerifier::new("new"), &both, BODY).is_ok());
    assert!(check(&SignatureVerifier::new("old"), &both, BODY).is_ok());
    assert_eq!(
        check(&SignatureVerifier::new("gone"), &both, BODY),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn no_secret_refuses_everything() {
    let v = SignatureVerifier::new("");
    assert_eq!(
        check(&v, &sign("", NOW, BODY), BODY),
        Err(SignatureError::NoSecret)
    );
    assert!(!format!("{:?}", verifier()).contains("s3cret"));
}

#[test]
fn header_name_is_configurable_and_case_insensitive() {
    let v = verifier().header("X-Webhook-Signature");
    assert_eq!(v.header_name(), "x-webhook-signature");
    let mut req = RouteRequest {
        raw_body: BODY.to_vec(),
        headers: HashMap::from([(
            "x-webhook-signature".to_string(),
            sign("s3cret", now_ms(), BODY),
        )]),
        ..RouteRequest::default()
    };
    assert!(v.verify(&req).is_ok());
    assert!(verifier().verify(&req).is_err());
    req.raw_body.push(b' ');
    assert_eq!(v.verify(&req), Err(SignatureError::Mismatch));
}

/// Runs the middleware in front of a counting handler.
async fn through_middleware(headers: &[(&str, String)], body: &[u8]) -> (u16, Value, usize) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = boxed(move |_req: RouteRequest, _ctx: Context| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(RouteResponse::json(200, json!({"ok": true})))
        }
    });
    let chain: Arc<[Arc<dyn Middleware>]> = Arc::from(vec![Arc::new(verifier()) as Arc<_>]);
    let req = RouteRequest {
        raw_body: body.to_vec(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..RouteRequest::default()
    };
    let response = Next::new(chain, handler)
        .run(req, Context::detached("m"))
        .await
        .unwrap();
    let body = match response.body {
        ResponseBody::Json(value) => value,
        other => panic!("expected JSON, got {other:?}"),
    };
    (response.status, body, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn middleware_calls_the_handler_only_when_valid() {
    let good = sign("s3cret", now_ms(), BODY);
    let (status, body, calls) = through_middleware(&[(DEFAULT_HEADER, good)], BODY).await;
    assert_eq!((status, calls), (200, 1));
    assert_eq!(body, json!({"ok": true}));

    let cases = [
        (vec![], "missing header"),
        (vec![(DEFAULT_HEADER, "t=1".to_string())], "malformed"),
        (
            vec![(DEFAULT_HEADER, sign("s3cret", now_ms() - 600_000, BODY))],
            "expired",
        ),
        (
            vec![(DEFAULT_HEADER, sign("s3cret", now_ms() + 600_000, BODY))],
            "future-dated",
        ),
        (
            vec![(DEFAULT_HEADER, sign("wrong", now_ms(), BODY))],
            "mismatch",
        ),
    ];
    for (headers, reason) in cases {
        let (status, body, calls) = through_middleware(&headers, BODY).await;
        assert_eq!((status, calls), (401, 0), "{reason}: {body}");
        assert_eq!(body["error"]["code"], "invalid_signature", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(reason), "{reason}: {message}");
    }
}
