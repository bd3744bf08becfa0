//! Shared helpers of the store: clock, ids, page tokens, input validation, JSON columns.

use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{Page, StoreError};

/// Default page size (a request's `page_size` 0).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Longest name-like field (names, emails, ids, labels), in bytes.
pub const MAX_NAME: usize = 256;
/// Longest text field (message text), in bytes.
pub const MAX_TEXT: usize = 64 * 1024;
/// Largest attributes or message content (as JSON text), in bytes.
pub const MAX_ATTRIBUTES: usize = 64 * 1024;
/// Largest workflow payload or storage value (as JSON text), in bytes.
pub const MAX_VALUE: usize = 1024 * 1024;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Last id stamp handed out: (milliseconds, random part).
static LAST_ID: Mutex<(u64, u32)> = Mutex::new((0, 0));

/// A new id: `prefix` + 12 hex digits of milliseconds + 8 hex random digits.
///
/// Ids sort in creation order: within one process a second id in the same millisecond takes
/// the previous random part plus one, so paging by id is stable and oldest first.
pub fn new_id(prefix: &str) -> String {
    let now = now_ms();
    let (ms, random) = match LAST_ID.lock() {
        Ok(mut last) => {
            let next = if now > last.0 {
                (now, rand::random::<u32>() >> 1)
            } else if last.1 == u32::MAX {
                (last.0 + 1, 0)
            } else {
                (last.0, last.1 + 1)
            };
            *last = next;
            next
        }
        Err(_) => (now, rand::random::<u32>()),
    };
    format!("{prefix}{ms:012x}{random:08x}")
}

/// `n` random characters of `[a-z0-9]`.
pub fn random_lower_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// The number of rows for a `page_size` (0 = 50; above 500 is an error).
pub fn page_size(page_size: u32) -> Result<usize, StoreError> {
    match page_size {
        0 => Ok(DEFAULT_PAGE_SIZE as usize),
        n if n <= MAX_PAGE_SIZE => Ok(n as usize),
        n => Err(StoreError::InvalidArgument(format!(
            "page_size: must be 1-{MAX_PAGE_SIZE} (0 = {DEFAULT_PAGE_SIZE}), got {n}"
        ))),
    }
}

/// The position a page token stands for (`None` for the first page).
pub fn decode_page_token(token: &str) -> Result<Option<String>, StoreError> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|s| !s.is_empty())
        .map(Some)
        .ok_or_else(|| {
            StoreError::InvalidArgument(
                "page_token: not a next_page_token from a previous page".into(),
            )
        })
}

/// The opaque token of the position after `last`.
pub fn encode_page_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

/// Cuts the extra row a query fetched (`limit + 1` rows) into a page and its next token.
pub fn into_page<T>(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> &str) -> Page<T> {
    let next_page_token = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|last| encode_page_token(key(last)))
    } else {
        None
    };
    Page {
        items,
        next_page_token,
    }
}

/// `SELECT <columns> FROM <table>` of one page of workspace `ws`, after id `after`, with an
/// equality condition for every non-empty filter value; returns the SQL and its parameters.
/// The query fetches `limit + 1` rows (see [`into_page`]).
pub fn page_query(
    columns: &str,
    table: &str,
    ws: &str,
    after: &str,
    filters: &[(&str, &str)],
    limit: usize,
) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as Sql;
    let mut sql = format!("SELECT {columns} FROM {table} WHERE workspace_id = ?1 AND id > ?2");
    let mut params = vec![Sql::Text(ws.to_string()), Sql::Text(after.to_string())];
    for (column, value) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        params.push(Sql::Text(value.to_string()));
        sql.push_str(&format!(" AND {column} = ?{}", params.len()));
    }
    params.push(Sql::Integer((limit + 1) as i64));
    sql.push_str(&format!(" ORDER BY id LIMIT ?{}", params.len()));
    (sql, params)
}

/// `text` cut to at most `max` bytes on a character boundary, NUL characters replaced by
/// U+FFFD (for free text that must never make a record fail, such as error messages and
/// labels: PostgreSQL's text cannot hold NUL).
pub fn truncate_utf8(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    if cut.contains('\0') {
        let replaced = cut.replace('\0', "\u{FFFD}");
        // U+FFFD is 3 bytes: cut again to stay within `max`.
        return truncate_utf8(&replaced, max);
    }
    cut.to_string()
}

