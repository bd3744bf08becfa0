//! The files `init` writes, per language. `{{name}}` is the module name, `{{crate}}` its Rust
//! identifier form, `{{sdk}}` the absolute path of the SDKs' directory (`plugin-sdk`),
//! `{{patch}}` the Cargo patch section of the checkout's vendored crates (or nothing).

/// One file of a scaffold: its path in the package and its text.
pub type File = (&'static str, &'static str);

/// The `.gitignore` of every scaffold.
const GITIGNORE: &str = "/target\n/node_modules\n/.convotic\n__pycache__/\n";

/// A Rust module.
pub const RUST: &[File] = &[
    (".gitignore", GITIGNORE),
    (
        "Cargo.toml",
        r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
convotic-plugin-sdk = { path = "{{sdk}}/rust" }
serde_json = "1"

# A package of its own, not a member of an enclosing workspace.
[workspace]
{{patch}}"#,
    ),
    (
        "convotic-module.toml",
        r#"# The package manifest (every key: docs/packages.md).
name = "{{name}}"
version = "0.1.0"
entry = "bin/{{name}}"
include = ["README.md"]

[build]
command = "cargo build"
# Packing puts the built binary at `entry`.
output = "target/debug/{{name}}"
"#,
    ),
    (
        "src/main.rs",
        r#"//! `{{name}}`: a Convotic module with one route, one worker, one workflow node and one cron.

use convotic_plugin_sdk::prelude::*;
use serde_json::json;

struct Module;

impl ConvoticModule for Module {
    fn name(&self) -> &str {
        "{{name}}"
    }

    fn version(&self) -> &str {
        "0.1.0"
    }

    fn register(&self, sdk: &mut Sdk) {
        // GET /v1/modules/{{name}}/hello/:name
        sdk.register_route(Route::get("/hello/:name").handler(
            |req: RouteRequest, _ctx: Context| async move {
                let name = req.param("name").unwrap_or("world").to_string();
                Ok(RouteResponse::json(200, json!({ "hello": name })))
            },
        ));

        // Messages published on `{{name}}.events` (POST /v1/topics/{{name}}.events/messages).
        sdk.register_worker_handler(WorkerHandler::new("{{name}}.events").handler(
            |msg: WorkerMessage, ctx: Context| async move {
                ctx.logger()
                    .info_with("event received", json!({ "payload": msg.payload }));
                Ok(())
            },
        ));

        // A workflow node: POST /v1/nodes/{{name}}.greet/invoke {"input": {"name": "Ada"}}
        sdk.register_node_handler(
            NodeHandler::new("{{name}}.greet")
                .version("1.0.0")
                .display_name("Greet")
                .input_schema(json!({
                    "type": "object",
                    "properties": { "name": { "type": "string" } },
                    "required": ["name"]
                }))
                .handler(|inv: NodeInvocation, _ctx: Context| async move {
                    let name = inv.input["name"].as_str().unwrap_or("stranger");
                    Ok(NodeOutput::new(json!({ "greeting": format!("Hello, {name}!") })))
                }),
        );

        // A cron: every hour, UTC.
        sdk.register_cron(Cron::new("hourly", "0 * * * *").handler(
            |tick: CronTick, ctx: Context| async move {
                ctx.logger().info_with("hourly", json!({ "run_id": tick.run_id }));
                Ok(())
            },
        ));

        // A Block (a connection flow and actions) looks like this:
        //
        // sdk.register_block(
        //     Block::new("my-service")
        //         .name("My Service")
        //         .connection_schema(json!({"type": "object", "properties": {"api_key": {"type": "string"}}}))
        //         .secret_fields(["api_key"])
        //         .test_connection(|conn: Connection, _ctx: Context| async move {
        //             Ok(TestResult::ok().account_label("my account"))
        //         })
        //         .action(Action::new("ping").handler(|call: ActionCall, _ctx: Context| async move {
        //             Ok(json!({ "pong": call.input }))
        //         })),
        // );
    }
}

fn main() {
    convotic_plugin_sdk::run(Module)
}
"#,
    ),
    (
        "tests/module.rs",
        r#"//! The module under the real supervisor (`convotic-supervisor dev`, found through
//! CONVOTIC_SUPERVISOR or PATH): its route, its node and its worker topic.

use convotic_plugin_sdk::testing::DevSupervisor;
use serde_json::json;

#[test]
fn the_module_answers_under_the_supervisor() {
    let dev = DevSupervisor::start(env!("CARGO_MANIFEST_DIR")).expect("the module starts");
    let (status, body) = dev.route("GET", "/hello/ada", None).expect("route");
    assert_eq!(status, 200, "{}", dev.logs());
    assert_eq!(body["hello"], "ada");
    let (status, body) = dev
        .invoke("{{name}}.greet", json!({ "name": "Ada" }))
        .expect("node");
    assert_eq!(status, 200, "{}", dev.logs());
    assert_eq!(body["output"]["greeting"], "Hello, Ada!");
    let (status, _) = dev
        .publish("{{name}}.events", json!({ "n": 1 }))
        .expect("publish");
    assert_eq!(status, 202);
}
"#,
    ),
    ("README.md", README),
];

