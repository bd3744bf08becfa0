//! Checking a caller's input against a node's or action's input schema: 422 `invalid_input`
//! naming each invalid field.

use serde_json::Value;

pub use crate::json_schema::{FieldError, Schema};
pub use crate::registry::ModuleSchemas;

/// Checks a caller's input against a schema.
pub trait CheckInput {
    /// `Ok` when `input` is valid, else 422 `invalid_input` naming each invalid field.
    fn check_input(&self, input: &Value) -> Result<(), super::ApiError>;
}

impl CheckInput for Schema {
    /// `Ok` when `input` is valid, else 422 `invalid_input` naming each invalid field.
    fn check_input(&self, input: &Value) -> Result<(), super::ApiError> {
        let problems = self.check(input, &[]);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(super::ApiError::invalid(
                "invalid_input",
                "the input",
                problems,
            ))
        }
    }
}