/// Checks a string field's length, and that it holds no NUL character (PostgreSQL's text
/// cannot store one; both backends refuse it alike).
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::InvalidArgument(format!(
            "{field}: longer than {max} bytes"
        )));
    }
    if value.contains('\0') {
        return Err(StoreError::InvalidArgument(format!(
            "{field}: contains a NUL character (U+0000)"
        )));
    }
    Ok(())
}

/// Checks a required string field: non-empty and at most `max` bytes.
pub fn check_required(field: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::InvalidArgument(format!("{field}: required")));
    }
    check_len(field, value, max)
}

/// Attributes for a new record: a JSON object (`null` = empty object).
pub fn attributes_object(field: &str, value: Value) -> Result<Map<String, Value>, StoreError> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(StoreError::InvalidArgument(format!(
            "{field}: must be a JSON object"
        ))),
    }
}

/// Merges `patch` into `attributes`: keys replace, a `null` value removes the key.
pub fn merge_attributes(
    field: &str,
    attributes: &mut Map<String, Value>,
    patch: Value,
) -> Result<(), StoreError> {
    for (key, value) in attributes_object(field, patch)? {
        if value.is_null() {
            attributes.remove(&key);
        } else {
            attributes.insert(key, value);
        }
    }
    Ok(())
}

/// JSON text of `value`, at most `max` bytes.
pub fn json_text(field: &str, value: &Value, max: usize) -> Result<String, StoreError> {
    let text = serde_json::to_string(value)
        .map_err(|e| StoreError::InvalidArgument(format!("{field}: {e}")))?;
    if text.len() > max {
        return Err(StoreError::InvalidArgument(format!(
            "{field}: larger than {max} bytes of JSON"
        )));
    }
    Ok(text)
}

/// Parses a JSON column.
pub fn parse_json(column: &str, text: &str) -> rusqlite::Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("column {column} holds invalid JSON: {e}").into(),
        )
    })
}

/// An `INTEGER` column of milliseconds or a counter, never negative.
pub fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count or timestamp for an `INTEGER` column.
pub fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Whether `e` is a uniqueness (or primary key) constraint violation.
pub fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Fails with `NotFound` unless workspace `ws` exists.
pub fn require_workspace(conn: &rusqlite::Connection, ws: &str) -> Result<(), StoreError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM workspaces WHERE id = ?1)",
        [ws],
        |row| row.get(0),
    )?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("workspace {ws} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ordered_and_unique() {
        let ids: Vec<String> = (0..1000).map(|_| new_id("ct_")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
        assert_eq!(ids[0].len(), 3 + 12 + 8);
    }

    #[test]
    fn page_tokens_round_trip() {
        assert_eq!(decode_page_token("").unwrap(), None);
        let token = encode_page_token("ct_0001");
        assert_eq!(
            decode_page_token(&token).unwrap().as_deref(),
            Some("ct_0001")
        );
        assert!(matches!(
            decode_page_token("!!"),
            Err(StoreError::InvalidArgument(m)) if m.starts_with("page_token")
        ));
    }

    #[test]
    fn free_text_never_holds_nul() {
        assert_eq!(truncate_utf8("a\0b", 10), "a\u{FFFD}b");
        assert_eq!(truncate_utf8("\0\0", 4), "\u{FFFD}");
        assert!(check_len("name", "a\0", 10).is_err());
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size(0).unwrap(), 50);
        assert_eq!(page_size(500).unwrap(), 500);
        assert!(page_size(501).is_err());
    }

    #[test]
    fn merge_replaces_and_removes() {
        let mut attributes = attributes_object("a", serde_json::json!({"x": 1, "y": 2})).unwrap();
        merge_attributes(
            "a",
            &mut attributes,
            serde_json::json!({"x": 3, "y": null, "z": [1]}),
        )
        .unwrap();
        assert_eq!(
            Value::Object(attributes),
            serde_json::json!({"x": 3, "z": [1]})
        );
    }
}
