// The manifest built from a module's registrations (docs/PROTOCOL.md §4.2-§4.4): every field,
// the defaults, the version choice, and what the SDK refuses before the supervisor sees it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { describeModule, ModuleDefinitionError, SDK_VERSION, signatureVerifier, type ConvoticModule } from "../src/index.js";
import { buildManifest, chooseVersion } from "../src/manifest.js";
import { compareVersions, Registry } from "../src/registry.js";

const ok = async () => ({ status: 204 });

const full: ConvoticModule = {
  name: "full",
  version: "1.2.3",
  maxInFlight: 8,
  register(sdk) {
    sdk.registerRoute({
      method: "POST",
      path: "/webhook/external",
      auth: false,
      timeout: 5000,
      maxBodyBytes: 2048,
      middleware: [signatureVerifier({ secret: "s" }), function audit(req, ctx, next) { return next(); }],
      handler: ok,
    });
    sdk.registerRoute({ method: "GET", path: "/orders/:id", handler: ok });
    sdk.registerWorkerHandler({ topic: "orders.created", concurrency: 4, maxAttempts: 3, timeout: 60_000, handler: async () => {} });
    sdk.registerWorkerHandler({ topic: "orders.created", name: "audit", handler: async () => {} });
    sdk.registerNodeHandler({
      type: "loyalty_lookup",
      version: "1.0.0",
      displayName: "Loyalty Lookup",
      description: "Looks up points",
      category: "Data",
      icon: "star",
      inputSchema: { type: "object" },
      outputSchema: '{"type": "object", "required": ["points"]}',
      branches: ["found", "not_found"],
      connectionBlock: "regional-sms",
      timeout: 1500,
      handler: async () => ({ output: null, branch: "found" }),
    });
    sdk.registerBlock({
      id: "regional-sms",
      name: "Regional SMS",
      description: "SMS",
      icon: "sms",
      connectionSchema: { type: "object", properties: { api_key: { type: "string" } } },
      secretFields: ["api_key"],
      testTimeout: 3000,
      testConnection: async () => ({ ok: true }),
      actions: [
        { name: "send_message", displayName: "Send", description: "Sends", inputSchema: { type: "object" }, outputSchema: true, timeout: 2000, handler: async () => ({}) },
      ],
    });
    sdk.registerCron({ name: "nightly-sync", schedule: "0 2 * * *", timezone: "Europe/Paris", overlap: "allow", catchUp: "once", timeout: 900_000, handler: async () => {} });
  },
};

