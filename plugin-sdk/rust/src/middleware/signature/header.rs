//! Parsing of the signature header value `t=<unix ms>,v1=<hex>[,v1=<hex>...]`.
//!
//! Elements are separated by commas and may be surrounded by spaces. `t` must appear exactly
//! once; at least one `v1` is required; several `v1` entries let a sender sign with an old and
//! a new secret during a rotation. Elements with another key (a future `v2` scheme, say) are
//! ignored, so senders can add schemes without breaking verifiers.

/// Length in bytes of an HMAC-SHA256 tag.
pub(crate) const TAG_BYTES: usize = 32;

/// Largest header value accepted, in bytes.
pub(crate) const MAX_HEADER_BYTES: usize = 2048;

/// Most `v1` entries accepted in one header.
pub(crate) const MAX_SIGNATURES: usize = 8;

/// A parsed header: the timestamp as sent (it is part of the signed text) and as a number,
/// and the `v1` signatures.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SignatureHeader<'a> {
    /// The digits of `t=` exactly as sent.
    pub(crate) timestamp_text: &'a str,
    /// The timestamp, ms since the Unix epoch.
    pub(crate) timestamp_ms: u64,
    /// The decoded `v1` tags.
    pub(crate) signatures: Vec<[u8; TAG_BYTES]>,
}

/// Parses a header value; the error says what is wrong with it.
pub(crate) fn parse(value: &str) -> Result<SignatureHeader<'_>, String> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(format!("longer than {MAX_HEADER_BYTES} bytes"));
    }
    let mut timestamp: Option<(&str, u64)> = None;
    let mut signatures = Vec::new();
    for element in value.split(',') {
        let element = element.trim();
        let Some((key, val)) = element.split_once('=') else {
            return Err(format!("element {element:?} is not key=value"));
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err("more than one t= timestamp".to_string());
                }
                timestamp = Some((val.trim(), parse_timestamp(val.trim())?));
            }
            "v1" => {
                if signatures.len() == MAX_SIGNATURES {
                    return Err(format!("more than {MAX_SIGNATURES} v1= signatures"));
                }
                signatures.push(parse_tag(val.trim())?);
            }
            _ => {}
        }
    }
    let Some((timestamp_text, timestamp_ms)) = timestamp else {
        return Err("no t= timestamp".to_string());
    };
    if signatures.is_empty() {
        return Err("no v1= signature".to_string());
    }
    Ok(SignatureHeader {
        timestamp_text,
        timestamp_ms,
        signatures,
    })
}

/// Unix milliseconds: 1 to 20 ASCII digits that fit in a `u64`.
fn parse_timestamp(text: &str) -> Result<u64, String> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("t={text:?} is not a Unix time in milliseconds"));
    }
    text.parse::<u64>()
        .map_err(|_| format!("t={text:?} is out of range"))
}

/// A `v1` tag: exactly 64 hex digits.
fn parse_tag(text: &str) -> Result<[u8; TAG_BYTES], String> {
    let mut tag = [0u8; TAG_BYTES];
    hex::decode_to_slice(text, &mut tag)
        .map_err(|_| format!("v1 is not {} hex digits", TAG_BYTES * 2))?;
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    #[test]
    fn parses_timestamp_and_signatures_in_any_order() {
        let value = format!(" v1={SIG} , t=1700000000123,v0=legacy, v1={SIG}");
        let header = parse(&value).unwrap();
        assert_eq!(header.timestamp_text, "1700000000123");
        assert_eq!(header.timestamp_ms, 1_700_000_000_123);
        assert_eq!(header.signatures.len(), 2);
        assert_eq!(header.signatures[0][0], 0x00);
        assert_eq!(header.signatures[0][31], 0xff);
    }

    #[test]
    fn rejects_malformed_values() {
        let cases = [
            ("", "not key=value"),
            ("t=1", "no v1= signature"),
            (&format!("v1={SIG}") as &str, "no t= timestamp"),
            (&format!("t=1,t=2,v1={SIG}"), "more than one t="),
            (&format!("t=-1,v1={SIG}"), "not a Unix time"),
            (&format!("t=1.5,v1={SIG}"), "not a Unix time"),
            (&format!("t=,v1={SIG}"), "not a Unix time"),
            (&format!("t=99999999999999999999,v1={SIG}"), "out of range"),
            ("t=1,v1=abc", "hex digits"),
            (&format!("t=1,v1={SIG}00"), "hex digits"),
            (&format!("t=1,v1={SIG},"), "not key=value"),
            (&format!("t=1;v1={SIG}"), "not a Unix time"),
        ];
        for (value, expected) in cases {
            let err = parse(value).unwrap_err();
            assert!(err.contains(expected), "{value:?}: {err}");
        }
    }

    #[test]
    fn bounds_the_work_per_header() {
        let many = (0..=MAX_SIGNATURES)
            .map(|_| format!("v1={SIG}"))
            .collect::<Vec<_>>()
            .join(",");
        let err = parse(&format!("t=1,{many}")).unwrap_err();
        assert!(err.contains("more than 8"), "{err}");
        let long = format!("t=1,v1={SIG},x={}", "a".repeat(MAX_HEADER_BYTES));
        assert!(parse(&long).unwrap_err().contains("longer than"));
    }
}
