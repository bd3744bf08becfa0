//! The route handlers. Each is an `async fn (RouteRequest, Context)`; `?` turns a failed host
//! call or an invalid body into the right HTTP error.

use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::ContactUpdate;
use serde::Deserialize;
use serde_json::{json, Value};

/// The workflow the external webhook triggers.
pub(crate) const WORKFLOW_ID: &str = "wf_abc123";

/// What the ERP posts to `/webhook/erp`.
#[derive(Debug, Deserialize)]
struct ErpOrderEvent {
    /// The contact's id in the ERP (a string or a number).
    customer_id: ExternalId,
    /// The order id, stored as sent.
    order_id: Value,
    /// The order status, stored as sent.
    status: Value,
}

/// An id that ERPs send as a string or as a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ExternalId {
    Text(String),
    Number(serde_json::Number),
}

impl ExternalId {
    fn as_text(&self) -> String {
        match self {
            ExternalId::Text(text) => text.clone(),
            ExternalId::Number(number) => number.to_string(),
        }
    }
}

/// `POST /webhook/erp`: records the order's id and status on the contact whose external id is
/// `customer_id`, if there is one. Answers `200 {"ok": true}` either way.
pub(crate) async fn erp_order(
    req: RouteRequest,
    ctx: Context,
) -> Result<RouteResponse, HandlerError> {
    let event: ErpOrderEvent = req.json()?;
    let customer_id = event.customer_id.as_text();
    let contact = ctx.contacts().find_by_external_id(&customer_id).await?;
    if let Some(contact) = contact {
        let update = ContactUpdate {
            attributes: json!({
                "last_erp_order_id": event.order_id,
                "last_erp_order_status": event.status,
            }),
            ..ContactUpdate::default()
        };
        ctx.contacts().update(&contact.id, update).await?;
    } else {
        ctx.logger().info_with(
            "ERP order for an unknown customer",
            json!({ "customer_id": customer_id }),
        );
    }
    Ok(RouteResponse::json(200, json!({ "ok": true })))
}

/// The storage key of an order.
fn order_key(req: &RouteRequest) -> String {
    format!("order:{}", req.param("orderId").unwrap_or_default())
}

/// `GET /orders/:orderId`: the stored order, or `404 {"error": "Order not found"}`.
pub(crate) async fn get_order(
    req: RouteRequest,
    ctx: Context,
) -> Result<RouteResponse, HandlerError> {
    match ctx.storage().get(&order_key(&req)).await? {
        Some(order) => Ok(RouteResponse::json(200, order)),
        None => Ok(RouteResponse::json(
            404,
            json!({ "error": "Order not found" }),
        )),
    }
}

/// `PUT /orders/:orderId`: stores the JSON body as the order (this route is not part of the
/// documentation's examples; it exists so that `GET /orders/:orderId` has something to read).
pub(crate) async fn put_order(
    req: RouteRequest,
    ctx: Context,
) -> Result<RouteResponse, HandlerError> {
    if !req.body_is_json || req.body.is_null() {
        return Ok(RouteResponse::json(
            400,
            json!({ "error": "The body must be the order as JSON" }),
        ));
    }
    ctx.storage().set(&order_key(&req), &req.body).await?;
    Ok(RouteResponse::json(200, json!({ "ok": true })))
}

/// `POST /webhook/external`: runs only after `SignatureVerifier` accepted the signature;
/// triggers the workflow with the event as `payload`.
pub(crate) async fn external_event(
    req: RouteRequest,
    ctx: Context,
) -> Result<RouteResponse, HandlerError> {
    ctx.workflows()
        .trigger(WORKFLOW_ID, json!({ "payload": req.body }))
        .await?;
    Ok(RouteResponse::json(200, json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(params: &[(&str, &str)], body: Option<Value>) -> RouteRequest {
        RouteRequest {
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body_is_json: body.is_some(),
            body: body.unwrap_or(Value::Null),
            ..RouteRequest::default()
        }
    }

    #[test]
    fn external_ids_may_be_numbers() {
        let event: ErpOrderEvent =
            serde_json::from_value(json!({"customer_id": 42, "order_id": "o1", "status": "paid"}))
                .unwrap();
        assert_eq!(event.customer_id.as_text(), "42");
        let event: ErpOrderEvent =
            serde_json::from_value(json!({"customer_id": "c-7", "order_id": 1, "status": null}))
                .unwrap();
        assert_eq!(event.customer_id.as_text(), "c-7");
    }

    #[tokio::test]
    async fn erp_event_without_customer_is_bad_input() {
        let req = request(&[], Some(json!({"order_id": "o1", "status": "paid"})));
        let err = erp_order(req, Context::detached("erp-webhook"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), convotic_plugin_sdk::HandlerErrorKind::BadInput);
    }

    #[tokio::test]
    async fn put_order_needs_a_json_body() {
        let req = request(&[("orderId", "o1")], None);
        let response = put_order(req, Context::detached("erp-webhook"))
            .await
            .unwrap();
        assert_eq!(response.status, 400);
    }

    #[test]
    fn orders_are_stored_under_order_colon_id() {
        assert_eq!(order_key(&request(&[("orderId", "42")], None)), "order:42");
    }
}
