//! The conformance module's routes: echo, body, public, status, error, deadline, crash, and the
//! ctx routes (storage, contacts, messages, workflows, logger).

use std::time::Duration;

use convotic_plugin_sdk::prelude::*;
use convotic_plugin_sdk::{ContactUpdate, NewContact, OutgoingMessage};
use serde_json::{json, Value};

use crate::broken;

fn not_found() -> RouteResponse {
    RouteResponse::json(404, json!({"error": "not found"}))
}

/// Registers every route.
pub fn register(sdk: &mut Sdk) {
    sdk.register_route(
        Route::get("/echo/:id").handler(|req: RouteRequest, _ctx| async move {
            let id = if broken("routes.echo") {
                "wrong".to_string()
            } else {
                req.param("id").unwrap_or_default().to_string()
            };
            Ok(RouteResponse::json(
                200,
                json!({"id": id, "query": req.query, "method": req.method}),
            ))
        }),
    );
    sdk.register_route(
        Route::post("/echo").handler(|req: RouteRequest, _ctx| async move {
            let body = if broken("routes.body") {
                Value::Null
            } else {
                req.body.clone()
            };
            Ok(RouteResponse::json(
                200,
                json!({"body": body, "content_type": req.header("content-type")}),
            ))
        }),
    );
    sdk.register_route(Route::post("/public").auth(false).handler(
        |req: RouteRequest, _ctx| async move {
            let status = if broken("routes.public") { 200 } else { 201 };
            Ok(
                RouteResponse::json(status, json!({"authenticated": req.authenticated}))
                    .header("x-conformance", "yes"),
            )
        },
    ));
    sdk.register_route(
        Route::get("/status/:code").handler(|req: RouteRequest, _ctx| async move {
            let code: u16 = req.param("code").unwrap_or("200").parse()?;
            let status = if broken("routes.status") { 200 } else { code };
            Ok(RouteResponse::json(status, json!({"code": code})))
        }),
    );
    sdk.register_route(Route::get("/error").handler(|_req, _ctx| async move {
        if broken("routes.error") {
            return Ok(RouteResponse::json(200, json!({})));
        }
        Err(HandlerError::new("boom"))
    }));
    let slow = Route::get("/slow/:ms");
    let slow = if broken("routes.deadline") {
        slow
    } else {
        slow.timeout(Duration::from_millis(1000))
    };
    sdk.register_route(slow.handler(|req: RouteRequest, _ctx| async move {
        let ms: u64 = req.param("ms").unwrap_or("0").parse()?;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(RouteResponse::json(200, json!({"slept": ms})))
    }));
    sdk.register_route(Route::get("/crash").handler(|_req, _ctx| async move {
        std::process::exit(1);
        #[allow(unreachable_code)]
        Ok(RouteResponse::empty(204))
    }));
    sdk.register_route(Route::put("/kv/:key").handler(
        |req: RouteRequest, ctx: Context| async move {
            let value = if broken("ctx.storage") {
                json!({"broken": true})
            } else {
                req.body.clone()
            };
            ctx.storage()
                .set(req.param("key").unwrap_or_default(), value)
                .await?;
            Ok(RouteResponse::empty(204))
        },
    ));
    sdk.register_route(Route::get("/kv/:key").handler(
        |req: RouteRequest, ctx: Context| async move {
            Ok(
                match ctx
                    .storage()
                    .get(req.param("key").unwrap_or_default())
                    .await?
                {
                    Some(value) => RouteResponse::json(200, value),
                    None => not_found(),
                },
            )
        },
    ));
    // ctx.default_channel: the SDK's own Host client (tonic's defaults).
    sdk.register_route(Route::get("/host/default-channel/:key").handler(
        |req: RouteRequest, ctx: Context| async move {
            let key = req.param("key").unwrap_or_default().to_string();
            let value = if broken("ctx.default_channel") {
                None
            } else {
                let record = json!({"via": "default channel", "key": key});
                ctx.storage().set(&key, record).await?;
                ctx.storage().get(&key).await?
            };
            Ok(RouteResponse::json(200, json!({ "value": value })))
        },
    ));
    sdk.register_route(Route::post("/contacts").handler(
        |req: RouteRequest, ctx: Context| async move {
            let contact = ctx
                .contacts()
                .create(NewContact {
                    external_id: req.body["external_id"].as_str().unwrap_or_default().into(),
                    name: req.body["name"].as_str().unwrap_or_default().into(),
                    ..Default::default()
                })
                .await?;
            Ok(RouteResponse::json(
                201,
                json!({"id": contact.id, "external_id": contact.external_id, "name": contact.name}),
            ))
        },
    ));
    sdk.register_route(Route::get("/contacts/by-external/:externalId").handler(
        |req: RouteRequest, ctx: Context| async move {
            if broken("ctx.contacts") {
                return Ok(not_found());
            }
            let external_id = req.param("externalId").unwrap_or_default();
            Ok(
                match ctx.contacts().find_by_external_id(external_id).await? {
                    Some(c) => RouteResponse::json(
                        200,
                        json!({"id": c.id, "name": c.name, "attributes": c.attributes}),
                    ),
                    None => not_found(),
                },
            )
        },
    ));
    sdk.register_route(Route::patch("/contacts/:id").handler(
        |req: RouteRequest, ctx: Context| async move {
            let contact = ctx
                .contacts()
                .update(
                    req.param("id").unwrap_or_default(),
                    ContactUpdate {
                        attributes: req.body["attributes"].clone(),
                        ..Default::default()
                    },
                )
                .await?;
            Ok(RouteResponse::json(
                200,
                json!({"id": contact.id, "attributes": contact.attributes}),
            ))
        },
    ));
    sdk.register_route(Route::post("/messages").handler(
        |req: RouteRequest, ctx: Context| async move {
            let sent = ctx
                .messages()
                .send(OutgoingMessage {
                    contact_id: req.body["contact_id"].as_str().unwrap_or_default().into(),
                    channel: "sms".into(),
                    text: req.body["text"].as_str().unwrap_or_default().into(),
                    ..Default::default()
                })
                .await?;
            let read_back = if broken("ctx.messages") {
                None
            } else {
                ctx.messages().get(&sent.id).await?
            };
            Ok(RouteResponse::json(
                201,
                json!({
                    "id": sent.id,
                    "status": sent.status,
                    "read_back_status": read_back.map(|m| m.status),
                }),
            ))
        },
    ));
    sdk.register_route(Route::post("/workflows/:workflowId/trigger").handler(
        |req: RouteRequest, ctx: Context| async move {
            let run = ctx
                .workflows()
                .trigger(req.param("workflowId").unwrap_or_default(), &req.body)
                .await?;
            let read_back = ctx.workflows().get(&run.id).await?;
            Ok(RouteResponse::json(
                202,
                json!({"run_id": run.id, "status": read_back.map(|r| r.status)}),
            ))
        },
    ));
    sdk.register_route(Route::get("/workflows/runs/:runId").handler(
        |req: RouteRequest, ctx: Context| async move {
            if broken("ctx.workflows") {
                return Ok(not_found());
            }
            Ok(
                match ctx
                    .workflows()
                    .get(req.param("runId").unwrap_or_default())
                    .await?
                {
                    Some(run) => RouteResponse::json(
                        200,
                        json!({
                            "id": run.id,
                            "status": run.status,
                            "output": run.output,
                            "error": run.error,
                        }),
                    ),
                    None => not_found(),
                },
            )
        },
    ));
    sdk.register_route(
        Route::post("/log").handler(|req: RouteRequest, ctx: Context| async move {
            let message = req.body["message"].as_str().unwrap_or_default().to_string();
            ctx.logger()
                .info_with(message, json!({"check": "ctx.logger"}));
            Ok(RouteResponse::empty(204))
        }),
    );
}
