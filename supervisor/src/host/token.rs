//! The per-instance token check applied to every Host call.

use convotic_proto::TOKEN_METADATA_KEY;
use tonic::{Request, Status};

/// Interceptor rejecting calls without the instance's token (compared in constant time).
#[derive(Clone)]
pub struct TokenCheck {
    token: std::sync::Arc<[u8]>,
}

impl TokenCheck {
    /// Checks against `token`.
    pub fn new(token: String) -> Self {
        Self {
            token: token.into_bytes().into(),
        }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let presented = request
            .metadata()
            .get(TOKEN_METADATA_KEY)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(presented, &self.token) {
            Ok(request)
        } else {
            Err(Status::unauthenticated(format!(
                "missing or wrong {TOKEN_METADATA_KEY} metadata: send the value of CONVOTIC_PLUGIN_TOKEN on every Host call"
            )))
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor;

    #[test]
    fn token_is_required() {
        let mut check = TokenCheck::new("secret".into());
        assert!(check.call(Request::new(())).is_err());
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert(TOKEN_METADATA_KEY, "secreT".parse().unwrap());
        assert!(check.call(request).is_err());
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert(TOKEN_METADATA_KEY, "secret".parse().unwrap());
        assert!(check.call(request).is_ok());
    }
}
