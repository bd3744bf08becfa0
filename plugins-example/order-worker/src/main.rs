//! `order-worker`: a worker that processes order events (the Convotic documentation's
//! "worker that processes order events from a custom queue").
//!
//! It consumes topic `orders.events` with up to 4 messages at once. An event is
//! `{"order_id", "customer_id", "status"}`:
//!
//! * the contact whose external id is `customer_id` gets `last_order_id` and
//!   `last_order_status` attributes (`ctx.contacts()`);
//! * a `shipped` order queues an SMS to that contact (`ctx.messages()`);
//! * an event without `order_id` or `status` can never succeed: it is discarded (dead letter,
//!   no retry), with the reason;
//! * an unknown customer may just not be synced yet: the event is retried with backoff and
//!   dead-lettered after 5 attempts;
//! * anything else that fails (the platform unreachable) is retried the same way.
//!
//! Publish one: `POST /v1/topics/orders.events/messages` with
//! `{"payload": {"order_id": "SO-1", "customer_id": "cust-42", "status": "shipped"}}`.

use std::time::Duration;

use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::{ContactUpdate, OutgoingMessage};
use serde::Deserialize;
use serde_json::json;

/// An order event.
#[derive(Debug, Deserialize)]
struct OrderEvent {
    order_id: Option<String>,
    customer_id: Option<String>,
    status: Option<String>,
}

struct OrderWorker;

impl ConvoticModule for OrderWorker {
    fn name(&self) -> &str {
        "order-worker"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn register(&self, sdk: &mut Sdk) {
        sdk.register_worker_handler(
            WorkerHandler::new("orders.events")
                .concurrency(4)
                .max_attempts(5)
                .timeout(Duration::from_secs(30))
                .handler(process),
        );
    }
}

/// Handles one order event: `Ok` acknowledges it, an error retries it, `discard` dead-letters it.
async fn process(msg: WorkerMessage, ctx: Context) -> Result<(), HandlerError> {
    let event: OrderEvent = serde_json::from_value(msg.payload.clone())
        .map_err(|e| HandlerError::discard(format!("not an order event: {e}")))?;
    let (Some(order_id), Some(status)) = (event.order_id, event.status) else {
        return Err(HandlerError::discard(
            "an order event needs order_id and status",
        ));
    };
    let customer = event.customer_id.unwrap_or_default();
    let Some(contact) = ctx.contacts().find_by_external_id(&customer).await? else {
        return Err(HandlerError::new(format!(
            "no contact with external id {customer:?} yet (attempt {})",
            msg.attempt
        )));
    };
    ctx.contacts()
        .update(
            &contact.id,
            ContactUpdate {
                attributes: json!({ "last_order_id": order_id, "last_order_status": status }),
                ..Default::default()
            },
        )
        .await?;
    if status == "shipped" {
        ctx.messages()
            .send(OutgoingMessage {
                contact_id: contact.id.clone(),
                channel: "sms".into(),
                text: format!("Your order {order_id} has shipped."),
                ..Default::default()
            })
            .await?;
    }
    ctx.logger().info_with(
        "order event processed",
        json!({ "order_id": order_id, "status": status, "attempt": msg.attempt }),
    );
    Ok(())
}

fn main() {
    convotic_plugin_sdk::run(OrderWorker)
}
