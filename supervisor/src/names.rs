//! The naming rules shared by every layer: workspace ids, module names, identifiers (node
//! types, block ids, action, worker and cron names) and topics. One place, so the config, the
//! manifest validator, the store and the bus cannot disagree. Also the request ids every entry
//! point hands out.

/// Whether `topic` is a valid topic name (the manifest's rule).
pub fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 128
        && topic.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// Whether `s` is a module name (`[a-z][a-z0-9-]{0,63}`).
pub fn is_module_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `[a-z0-9_.-]{1,64}`: node types, block ids, action and cron names.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

/// Whether `s` is a workspace id (`ws_` + 1-60 of `[a-z0-9_]`).
pub fn is_workspace_id(s: &str) -> bool {
    s.strip_prefix("ws_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 60
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// A new request id: `req_` and 16 hex digits (HTTP requests, NATS node calls).
pub fn new_request_id() -> String {
    format!("req_{:016x}", rand::random::<u64>())
}

/// Most replicas (instances) of one module.
pub const MAX_REPLICAS: u32 = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_workspace_id("ws_abc123"));
        assert!(!is_workspace_id("ws_"));
        assert!(!is_workspace_id("WS_a"));
        assert!(is_module_name("erp-webhook"));
        assert!(!is_module_name("1abc"));
        assert!(is_identifier("loyalty_lookup.v2-x"));
        assert!(!is_identifier("Loyalty"));
        assert!(is_topic("orders.created"));
        assert!(!is_topic("orders.>"));
        assert!(!is_topic("orders..x"));
    }
}
