// The documentation's module examples run unchanged on the SDK: the ERP webhook example
// (plugins-example/erp-webhook-ts) and the path-parameter and unauthenticated-route examples
// (test/fixtures/seed-examples.ts), each driven through a lane against a fake host.
import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

import { loadModuleFile } from "../src/loader.js";
import { serve } from "../src/index.js";
import { get, jsonBody, Lane, pluginClient, startFakeHost, tempDir } from "./support.js";

const TOKEN = "c".repeat(64);
const ERP = fileURLToPath(new URL("../../../plugins-example/erp-webhook-ts/src/index.ts", import.meta.url));
const SEEDS = fileURLToPath(new URL("./fixtures/seed-examples.ts", import.meta.url));

const json = (id: number, method: string, route: string, body: unknown, headers: Record<string, string> = {}) => ({
  invocation: {
    id,
    route: {
      method,
      path: route,
      route,
      headers: { "content-type": "application/json", ...headers },
      body_kind: "BODY_KIND_JSON" as const,
      body: Buffer.from(JSON.stringify(body)),
      authenticated: false,
    },
  },
});

describe("the documentation's examples", () => {
  it("the ERP webhook updates the contact found by external id", async () => {
    const dir = tempDir();
    const host = await startFakeHost(dir, TOKEN);
    host.contacts.set("ct_1", { id: "ct_1", external_id: "cust-42", name: "Ada", attributes_json: Buffer.from("{}") });
    const running = await serve(await loadModuleFile(ERP), { pluginSocket: path.join(dir, "p.sock"), hostSocket: host.socket, token: TOKEN });
    const client = pluginClient(path.join(dir, "p.sock"));
    try {
      assert.equal(running.manifest.name, "erp-webhook");
      const lane = new Lane(client);
      await lane.open(0);
      lane.send(json(1, "POST", "/webhook/erp", { customer_id: "cust-42", order_id: "SO-1001", status: "shipped" }));
      lane.send(json(2, "POST", "/webhook/erp", { customer_id: "nobody", order_id: "SO-1", status: "x" }));
      assert.deepEqual(jsonBody(await lane.outcome(1)), { status: 200, body: { ok: true }, headers: {} });
      assert.deepEqual(jsonBody(await lane.outcome(2)).body, { ok: true });
      const attributes = JSON.parse((host.contacts.get("ct_1")!.attributes_json as Buffer).toString());
      assert.deepEqual(attributes, { last_erp_order_id: "SO-1001", last_erp_order_status: "shipped" });
      lane.halfClose();
    } finally {
      client.close();
      await running.stop();
      await host.close();
    }
  });

  it("the path-parameter and unauthenticated examples", async () => {
    const dir = tempDir();
    const host = await startFakeHost(dir, TOKEN);
    host.storage.set("order:42", { value: Buffer.from('{"id":"42","status":"shipped"}'), revision: 1 });
    const running = await serve(await loadModuleFile(SEEDS), { pluginSocket: path.join(dir, "p.sock"), hostSocket: host.socket, token: TOKEN });
    const client = pluginClient(path.join(dir, "p.sock"));
    try {
      assert.deepEqual(
        running.manifest.routes?.map((r) => [r.method, r.path, r.auth]),
        [
          ["GET", "/orders/:orderId", "AUTH_MODE_API_KEY"],
          ["POST", "/webhook/external", "AUTH_MODE_NONE"],
        ],
      );
      const lane = new Lane(client);
      await lane.open(0);
      lane.send(get(1, "/orders/42", "/orders/:orderId", { orderId: "42" }));
      lane.send(get(2, "/orders/7", "/orders/:orderId", { orderId: "7" }));
      lane.send(json(3, "POST", "/webhook/external", { event: "paid" }));
      lane.send(json(4, "POST", "/webhook/external", { event: "paid" }, { "x-demo-signature": "valid" }));
      assert.deepEqual(jsonBody(await lane.outcome(1)).body, { id: "42", status: "shipped" });
      assert.deepEqual(jsonBody(await lane.outcome(2)), { status: 404, body: { error: "Order not found" }, headers: {} });
      assert.equal(jsonBody(await lane.outcome(3)).status, 401);
      assert.deepEqual(jsonBody(await lane.outcome(4)).body, { ok: true });
      assert.equal(host.runs.length, 1);
      assert.equal(host.runs[0]!.workflow_id, "wf_abc123");
      lane.halfClose();
    } finally {
      client.close();
      await running.stop();
      await host.close();
    }
  });
});
