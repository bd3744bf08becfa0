//! Why a deployment operation was refused or failed, with the HTTP status and error code the
//! admin API answers.

use crate::store::{Deployment, StoreError};

/// Why a deploy, rollback or module change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Bad input (archive, manifest, digest, names): 400.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code.
        code: &'static str,
        /// What was wrong, naming the entry or key.
        message: String,
    },
    /// No such module or deployment: 404.
    #[error("{message}")]
    NotFound {
        /// Machine-readable code.
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// Not possible in the current state (busy, defined in the config, already active): 409.
    #[error("{message}")]
    Conflict {
        /// Machine-readable code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// The new version did not take over (recorded `failed`; the old one keeps serving): 422.
    #[error("{message}")]
    Failed {
        /// The failed deployment.
        deployment: Box<Deployment>,
        /// Why.
        message: String,
        /// The candidate's last output lines.
        logs: Vec<String>,
    },
    /// The store or the disk failed: 503.
    #[error("{0}")]
    Unavailable(String),
}

impl DeployError {
    /// The HTTP status and error code.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            DeployError::BadRequest { code, .. } => (400, code),
            DeployError::NotFound { code, .. } => (404, code),
            DeployError::Conflict { code, .. } => (409, code),
            DeployError::Failed { .. } => (422, "deployment_failed"),
            DeployError::Unavailable(_) => (503, "store_unavailable"),
        }
    }

    pub(super) fn bad(code: &'static str, message: impl Into<String>) -> Self {
        DeployError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub(super) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        DeployError::Conflict {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for DeployError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(message) => DeployError::NotFound {
                code: "not_found",
                message,
            },
            // The store's only conflicts here: a deployment of the module under way.
            StoreError::Conflict(message) => DeployError::Conflict {
                code: "operation_in_progress",
                message,
            },
            other => DeployError::Unavailable(other.to_string()),
        }
    }
}