describe("the manifest", () => {
  it("has every registered field", async () => {
    const { manifest: m } = await describeModule(full);
    assert.equal(m.name, "full");
    assert.equal(m.version, "1.2.3");
    assert.deepEqual(m.sdk, { name: "@convotic/block-sdk", version: SDK_VERSION, language: "typescript" });
    assert.equal(m.max_in_flight, 8);
    assert.deepEqual(m.routes?.[0], {
      method: "POST",
      path: "/webhook/external",
      auth: "AUTH_MODE_NONE",
      timeout_ms: 5000,
      max_body_bytes: 2048,
      middleware: ["hmac-signature", "audit"],
    });
    assert.deepEqual(m.routes?.[1], { method: "GET", path: "/orders/:id", auth: "AUTH_MODE_API_KEY", timeout_ms: 0, max_body_bytes: 0, middleware: [] });
    assert.deepEqual(m.workers, [
      { topic: "orders.created", name: "orders.created", concurrency: 4, max_attempts: 3, timeout_ms: 60_000 },
      { topic: "orders.created", name: "audit", concurrency: 0, max_attempts: 0, timeout_ms: 0 },
    ]);
    assert.deepEqual(m.nodes?.[0], {
      type: "loyalty_lookup",
      version: "1.0.0",
      display_name: "Loyalty Lookup",
      description: "Looks up points",
      category: "Data",
      icon: "star",
      input_schema: '{"type":"object"}',
      output_schema: '{"type": "object", "required": ["points"]}',
      branches: ["found", "not_found"],
      connection_block: "regional-sms",
      timeout_ms: 1500,
    });
    assert.deepEqual(m.blocks?.[0], {
      id: "regional-sms",
      name: "Regional SMS",
      description: "SMS",
      icon: "sms",
      connection_schema: '{"type":"object","properties":{"api_key":{"type":"string"}}}',
      secret_fields: ["api_key"],
      actions: [{ name: "send_message", display_name: "Send", description: "Sends", input_schema: '{"type":"object"}', output_schema: "true", timeout_ms: 2000 }],
      test_timeout_ms: 3000,
    });
    assert.deepEqual(m.crons, [
      { name: "nightly-sync", schedule: "0 2 * * *", timezone: "Europe/Paris", overlap: "OVERLAP_POLICY_ALLOW", timeout_ms: 900_000, catch_up: "CATCH_UP_POLICY_ONCE" },
    ]);
  });

  it("uses the defaults and does not validate what the supervisor checks", async () => {
    const { manifest: m } = await describeModule({
      name: "m",
      version: "0",
      register(sdk) {
        sdk.registerRoute({ method: "get" as "GET", path: "orders/../x", handler: ok });
        sdk.registerRoute({ method: "GET", path: "orders/../x", handler: ok });
        sdk.registerCron({ name: "c", schedule: "every tuesday", handler: async () => {} });
      },
    });
    assert.equal(m.max_in_flight, 64);
    assert.equal(m.routes?.length, 2);
    assert.equal(m.routes?.[0]?.method, "GET");
    assert.equal(m.crons?.[0]?.overlap, "OVERLAP_POLICY_SKIP");
    assert.equal(m.crons?.[0]?.catch_up, "CATCH_UP_POLICY_NONE");
    assert.equal(m.crons?.[0]?.timezone, "");
  });

  it("waits for an async register and closes registration afterwards", async () => {
    let saved: Parameters<ConvoticModule["register"]>[0] | undefined;
    const { manifest } = await describeModule({
      name: "later",
      version: "1",
      async register(sdk) {
        await new Promise((r) => setTimeout(r, 5));
        sdk.registerRoute({ method: "GET", path: "/x", handler: ok });
        saved = sdk;
      },
    });
    assert.equal(manifest.routes?.length, 1);
    assert.throws(() => saved!.registerRoute({ method: "GET", path: "/y", handler: ok }), /registrations are closed/);
  });

  it("refuses objects that are not modules", async () => {
    await assert.rejects(describeModule(undefined as unknown as ConvoticModule), ModuleDefinitionError);
    await assert.rejects(describeModule({ name: "", version: "1", register() {} }), /no name/);
    await assert.rejects(describeModule({ name: "x", version: "1" } as ConvoticModule), /register\(sdk\) must be a function/);
    await assert.rejects(
      describeModule({ name: "x", version: "1", register() { throw new Error("oops"); } }),
      /register\(sdk\) failed: oops/,
    );
  });

  it("chooses the highest common protocol version", () => {
    assert.deepEqual(chooseVersion([1]), { version: 1 });
    assert.deepEqual(chooseVersion([3, 1, 2]), { version: 1 });
    assert.deepEqual(chooseVersion([2, 3]), { error: "this module speaks protocol versions [1]; the supervisor offered [2, 3]" });
    assert.ok("error" in chooseVersion([]));
  });

  it("finds handlers like the supervisor dispatches", () => {
    const registry = new Registry();
    registry.registerRoute({ method: "GET", path: "/a/:id", handler: ok });
    registry.registerWorkerHandler({ topic: "orders.created", name: "orders", handler: async () => {} });
    for (const version of ["1.2.0", "1.10.0", "1.9.0"]) {
      registry.registerNodeHandler({ type: "n", version, handler: async () => ({}) });
    }
    registry.seal();
    assert.ok(registry.findRoute("GET", "/a/:id", "/a/1"));
    assert.equal(registry.findRoute("POST", "/a/:id", "/a/1"), undefined);
    assert.deepEqual(registry.findRoute("GET", "", "/a/7")?.params, { id: "7" });
    assert.equal(registry.findRoute("GET", "", "/a/7/8"), undefined);
    assert.ok(registry.findWorker("orders", ""));
    assert.ok(registry.findWorker("", "orders.created"));
    assert.equal(registry.findWorker("x", "y"), undefined);
    assert.equal(registry.findNode("n", "")?.version, "1.10.0");
    assert.equal(registry.findNode("n", "1.2.0")?.version, "1.2.0");
    assert.equal(registry.findNode("n", "3.0.0"), undefined);
    assert.equal(buildManifest("m", "1", undefined, registry).nodes?.length, 3);
  });

  it("orders versions like semver", () => {
    assert.ok(compareVersions("1.10.0", "1.9.0") > 0);
    assert.ok(compareVersions("2.0.0-beta", "2.0.0") < 0);
    assert.equal(compareVersions("1.0", "1.0.0"), 0);
    assert.equal(compareVersions("1.0.0+build.7", "1.0.0"), 0);
  });
});
