//! Bounds on module responses held in memory: a per-response size limit
//! (`[server] max_response_bytes`, 502 beyond it) and a byte budget shared by every request
//! (`[server] response_buffer_bytes`, 503 with `Retry-After` beyond it).
//!
//! A module answers a route call with one message, so its body is in memory until the client
//! has read it. A reservation of the body's size is taken from the budget when the answer
//! arrives and travels with the response (see [`Reservation`]); the listener moves it into the
//! response body, which returns it when the body has been handed to the connection in full or
//! the connection is gone. Slow readers therefore cannot make the supervisor hold more than the
//! budget.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use warp::http::StatusCode;
use warp::reply::Response;

use super::error_response;

/// The budget is counted in KiB so that any configured size fits the semaphore's permit type.
const UNIT: u64 = 1024;

/// The shared budget of buffered response bytes.
#[derive(Debug, Clone)]
pub struct ResponseBudget {
    units: Arc<Semaphore>,
    total_bytes: u64,
}

/// A part of the budget held by one response; returned when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Reservation(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

impl ResponseBudget {
    /// A budget of `total_bytes`.
    pub fn new(total_bytes: u64) -> Self {
        let units = total_bytes
            .div_ceil(UNIT)
            .min(Semaphore::MAX_PERMITS as u64) as usize;
        Self {
            units: Arc::new(Semaphore::new(units)),
            total_bytes,
        }
    }

    /// Reserves `bytes`, or `None` when the budget does not have them now.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        let units = u32::try_from(bytes.div_ceil(UNIT)).ok()?;
        Arc::clone(&self.units)
            .try_acquire_many_owned(units)
            .ok()
            .map(|permit| Reservation(Arc::new(permit)))
    }

    /// Bytes not reserved now.
    pub fn available_bytes(&self) -> u64 {
        self.units.available_permits() as u64 * UNIT
    }

    /// Attaches a reservation for the body of `response` (of `body_bytes`), or answers 503 with
    /// `Retry-After` when the budget is spent.
    pub fn hold(&self, mut response: Response, body_bytes: u64, request_id: &str) -> Response {
        match self.try_reserve(body_bytes) {
            Some(reservation) => {
                response.extensions_mut().insert(reservation);
                response
            }
            None => {
                tracing::warn!(
                    request_id,
                    body_bytes,
                    budget_bytes = self.total_bytes,
                    "module response refused: the response buffer is full"
                );
                let mut refused = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "response_buffer_full",
                    &format!(
                        "the server is holding its limit of {} bytes of responses for slow clients \
                         ([server] response_buffer_bytes); this {body_bytes}-byte response was dropped; retry shortly",
                        self.total_bytes
                    ),
                    request_id,
                );
                refused.headers_mut().insert("retry-after", 1.into());
                refused
            }
        }
    }
}

/// 502 `response_too_large` when a module's body is over `limit`.
pub fn check_size(body_bytes: u64, limit: u64, module: &str, request_id: &str) -> Option<Response> {
    (body_bytes > limit).then(|| {
        tracing::warn!(
            request_id,
            module,
            body_bytes,
            limit,
            "module response over the size limit"
        );
        error_response(
            StatusCode::BAD_GATEWAY,
            "response_too_large",
            &format!(
                "module {module} answered with a {body_bytes}-byte body, over the limit of {limit} bytes ([server] max_response_bytes)"
            ),
            request_id,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_return_to_the_budget_when_dropped() {
        let budget = ResponseBudget::new(10 * 1024);
        let first = budget.try_reserve(6 * 1024).expect("fits");
        assert!(budget.try_reserve(6 * 1024).is_none(), "over the budget");
        let clone = first.clone();
        drop(first);
        assert!(
            budget.try_reserve(6 * 1024).is_none(),
            "a clone still holds it"
        );
        drop(clone);
        assert_eq!(budget.available_bytes(), 10 * 1024);
        assert!(budget.try_reserve(6 * 1024).is_some());
    }

    #[test]
    fn oversized_bodies_name_the_limit_and_the_size() {
        let response = check_size(20, 10, "m", "req_1").expect("over");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert!(check_size(10, 10, "m", "req_1").is_none());
    }
}
