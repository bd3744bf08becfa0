//! JSON Schema documents compiled once, and validation errors as field paths a caller can act
//! on (`/email: "x" is not a "email"`). The lowest layer: the manifest validator, the registry
//! of what modules declare and the integrations all use it.
//!
//! Formats (`email`, `uri`, `date-time`...) are checked, not just annotated: a builder form that
//! says "email" expects the supervisor to refuse anything else. Remote `$ref`s are not fetched
//! (the manifest validator refuses schemas that need them).

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer of the offending value (`""` is the whole document, `/to` a property).
    pub path: String,
    /// What is wrong, without the value when the value is secret.
    pub message: String,
}

/// A compiled schema; an empty schema accepts any value.
#[derive(Clone)]
pub struct Schema {
    validator: Option<Arc<jsonschema::Validator>>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("constrained", &self.validator.is_some())
            .finish()
    }
}

/// Most field errors reported for one document.
const MAX_FIELD_ERRORS: usize = 50;

impl Schema {
    /// Compiles `text` (JSON Schema as JSON text; empty or blank = any value).
    pub fn compile(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self { validator: None });
        }
        let document: Value =
            serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
        if !matches!(document, Value::Object(_) | Value::Bool(_)) {
            return Err("must be a JSON Schema object (or true/false)".into());
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&document)
            .map_err(|e| format!("is not a usable JSON Schema: {e}"))?;
        Ok(Self {
            validator: Some(Arc::new(validator)),
        })
    }

    /// The errors of `value` (empty when it is valid). Values under the top-level properties
    /// named in `secret_fields`, and the whole document when the error is about it, are never
    /// quoted in messages.
    pub fn check(&self, value: &Value, secret_fields: &[String]) -> Vec<FieldError> {
        let Some(validator) = &self.validator else {
            return Vec::new();
        };
        validator
            .iter_errors(value)
            .take(MAX_FIELD_ERRORS)
            .map(|error| {
                let path = error.instance_path().as_str().to_string();
                let message = if touches_secret(&path, secret_fields) {
                    error.masked_with("the secret value").to_string()
                } else {
                    error.to_string()
                };
                FieldError { path, message }
            })
            .collect()
    }
}

/// Whether an error at `path` could quote a secret: the path is the document itself (its
/// message may print the whole object) or lies under a secret property.
fn touches_secret(path: &str, secret_fields: &[String]) -> bool {
    if secret_fields.is_empty() {
        return false;
    }
    if path.is_empty() {
        return true;
    }
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .replace("~1", "/")
        .replace("~0", "~");
    secret_fields.contains(&first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(value: Value) -> Schema {
        Schema::compile(&value.to_string()).unwrap()
    }

    #[test]
    fn empty_schema_accepts_anything() {
        let any = Schema::compile("").unwrap();
        assert!(any.check(&json!({"x": 1}), &[]).is_empty());
        assert!(any.check(&Value::Null, &[]).is_empty());
    }

    #[test]
    fn errors_name_each_field_and_formats_are_checked() {
        let s = schema(json!({
            "type": "object",
            "required": ["email", "count"],
            "properties": {
                "email": {"type": "string", "format": "email"},
                "count": {"type": "integer", "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string"}}
            }
        }));
        let errors = s.check(
            &json!({"email": "not-an-email", "count": 0, "tags": ["a", 3]}),
            &[],
        );
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"/email"), "{errors:?}");
        assert!(paths.contains(&"/count"), "{errors:?}");
        assert!(paths.contains(&"/tags/1"), "{errors:?}");
        let missing = s.check(&json!({}), &[]);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing.iter().all(|e| e.path.is_empty()));
        assert!(missing.iter().any(|e| e.message.contains("email")));
    }

    #[test]
    fn secret_values_are_never_quoted() {
        let s = schema(json!({
            "type": "object",
            "properties": {
                "api_token": {"type": "string", "minLength": 40},
                "region": {"type": "string", "enum": ["eu", "us"]}
            },
            "additionalProperties": false
        }));
        let secret = "sk_live_supersecret".to_string();
        let config = json!({"api_token": secret, "region": "mars", "extra": true});
        let errors = s.check(&config, &["api_token".to_string()]);
        assert_eq!(errors.len(), 3, "{errors:?}");
        for error in &errors {
            assert!(!error.message.contains(&secret), "{error:?}");
        }
        assert!(errors
            .iter()
            .any(|e| e.path == "/region" && e.message.contains("mars")));
        let whole = schema(json!({"type": "array"}));
        let errors = whole.check(&config, &["api_token".to_string()]);
        assert!(!errors[0].message.contains(&secret), "{errors:?}");
    }

    #[test]
    fn bad_schemas_are_refused_with_the_reason() {
        assert!(Schema::compile("{").unwrap_err().contains("not valid JSON"));
        assert!(Schema::compile("[1]")
            .unwrap_err()
            .contains("JSON Schema object"));
        assert!(Schema::compile(r#"{"type": 12}"#)
            .unwrap_err()
            .contains("usable JSON Schema"));
    }
}
