//! `loyalty-lookup`: the "Loyalty Lookup" workflow node of the seed workflows, as a Rust module.
//!
//! It registers node type `loyalty_lookup` in two versions side by side (a workflow keeps
//! the version it was built with):
//!
//! * `1.0.0`: input `{"email", "program"?}`, output `{"email", "found", "tier", "points"}`;
//! * `2.0.0`: the same input, and the output adds `expires_at`.
//!
//! Both look the member up in the module's key-value storage under `loyalty:<email>` (the
//! email trimmed and lower-cased) and continue on branch `found` or `not_found`. A storage
//! failure is reported as retryable. `program` (`standard` or `gold`) is accepted from the
//! node's configuration and only logged: this example keeps one record per member.
//!
//! Seed the records with the module's routes (served at `/v1/modules/loyalty-lookup/...`):
//!
//! * `PUT /loyalty/:email` with `{"tier": "gold", "points": 1200, "expires_at": "2026-12-31"}`
//!   (`expires_at` optional) stores a record; a bad body answers 400 `{"error": "..."}`;
//! * `GET /loyalty/:email` answers the record, or 404 `{"error": "..."}`.
//!
//! Call the node outside a workflow with the workspace's API key:
//!
//! ```text
//! POST /v1/nodes/loyalty_lookup/invoke
//! X-API-Key: <key>
//! {"input": {"email": "ada@example.com"}}
//! ```
//!
//! Demo and test hooks, chosen by the email's local part (the part before `@`, lower-cased):
//! `fail-permanent` fails with a non-retryable error, `fail-retryable` with a retryable one,
//! and `crash` aborts the whole module process (`std::process::abort`), to show how the
//! supervisor reports and restarts a crashed module. Do not copy these into a real module.

use convotic_plugin_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

/// The node type, shared by both versions.
const NODE_TYPE: &str = "loyalty_lookup";

/// Longest accepted email address (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;

/// The module.
struct LoyaltyLookup;

impl ConvoticModule for LoyaltyLookup {
    fn name(&self) -> &str {
        "loyalty-lookup"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn register(&self, sdk: &mut Sdk) {
        for shape in [OutputShape::V1, OutputShape::V2] {
            sdk.register_node_handler(
                node(shape)
                    .handler(move |inv: NodeInvocation, ctx: Context| lookup(inv, ctx, shape)),
            );
        }
        // Seeding: served at /v1/modules/loyalty-lookup/loyalty/:email.
        sdk.register_route(Route::put("/loyalty/:email").handler(put_record));
        sdk.register_route(Route::get("/loyalty/:email").handler(get_record));
    }
}

/// Which version of the node answers, and so which fields its output has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputShape {
    /// `1.0.0`: `{email, found, tier, points}`.
    V1,
    /// `2.0.0`: `{email, found, tier, points, expires_at}`.
    V2,
}

impl OutputShape {
    /// The node version this shape belongs to.
    fn version(self) -> &'static str {
        match self {
            OutputShape::V1 => "1.0.0",
            OutputShape::V2 => "2.0.0",
        }
    }
}

/// The definition of one version of the node, without its handler.
fn node(shape: OutputShape) -> NodeHandler {
    let mut output_properties = json!({
        "email": { "type": "string" },
        "found": { "type": "boolean" },
        "tier": { "type": ["string", "null"] },
        "points": { "type": ["integer", "null"] }
    });
    let mut required = vec!["email", "found", "tier", "points"];
    if shape == OutputShape::V2 {
        output_properties["expires_at"] = json!({ "type": ["string", "null"] });
        required.push("expires_at");
    }
    NodeHandler::new(NODE_TYPE)
        .version(shape.version())
        .display_name("Loyalty Lookup")
        .description(
            "Looks a contact up in the loyalty program by email and continues on `found` \
             (with the member's tier and points) or `not_found`.",
        )
        .category("Data")
        .icon("award")
        .input_schema(json!({
            "type": "object",
            "properties": {
                "email": { "type": "string", "format": "email", "maxLength": MAX_EMAIL_LEN },
                "program": { "type": "string", "enum": ["standard", "gold"] }
            },
            "required": ["email"],
            "additionalProperties": false
        }))
        .output_schema(json!({
            "type": "object",
            "properties": output_properties,
            "required": required
        }))
        .branches(["found", "not_found"])
}

/// The node's input.
#[derive(Debug, Deserialize)]
struct LookupInput {
    /// The member's email, in any case.
    email: String,
    /// The loyalty program the workflow asks about (logged only).
    #[serde(default)]
    program: Option<String>,
}

