//! What every Host service shares: the store and the caller's fixed identity, the mapping of
//! store errors to gRPC statuses, and the JSON-bytes conversions of the protocol.

use std::sync::Arc;

use serde_json::Value;
use tonic::Status;

use super::HostIdentity;
use crate::store::{Store, StoreError};

/// The store seen from one instance: its workspace and module come from the socket.
#[derive(Clone)]
pub struct Scope {
    /// The store.
    pub store: Store,
    /// Who is calling.
    pub identity: Arc<HostIdentity>,
}

impl Scope {
    /// The caller's workspace.
    pub fn workspace(&self) -> &str {
        &self.identity.workspace
    }

    /// The caller's module.
    pub fn module(&self) -> &str {
        &self.identity.module
    }

    /// The gRPC status for a store error. `fields` renames store field names to the request's
    /// (e.g. `attributes` → `attributes_json`) in `INVALID_ARGUMENT` messages.
    pub fn status(&self, error: StoreError, fields: &[(&str, &str)]) -> Status {
        match error {
            StoreError::NotFound(m) => Status::not_found(m),
            StoreError::Conflict(m) => Status::already_exists(m),
            StoreError::InvalidArgument(m) => {
                let renamed = fields.iter().find_map(|(from, to)| {
                    m.strip_prefix(from)
                        .filter(|rest| rest.starts_with(':'))
                        .map(|rest| format!("{to}{rest}"))
                });
                Status::invalid_argument(renamed.unwrap_or(m))
            }
            StoreError::FailedPrecondition(m) => Status::failed_precondition(m),
            StoreError::Internal(m) => {
                tracing::error!(
                    workspace = %self.identity.workspace,
                    module = %self.identity.module,
                    instance = %self.identity.instance,
                    "host call failed: {m}"
                );
                Status::internal(format!("the supervisor's store failed: {m}"))
            }
            StoreError::Storage { fault, message } => {
                Status::unavailable(format!("{}: {message}", fault.code()))
            }
        }
    }
}

/// Parses a `*_json` field: empty is `null`; invalid JSON is `INVALID_ARGUMENT` naming it.
pub fn parse_json(field: &str, bytes: &[u8]) -> Result<Value, Status> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Status::invalid_argument(format!("{field}: not valid UTF-8 JSON: {e}")))
}

/// An optional `*_json` field of an update: empty means "unchanged".
pub fn parse_optional_json(field: &str, bytes: &[u8]) -> Result<Option<Value>, Status> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        parse_json(field, bytes).map(Some)
    }
}

/// JSON bytes of a value (`null` included).
pub fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// JSON bytes of an optional value: `null` is empty.
pub fn optional_json_bytes(value: &Value) -> Vec<u8> {
    if value.is_null() {
        Vec::new()
    } else {
        json_bytes(value)
    }
}

/// The protocol's `next_page_token`: empty on the last page.
pub fn page_token(token: Option<String>) -> String {
    token.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> (crate::store::test_support::TestGuard, Scope) {
        let (dir, store) = crate::store::test_support::temp_store();
        let identity = Arc::new(HostIdentity {
            workspace: "ws_a".into(),
            module: "m".into(),
            instance: "i1".into(),
        });
        (dir, Scope { store, identity })
    }

    #[test]
    fn statuses() {
        let (_dir, scope) = scope();
        let fields = [("attributes", "attributes_json")];
        let cases = [
            (StoreError::NotFound("x".into()), tonic::Code::NotFound),
            (StoreError::Conflict("x".into()), tonic::Code::AlreadyExists),
            (
                StoreError::InvalidArgument("x".into()),
                tonic::Code::InvalidArgument,
            ),
            (
                StoreError::FailedPrecondition("x".into()),
                tonic::Code::FailedPrecondition,
            ),
            (StoreError::Internal("x".into()), tonic::Code::Internal),
            (
                StoreError::Storage {
                    fault: crate::store::StorageFault::Full,
                    message: "x".into(),
                },
                tonic::Code::Unavailable,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(scope.status(error, &fields).code(), code);
        }
        let renamed = scope.status(
            StoreError::InvalidArgument("attributes: must be a JSON object".into()),
            &fields,
        );
        assert_eq!(renamed.message(), "attributes_json: must be a JSON object");
        let kept = scope.status(
            StoreError::InvalidArgument("attributes_x: bad".into()),
            &fields,
        );
        assert_eq!(kept.message(), "attributes_x: bad");
    }

    #[test]
    fn json_fields() {
        assert_eq!(parse_json("f", b"").unwrap(), Value::Null);
        assert_eq!(parse_json("f", b"{\"a\":1}").unwrap()["a"], 1);
        let err = parse_json("payload_json", b"{nope").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().starts_with("payload_json:"));
        assert_eq!(parse_optional_json("f", b"").unwrap(), None);
        assert_eq!(optional_json_bytes(&Value::Null), Vec::<u8>::new());
        assert_eq!(json_bytes(&Value::Null), b"null".to_vec());
    }
}
