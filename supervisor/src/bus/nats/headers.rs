//! Subjects, header names and the conversions between the bus's string maps and NATS headers.
//!
//! Subjects: a message of topic `T` in workspace `W` is stored on `convotic.W.topics.T`; a dead
//! letter of handler `H` of module `M` on `convotic.W.dead.M.H` (with `M` and `H` reduced to
//! single subject tokens; the exact names travel in headers).
//!
//! Headers whose names start with `Nats-` or `Convotic-` (any case) belong to the bus: publishers
//! may not set them and deliveries never show them.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::{HeaderMap, HeaderName, HeaderValue};

use crate::bus::BusError;

/// NATS deduplication id header.
pub(crate) const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// When the message was published, ms since the Unix epoch.
pub(crate) const PUBLISHED_AT: &str = "Convotic-Published-At";
/// On a re-driven message: the durable name of the only consumer that handles it.
pub(crate) const ONLY_HANDLER: &str = "Convotic-Only-Handler";
/// On a re-driven message: the message id it had when it was dead-lettered.
pub(crate) const REDRIVE_OF: &str = "Convotic-Redrive-Of";
/// Dead letter: why it was dead-lettered.
pub(crate) const REASON: &str = "Convotic-Reason";
/// Dead letter: the topic.
pub(crate) const TOPIC: &str = "Convotic-Topic";
/// Dead letter: the module.
pub(crate) const MODULE: &str = "Convotic-Module";
/// Dead letter: the handler.
pub(crate) const HANDLER: &str = "Convotic-Handler";
/// Dead letter: the original message id.
pub(crate) const MESSAGE_ID: &str = "Convotic-Message-Id";
/// Dead letter: deliveries made.
pub(crate) const ATTEMPTS: &str = "Convotic-Attempts";
/// Dead letter: when it was dead-lettered, ms since the Unix epoch.
pub(crate) const FAILED_AT: &str = "Convotic-Failed-At";

/// Longest dead-letter reason kept (bytes); longer reasons are cut at a character boundary.
const MAX_REASON_BYTES: usize = 4096;

/// Subject of `topic` in `workspace`.
pub(crate) fn topic_subject(workspace: &str, topic: &str) -> String {
    format!("convotic.{workspace}.topics.{topic}")
}

/// The subject prefix of every topic of `workspace`.
pub(crate) fn topic_prefix(workspace: &str) -> String {
    format!("convotic.{workspace}.topics.")
}

/// Subject of a dead letter of `module`'s `handler` in `workspace`.
pub(crate) fn dead_subject(workspace: &str, module: &str, handler: &str) -> String {
    format!(
        "convotic.{workspace}.dead.{}.{}",
        token(module),
        token(handler)
    )
}

/// The subject filter of every dead letter of `workspace`.
pub(crate) fn dead_filter(workspace: &str) -> String {
    format!("convotic.{workspace}.dead.>")
}

/// `s` as one subject token: characters outside `[A-Za-z0-9_-]` become `_`; empty becomes `_`.
fn token(s: &str) -> String {
    if s.is_empty() {
        return "_".into();
    }
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Checks that `workspace` can be one subject token (`[A-Za-z0-9_-]`, 1-128 characters).
pub(crate) fn check_workspace(workspace: &str) -> Result<(), BusError> {
    let ok = !workspace.is_empty()
        && workspace.len() <= 128
        && workspace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(BusError::InvalidArgument(format!(
            "workspace: {workspace:?} is not a workspace id"
        )))
    }
}

/// Checks that `topic` is a valid topic name.
pub(crate) fn check_topic(topic: &str) -> Result<(), BusError> {
    if crate::names::is_topic(topic) {
        Ok(())
    } else {
        Err(BusError::InvalidArgument(format!(
            "topic: {topic:?} is not a topic: use segments of [A-Za-z0-9_-] separated by '.'"
        )))
    }
}

/// Whether `name` is one of the bus's own headers.
pub(crate) fn is_internal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("nats-") || lower.starts_with("convotic-")
}

/// Converts a publisher's headers, rejecting invalid and reserved names and invalid values.
pub(crate) fn to_nats(headers: &BTreeMap<String, String>) -> Result<HeaderMap, BusError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let (name, value) = convert(name, value)?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Converts stored headers back, skipping any that [`to_nats`] would refuse.
pub(crate) fn to_nats_lossy(headers: &BTreeMap<String, String>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let Ok((name, value)) = convert(name, value) {
            map.insert(name, value);
        }
    }
    map
}