/// Runs the node: reads `loyalty:<email>` and continues on `found` or `not_found`.
async fn lookup(
    inv: NodeInvocation,
    ctx: Context,
    shape: OutputShape,
) -> Result<NodeOutput, HandlerError> {
    let input: LookupInput = inv.input_as()?;
    let email = normalize_email(&input.email);
    demo_hook(&email)?;
    let record = ctx.storage().get(&storage_key(&email)).await.map_err(|e| {
        HandlerError::new(format!("cannot read the loyalty record: {e}")).retryable()
    })?;
    ctx.logger().debug_with(
        "loyalty lookup",
        json!({
            "version": shape.version(),
            "program": input.program,
            "found": record.is_some(),
            "run_id": inv.run_id,
            "step_id": inv.step_id,
        }),
    );
    Ok(output(&input.email, record.as_ref(), shape))
}

/// The node's result for `email` given the stored record (if any).
fn output(email: &str, record: Option<&Value>, shape: OutputShape) -> NodeOutput {
    let (branch, mut out) = match record {
        Some(record) => (
            "found",
            json!({
                "email": email,
                "found": true,
                "tier": record.get("tier").and_then(Value::as_str),
                "points": record.get("points").and_then(Value::as_i64),
            }),
        ),
        None => (
            "not_found",
            json!({ "email": email, "found": false, "tier": null, "points": null }),
        ),
    };
    if shape == OutputShape::V2 {
        out["expires_at"] = json!(record
            .and_then(|r| r.get("expires_at"))
            .and_then(Value::as_str));
    }
    NodeOutput::branch(branch, out)
}

/// The demo/test hooks selected by the email's local part (see the module documentation).
fn demo_hook(email: &str) -> Result<(), HandlerError> {
    match email.split('@').next().unwrap_or_default() {
        "fail-permanent" => Err(HandlerError::new("loyalty backend rejected the lookup")),
        "fail-retryable" => {
            Err(HandlerError::new("loyalty backend temporarily unavailable").retryable())
        }
        "crash" => {
            eprintln!("loyalty-lookup: aborting on purpose (the `crash@` test hook)");
            std::process::abort()
        }
        _ => Ok(()),
    }
}

/// An email as used in storage keys: trimmed and lower-cased.
fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The storage key of a member's record.
fn storage_key(normalized_email: &str) -> String {
    format!("loyalty:{normalized_email}")
}

/// A loyalty record, as `PUT /loyalty/:email` accepts and stores it.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct LoyaltyRecord {
    /// The member's tier, e.g. `gold`.
    tier: String,
    /// The member's points balance.
    points: u64,
    /// When the membership expires (free-form, e.g. an ISO 8601 date), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

/// Parses and checks a `PUT /loyalty/:email` body; the error is the reason, for a 400.
fn parse_record(body: &Value) -> Result<LoyaltyRecord, String> {
    if !body.is_object() {
        return Err(
            "the body must be a JSON object: {\"tier\": string, \"points\": integer, \
             \"expires_at\"?: string}"
                .into(),
        );
    }
    let record = LoyaltyRecord::deserialize(body).map_err(|e| format!("invalid record: {e}"))?;
    if record.tier.trim().is_empty() {
        return Err("tier must not be empty".into());
    }
    Ok(record)
}

/// The `:email` parameter of a route, normalized, or the reason it is not an email.
fn email_param(req: &RouteRequest) -> Result<String, String> {
    let email = normalize_email(req.param("email").unwrap_or_default());
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && email.len() <= MAX_EMAIL_LEN =>
        {
            Ok(email)
        }
        _ => Err(format!("{email:?} is not an email address")),
    }
}

/// A JSON error response.
fn error(status: u16, message: impl Into<String>) -> RouteResponse {
    RouteResponse::json(status, json!({ "error": message.into() }))
}

/// `PUT /loyalty/:email`: stores the member's record; answers it with its storage revision.
async fn put_record(req: RouteRequest, ctx: Context) -> Result<RouteResponse, HandlerError> {
    let email = match email_param(&req) {
        Ok(email) => email,
        Err(reason) => return Ok(error(400, reason)),
    };
    if !req.body_is_json && !req.raw_body.is_empty() {
        let content_type = req.header("content-type").unwrap_or("none");
        return Ok(error(
            415,
            format!(
                "the body must be JSON, sent with Content-Type: application/json (got {content_type})"
            ),
        ));
    }
    let record = match parse_record(&req.body) {
        Ok(record) => record,
        Err(reason) => return Ok(error(400, reason)),
    };
    let entry = ctx.storage().set(&storage_key(&email), &record).await?;
    Ok(RouteResponse::json(
        200,
        json!({
            "email": email,
            "tier": record.tier,
            "points": record.points,
            "expires_at": record.expires_at,
            "revision": entry.revision,
        }),
    ))
}