/// A TypeScript module, as the seed shows it: `src/index.ts` exporting a `ConvoticModule`.
pub const TYPESCRIPT: &[File] = &[
    (".gitignore", GITIGNORE),
    (
        "package.json",
        r#"{
  "name": "{{name}}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {
    "test": "node --test test/"
  },
  "dependencies": {
    "@convotic/block-sdk": "file:{{sdk}}/typescript"
  }
}
"#,
    ),
    (
        "tsconfig.json",
        r#"{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
"#,
    ),
    (
        "convotic-module.toml",
        r#"# The package manifest (every key: docs/packages.md). The SDK's runner runs src/index.ts
# under Node (no compile step); node_modules (run `npm install` once) is packed with it, so the
# deployed package needs no network.
name = "{{name}}"
version = "0.1.0"
runtime = "node"
entry = "node_modules/@convotic/block-sdk/dist/cli.js"
args = ["run", "src/index.ts"]
include = ["src", "package.json", "node_modules"]
exclude = [
    "node_modules/.bin",
    "node_modules/@convotic/block-sdk/src",
    "node_modules/@convotic/block-sdk/test",
    "node_modules/@convotic/block-sdk/scripts",
    "node_modules/@convotic/block-sdk/node_modules/typescript",
    "node_modules/@convotic/block-sdk/node_modules/@types",
    "node_modules/@convotic/block-sdk/node_modules/.bin",
]
"#,
    ),
    (
        "src/index.ts",
        r#"import { ConvoticModule } from "@convotic/block-sdk";

const module: ConvoticModule = {
  name: "{{name}}",
  version: "0.1.0",
  register(sdk) {
    // GET /v1/modules/{{name}}/hello/:name
    sdk.registerRoute({
      method: "GET",
      path: "/hello/:name",
      handler: async (req) => {
        return { status: 200, body: { hello: req.params.name } };
      },
    });

    // Messages published on `{{name}}.events` (POST /v1/topics/{{name}}.events/messages).
    sdk.registerWorkerHandler({
      topic: "{{name}}.events",
      handler: async (message, ctx) => {
        ctx.logger.info("event received", { payload: message.payload });
      },
    });

    // A workflow node: POST /v1/nodes/{{name}}.greet/invoke {"input": {"name": "Ada"}}
    sdk.registerNodeHandler({
      type: "{{name}}.greet",
      version: "1.0.0",
      displayName: "Greet",
      inputSchema: { type: "object", required: ["name"], properties: { name: { type: "string" } } },
      handler: async ({ input }) => ({ output: { greeting: `Hello, ${input.name}!` } }),
    });

    // A cron: every hour, UTC.
    sdk.registerCron({
      name: "hourly",
      schedule: "0 * * * *",
      handler: async (tick, ctx) => {
        ctx.logger.info("hourly", { runId: tick.runId });
      },
    });

    // A Block (a connection flow and actions) looks like this:
    //
    // sdk.registerBlock({
    //   id: "my-service",
    //   name: "My Service",
    //   connectionSchema: { type: "object", properties: { api_key: { type: "string" } } },
    //   secretFields: ["api_key"],
    //   testConnection: async () => ({ ok: true, accountLabel: "my account" }),
    //   actions: [{ name: "ping", handler: async ({ input }) => ({ pong: input }) }],
    // });
  },
};

export default module;
"#,
    ),
    (
        "test/module.test.mjs",
        r#"// The module under the real supervisor (`convotic-supervisor dev`, found through
// CONVOTIC_SUPERVISOR or PATH): its route, its node and its worker topic. Run: npm test
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

import { startDev } from "@convotic/block-sdk/testing";

test("the module answers under the supervisor", async () => {
  const dev = await startDev(fileURLToPath(new URL("..", import.meta.url)));
  try {
    const hello = await dev.route("GET", "/hello/ada");
    assert.equal(hello.status, 200, dev.logs());
    assert.equal(hello.body.hello, "ada");
    const node = await dev.invoke("{{name}}.greet", { name: "Ada" });
    assert.equal(node.status, 200, dev.logs());
    assert.equal(node.body.output.greeting, "Hello, Ada!");
    assert.equal((await dev.publish("{{name}}.events", { n: 1 })).status, 202);
  } finally {
    await dev.stop();
  }
});
"#,
    ),
    ("README.md", README),
];

