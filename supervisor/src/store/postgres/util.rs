//! Helpers of the PostgreSQL store: numbers, JSON columns, prefixes, pages and workspace checks.

use serde_json::Value;

use super::PgError;
use crate::store::StoreError;

/// A `BIGINT` column of milliseconds or a counter, never negative.
pub(crate) fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A count or timestamp for a `BIGINT` column.
pub(crate) fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Parses a JSON column; a row that does not hold JSON is an internal error naming the column.
pub(crate) fn parse_json(column: &str, text: &str) -> Result<Value, PgError> {
    serde_json::from_str(text).map_err(|e| {
        PgError::Store(StoreError::Internal(format!(
            "column {column} holds invalid JSON: {e}"
        )))
    })
}

/// The smallest string greater than every string starting with `prefix` (`None` when there is
/// none: the empty prefix, or one made only of `char::MAX`). With the `"C"` collation,
/// `key >= prefix AND key < upper` is exactly "starts with `prefix`", served by the index.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Fails with `NotFound` unless workspace `ws` exists.
pub(crate) async fn require_workspace(
    client: &impl tokio_postgres::GenericClient,
    ws: &str,
) -> Result<(), PgError> {
    let exists = client
        .query_opt("SELECT 1 FROM workspaces WHERE id = $1", &[&ws])
        .await?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("workspace {ws} not found")).into())
    }
}

/// `SELECT <columns> FROM <table>` of one page of workspace `ws`, after id `after`, with an
/// equality condition for every non-empty filter value; returns the SQL and its parameters.
/// The query fetches `limit + 1` rows (see `into_page`).
pub(crate) fn page_query(
    columns: &str,
    table: &str,
    ws: &str,
    after: &str,
    filters: &[(&str, &str)],
    limit: usize,
) -> (String, Vec<Param>) {
    let mut sql = format!("SELECT {columns} FROM {table} WHERE workspace_id = $1 AND id > $2");
    let mut params = vec![Param::Text(ws.into()), Param::Text(after.into())];
    for (column, value) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        params.push(Param::Text(value.to_string()));
        sql.push_str(&format!(" AND {column} = ${}", params.len()));
    }
    params.push(Param::Int((limit + 1) as i64));
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", params.len()));
    (sql, params)
}

/// A parameter of a query built at run time.
#[derive(Debug)]
pub(crate) enum Param {
    /// `TEXT`.
    Text(String),
    /// `BIGINT`.
    Int(i64),
}

impl Param {
    /// As a parameter of `query`.
    pub(crate) fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            Param::Text(s) => s,
            Param::Int(i) => i,
        }
    }
}

/// The parameters of a query built at run time, as `query` takes them.
pub(crate) fn params(params: &[Param]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(Param::as_sql).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        let max = char::MAX.to_string();
        assert_eq!(prefix_upper_bound(&format!("a{max}")).as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound(&max), None);
    }
}