fn convert(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), BusError> {
    if is_internal(name) {
        return Err(BusError::InvalidArgument(format!(
            "headers: {name:?} is reserved (Nats-* and Convotic-* headers belong to the bus)"
        )));
    }
    let header_name = HeaderName::from_str(name)
        .ok()
        .filter(|_| !name.is_empty() && !name.contains(char::is_whitespace))
        .ok_or_else(|| {
            BusError::InvalidArgument(format!("headers: {name:?} is not a valid header name"))
        })?;
    let header_value = HeaderValue::from_str(value)
        .ok()
        .filter(|_| !value.contains('\0'))
        .ok_or_else(|| {
            BusError::InvalidArgument(format!(
                "headers: the value of {name:?} contains CR, LF or NUL"
            ))
        })?;
    Ok((header_name, header_value))
}

/// Adds one of the bus's own headers; `value` is made header-safe (CR, LF and NUL become spaces).
pub(crate) fn set(map: &mut HeaderMap, name: &'static str, value: &str) {
    let clean: String = value
        .chars()
        .map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        })
        .collect();
    // Cannot fail: CR and LF (the only characters a value may not hold) were just replaced.
    if let Ok(value) = HeaderValue::from_str(&clean) {
        map.insert(HeaderName::from_static(name), value);
    }
}

/// The publisher's headers of a stored message: every header but the bus's own, last value wins.
pub(crate) fn from_nats(headers: Option<&HeaderMap>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(headers) = headers {
        for (name, values) in headers.iter() {
            let name: &str = name.as_ref();
            if is_internal(name) {
                continue;
            }
            if let Some(value) = values.last() {
                out.insert(name.to_string(), value.as_str().to_string());
            }
        }
    }
    out
}

/// The value of header `name`, if present.
pub(crate) fn get<'a>(headers: Option<&'a HeaderMap>, name: &str) -> Option<&'a str> {
    headers
        .and_then(|h| h.get_last(name))
        .map(HeaderValue::as_str)
}

/// Header `name` parsed as an integer, if present and valid.
pub(crate) fn get_u64(headers: Option<&HeaderMap>, name: &str) -> Option<u64> {
    get(headers, name).and_then(|v| v.trim().parse().ok())
}

/// `reason` cut to [`MAX_REASON_BYTES`].
pub(crate) fn clip_reason(reason: &str) -> &str {
    if reason.len() <= MAX_REASON_BYTES {
        return reason;
    }
    let mut end = MAX_REASON_BYTES;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Now, ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A new message id: `msg_` and 32 random hex digits.
pub(crate) fn new_message_id() -> String {
    format!("msg_{}", hex::encode(rand::random::<[u8; 16]>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_tokens() {
        assert_eq!(
            topic_subject("ws_a", "orders.created"),
            "convotic.ws_a.topics.orders.created"
        );
        assert_eq!(
            dead_subject("ws_a", "orders", "orders.created"),
            "convotic.ws_a.dead.orders.orders_created"
        );
        assert!(check_workspace("ws_a").is_ok());
        assert!(check_workspace("ws.a").is_err());
        assert!(check_workspace("").is_err());
    }

    #[test]
    fn headers_round_trip_and_reserved_names() {
        let mut headers = BTreeMap::new();
        headers.insert("X-Trace".to_string(), "abc".to_string());
        let map = to_nats(&headers).expect("valid headers");
        assert_eq!(from_nats(Some(&map)), headers);

        for bad in ["Nats-Msg-Id", "convotic-reason", "a:b", "", "a b"] {
            let mut headers = BTreeMap::new();
            headers.insert(bad.to_string(), "v".to_string());
            assert!(to_nats(&headers).is_err(), "{bad:?} accepted");
        }
        let mut headers = BTreeMap::new();
        headers.insert("X-A".to_string(), "line\nbreak".to_string());
        assert!(to_nats(&headers).is_err());
    }

    #[test]
    fn internal_values_are_made_safe() {
        let mut map = HeaderMap::new();
        set(&mut map, REASON, "boom\r\nat line 3");
        assert_eq!(get(Some(&map), REASON), Some("boom  at line 3"));
        let long = "é".repeat(MAX_REASON_BYTES);
        assert!(clip_reason(&long).len() <= MAX_REASON_BYTES);
    }
}