/// A Python module.
pub const PYTHON: &[File] = &[
    (".gitignore", GITIGNORE),
    (
        "convotic-module.toml",
        r#"# The package manifest (every key: docs/packages.md). `sdk` links to the Python SDK: its
# sources and dependencies are packed with the module, so the deployed package needs no network.
name = "{{name}}"
version = "0.1.0"
runtime = "python"
entry = "main.py"
python_path = ["sdk/src", "sdk/.deps"]
include = ["main.py", "module.py", "README.md", "sdk/src", "sdk/.deps"]
"#,
    ),
    (
        "main.py",
        r#""""The package's entry: serves ``module.py`` with the SDK's runner."""

import sys

from convotic_sdk.__main__ import main

sys.exit(main(["run", "module.py"]))
"#,
    ),
    (
        "module.py",
        r#""""``{{name}}``: a Convotic module with one route, one worker, one workflow node and one cron."""

from __future__ import annotations

from convotic_sdk import Context, CronTick, Module, NodeInvocation, NodeOutput, RouteRequest, RouteResponse, WorkerMessage

module = Module("{{name}}", "0.1.0")


@module.route("GET", "/hello/:name")
async def hello(req: RouteRequest, ctx: Context) -> RouteResponse:
    """``GET /v1/modules/{{name}}/hello/<name>``."""
    return RouteResponse(200, {"hello": req.params["name"]})


@module.worker("{{name}}.events")
async def on_event(msg: WorkerMessage, ctx: Context) -> None:
    """Messages published on ``{{name}}.events``."""
    ctx.logger.info("event received", payload=msg.payload)


@module.node(
    type="{{name}}.greet",
    version="1.0.0",
    display_name="Greet",
    input_schema={"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
)
async def greet(inv: NodeInvocation, ctx: Context) -> NodeOutput:
    """``POST /v1/nodes/{{name}}.greet/invoke {"input": {"name": "Ada"}}``."""
    return NodeOutput({"greeting": f"Hello, {inv.input['name']}!"})


@module.cron("hourly", schedule="0 * * * *")
async def hourly(tick: CronTick, ctx: Context) -> None:
    """Every hour, UTC."""
    ctx.logger.info("hourly", run_id=tick.run_id)


# A Block (a connection flow and actions) looks like this:
#
# @module.block(id="my-service", name="My Service", connection_schema={...}, secret_fields=["api_key"])
# ...
"#,
    ),
    (
        "test_module.py",
        r#""""The module under the real supervisor (``convotic-supervisor dev``, found through
CONVOTIC_SUPERVISOR or PATH): its route, its node and its worker topic. Run:
``PYTHONPATH=sdk/src:sdk/.deps python3 -m pytest test_module.py``."""

from pathlib import Path

import pytest

from convotic_sdk.testing import start_dev


@pytest.fixture(scope="module")
def dev():
    with start_dev(Path(__file__).parent) as running:
        yield running


def test_the_route_answers(dev):
    answer = dev.route("GET", "/hello/ada")
    assert answer.status == 200, dev.logs()
    assert answer.body["hello"] == "ada"


def test_the_node_and_the_topic(dev):
    node = dev.invoke("{{name}}.greet", {"name": "Ada"})
    assert node.status == 200, dev.logs()
    assert node.body["output"]["greeting"] == "Hello, Ada!"
    assert dev.publish("{{name}}.events", {"n": 1}).status == 202
"#,
    ),
    ("README.md", README),
];

const README: &str = r#"# {{name}}

A Convotic module. Run it under a supervisor, try it, ship it:

```sh
convotic-supervisor deploy --workspace <ws> . --config <supervisor config>   # or --url with CONVOTIC_DEPLOY_KEY
curl http://127.0.0.1:8080/v1/modules/{{name}}/hello/world -H "X-API-Key: $KEY"
```

Build first when the package has a `[build] command` (see convotic-module.toml). Every key of
the package manifest: docs/packages.md of the Convotic supervisor.
"#;