/// `GET /loyalty/:email`: the member's record, or 404.
async fn get_record(req: RouteRequest, ctx: Context) -> Result<RouteResponse, HandlerError> {
    let email = match email_param(&req) {
        Ok(email) => email,
        Err(reason) => return Ok(error(400, reason)),
    };
    Ok(match ctx.storage().get(&storage_key(&email)).await? {
        Some(record) => RouteResponse::json(
            200,
            json!({
                "email": email,
                "tier": record.get("tier"),
                "points": record.get("points"),
                "expires_at": record.get("expires_at"),
            }),
        ),
        None => error(404, format!("no loyalty record for {email}")),
    })
}

fn main() {
    convotic_plugin_sdk::run(LoyaltyLookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_use_the_normalized_email() {
        assert_eq!(
            storage_key(&normalize_email("  Ada@Example.COM ")),
            "loyalty:ada@example.com"
        );
    }

    #[test]
    fn found_and_not_found_outputs() {
        let record = json!({ "tier": "gold", "points": 1200, "expires_at": "2026-12-31" });
        let v1 = output("Ada@example.com", Some(&record), OutputShape::V1);
        assert_eq!(v1.branch, "found");
        assert_eq!(
            v1.output,
            json!({ "email": "Ada@example.com", "found": true, "tier": "gold", "points": 1200 })
        );
        let v2 = output("ada@example.com", Some(&record), OutputShape::V2);
        assert_eq!(v2.output["expires_at"], "2026-12-31");

        let missing = output("bob@example.com", None, OutputShape::V1);
        assert_eq!(missing.branch, "not_found");
        assert_eq!(
            missing.output,
            json!({ "email": "bob@example.com", "found": false, "tier": null, "points": null })
        );
        let missing = output("bob@example.com", None, OutputShape::V2);
        assert_eq!(missing.output["expires_at"], Value::Null);
        assert!(missing.output.get("expires_at").is_some());
    }

    #[test]
    fn record_without_expiry_has_null_expires_at_in_v2() {
        let record = json!({ "tier": "standard", "points": 5 });
        let out = output("a@b.c", Some(&record), OutputShape::V2);
        assert_eq!(out.output["expires_at"], Value::Null);
        assert_eq!(out.output["points"], 5);
    }

    #[test]
    fn failure_hooks() {
        let permanent = demo_hook("fail-permanent@example.com").unwrap_err();
        assert!(!permanent.is_retryable());
        assert_eq!(permanent.message(), "loyalty backend rejected the lookup");
        let retryable = demo_hook("fail-retryable@example.com").unwrap_err();
        assert!(retryable.is_retryable());
        assert_eq!(
            retryable.message(),
            "loyalty backend temporarily unavailable"
        );
        assert!(demo_hook("fail-permanent-not@example.com").is_ok());
        assert!(demo_hook("ada@example.com").is_ok());
    }

    #[test]
    fn a_storage_failure_is_retryable() {
        // A detached context has no host: every storage call fails.
        let inv = NodeInvocation {
            input: json!({ "email": "ada@example.com" }),
            ..NodeInvocation::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = runtime
            .block_on(lookup(
                inv,
                Context::detached("loyalty-lookup"),
                OutputShape::V1,
            ))
            .unwrap_err();
        assert!(err.is_retryable());
        assert!(err.message().starts_with("cannot read the loyalty record"));
    }

    #[test]
    fn seed_bodies() {
        let record = parse_record(&json!({ "tier": "gold", "points": 1200 })).unwrap();
        assert_eq!(record.expires_at, None);
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            json!({ "tier": "gold", "points": 1200 })
        );
        let record =
            parse_record(&json!({ "tier": "gold", "points": 1, "expires_at": "2027-01-01" }))
                .unwrap();
        assert_eq!(record.expires_at.as_deref(), Some("2027-01-01"));

        for bad in [
            Value::Null,
            json!([]),
            json!({ "tier": "gold" }),
            json!({ "points": 3 }),
            json!({ "tier": "", "points": 3 }),
            json!({ "tier": "gold", "points": -1 }),
            json!({ "tier": "gold", "points": "many" }),
            json!({ "tier": "gold", "points": 3, "expires_at": 5 }),
            json!({ "tier": "gold", "points": 3, "extra": true }),
        ] {
            assert!(parse_record(&bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn email_params() {
        let req = |email: &str| RouteRequest {
            params: [("email".to_string(), email.to_string())].into(),
            ..RouteRequest::default()
        };
        assert_eq!(
            email_param(&req("Ada@Example.com")).unwrap(),
            "ada@example.com"
        );
        assert!(email_param(&req("nobody")).is_err());
        assert!(email_param(&req("@example.com")).is_err());
        assert!(email_param(&req(&format!("{}@x.io", "a".repeat(260)))).is_err());
    }
}
