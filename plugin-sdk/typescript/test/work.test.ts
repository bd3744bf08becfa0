// The Work stream round trip against an in-process fake supervisor over a real Unix socket:
// health, Describe, lanes, every invocation kind, concurrency, deadlines, cancel, host calls with
// the token, Shutdown (drain, UNAVAILABLE, abandoned) and the lane's end after half-close.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";

import {
  discard,
  DiscardError,
  HandlerError,
  retry,
  serve,
  type ConvoticModule,
  type RunningModule,
} from "../src/index.js";
import type { DescribeResponse__Output } from "../src/generated/convotic/plugin/v1/DescribeResponse.js";
import type { PluginClient } from "../src/generated/convotic/plugin/v1/Plugin.js";
import type { ShutdownResponse__Output } from "../src/generated/convotic/plugin/v1/ShutdownResponse.js";
import { protocol } from "../src/proto.js";
import { get, healthCheck, jsonBody, Lane, pluginClient, startFakeHost, tempDir, unary, type FakeHost } from "./support.js";

const TOKEN = "a".repeat(64);

/** Handler calls that observed their abort signal, by request id. */
const aborted = new Map<string, string>();

const testModule: ConvoticModule = {
  name: "work-test",
  version: "2.0.0",
  maxInFlight: 8,
  register(sdk) {
    sdk.registerRoute({
      method: "GET",
      path: "/hello/:name",
      handler: async (req, ctx) => ({
        status: 200,
        headers: { "X-Req": ctx.requestId },
        body: { hello: req.params.name, workspace: ctx.workspace, query: req.query },
      }),
    });
    sdk.registerRoute({
      method: "GET",
      path: "/sleep/:ms",
      handler: async (req, ctx) => {
        try {
          await sleep(Number(req.params.ms), undefined, { signal: ctx.signal });
        } catch (err) {
          aborted.set(ctx.requestId, String((ctx.signal.reason as Error)?.message));
          throw err;
        }
        return { status: 200, body: { slept: Number(req.params.ms) } };
      },
    });
    sdk.registerRoute({ method: "GET", path: "/fail", handler: async () => { throw new HandlerError("nope", { retryable: true, details: { why: 1 } }); } });
    sdk.registerRoute({ method: "GET", path: "/throw", handler: async () => { throw new Error("boom"); } });
    sdk.registerRoute({ method: "GET", path: "/bad-status", handler: async () => ({ status: 99 }) });
    sdk.registerRoute({ method: "GET", path: "/text", handler: async () => ({ status: 200, body: "plain" }) });
    sdk.registerRoute({ method: "GET", path: "/bytes", handler: async () => ({ status: 200, body: Buffer.from([1, 2, 3]), headers: { "content-type": "application/octet-stream" } }) });
    sdk.registerRoute({ method: "GET", path: "/empty", handler: async () => ({ status: 204 }) });
    sdk.registerRoute({ method: "GET", path: "/huge", handler: async () => ({ status: 200, body: Buffer.alloc(17 * 1024 * 1024) }) });
    sdk.registerRoute({
      method: "POST",
      path: "/guarded",
      middleware: [
        function requireKey(req, _ctx, next) {
          return req.header("X-Key") === "ok" ? next() : { status: 401, body: { error: "denied" } };
        },
        { name: "tag", handle: async (req, ctx, next) => ({ ...(await next(req)), headers: { "x-tag": "1" } }) },
      ],
      handler: async (req) => ({ status: 200, body: { got: req.body, raw: req.rawBody.toString() } }),
    });
    sdk.registerRoute({
      method: "PUT",
      path: "/kv/:key",
      handler: async (req, ctx) => {
        const entry = await ctx.storage.set(req.params.key!, req.body);
        ctx.logger.info("stored", { key: req.params.key });
        return { status: 200, body: { revision: entry.revision, value: await ctx.storage.get(req.params.key!) } };
      },
    });
    sdk.registerRoute({
      method: "GET",
      path: "/contact/:ext",
      handler: async (req, ctx) => {
        const contact = await ctx.contacts.findByExternalId(req.params.ext!);
        if (!contact) return { status: 404, body: { error: "no contact" } };
        const updated = await ctx.contacts.update(contact.id, { attributes: { seen: true } });
        return { status: 200, body: updated };
      },
    });
    sdk.registerRoute({
      method: "GET",
      path: "/outbox",
      handler: async (_req, ctx) => {
        const sent = await ctx.messages.send({ contact_id: "ct_1", channel: "sms", text: "hi" });
        const run = await ctx.workflows.trigger("wf_1", { payload: { n: 1 } });
        return {
          status: 200,
          body: {
            message: await ctx.messages.get(sent.id),
            failed: await ctx.messages.get("msg_failed"),
            run: await ctx.workflows.get(run.id),
            done: await ctx.workflows.get("run_done"),
            missing: [await ctx.messages.get("msg_none"), await ctx.workflows.get("run_none")],
          },
        };
      },
    });
    sdk.registerWorkerHandler({
      topic: "orders.created",
      concurrency: 2,
      handler: async (msg) => {
        switch (msg.payload?.action) {
          case "ack":
            return;
          case "discard":
            return discard("poison");
          case "retry":
            return retry("later", { afterMs: 1500 });
          case "throw-discard":
            throw new DiscardError("cannot ever work");
          default:
            throw new Error(`failed attempt ${msg.attempt}`);
        }
      },
    });
    sdk.registerNodeHandler({
      type: "greet",
      version: "1.0.0",
      branches: ["found", "missing"],
      handler: async ({ input }) => ({ output: { greeting: `hi ${input.name}` }, branch: "found" }),
    });
    sdk.registerNodeHandler({
      type: "greet",
      version: "1.10.0",
      branches: ["found", "missing"],
      handler: async () => ({ output: { v: "1.10.0" }, branch: "missing" }),
    });
    sdk.registerBlock({
      id: "sms",
      secretFields: ["api_key"],
      testConnection: async (conn) => (conn.config.api_key === "good" ? { ok: true, accountLabel: "acct" } : { ok: false, message: "rejected" }),
      actions: [
        {
          name: "send",
          handler: async (call) => ({ sent: call.input.to, block: call.blockId, key_length: call.connection.config.api_key.length, json: JSON.stringify(call.connection) }),
        },
      ],
    });
    sdk.registerCron({ name: "tick", schedule: "@hourly", handler: async (tick) => `ran ${tick.runId}` });
  },
};

describe("the Work stream against a fake supervisor", () => {
  let dir: string;
  let host: FakeHost;
  let running: RunningModule;
  let socket: string;
  let client: PluginClient;

  before(async () => {
    dir = tempDir();
    host = await startFakeHost(dir, TOKEN);
    socket = path.join(dir, "plugin.sock");
    running = await serve(testModule, { pluginSocket: socket, hostSocket: host.socket, token: TOKEN, workspace: "ws_env", instance: "i9" });
    client = pluginClient(socket);
  });

  after(async () => {
    client.close();
    await running.stop();
    await host.close();
  });

  it("reports SERVING and describes the module", async () => {
    assert.equal(await healthCheck(socket), "SERVING");
    assert.equal(await healthCheck(socket, "convotic.plugin.v1.Plugin"), "SERVING");
    const described = await unary<unknown, DescribeResponse__Output>(client, "Describe", {
      protocol_versions: [3, 1, 2],
      features: ["work.cancel", "work.lanes", "shutdown.drain", "some.future.feature"],
      supervisor_version: "9.9.9",
    });
    assert.equal(described.protocol_version, 1);
    assert.deepEqual(described.features, ["work.cancel", "work.lanes", "shutdown.drain", "work.batch"]);
    assert.equal(described.manifest?.name, "work-test");
    assert.equal(described.manifest?.max_in_flight, 8);
    assert.equal(described.manifest?.sdk?.language, "typescript");
    assert.equal(described.manifest?.routes.length, 13);
    const again = await unary<unknown, DescribeResponse__Output>(client, "Describe", { protocol_versions: [1] });
    assert.deepEqual(again.manifest, described.manifest);
  });

  it("serves a caller whose :authority is the percent-encoded socket path (grpcio's default)", async () => {
    // PROTOCOL.md §2.3: servers accept any :authority; grpc-core clients send this one for unix: targets.
    const Ctor = protocol().plugin.Plugin;
    const grpcCore = new Ctor(`unix:${socket}`, grpc.credentials.createInsecure(), {
      "grpc.default_authority": encodeURIComponent(socket),
    });
    try {
      const described = await unary<unknown, DescribeResponse__Output>(grpcCore, "Describe", { protocol_versions: [1] });
      assert.equal(described.manifest?.name, "work-test");
    } finally {
      grpcCore.close();
    }
  });

  it("refuses a supervisor speaking no common version with FAILED_PRECONDITION", async () => {
    await assert.rejects(unary(client, "Describe", { protocol_versions: [2, 3] }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.match(err.details, /speaks protocol versions \[1\]/);
      return true;
    });
  });

  it("answers LaneOpen and routes on two lanes", async () => {
    const lane0 = new Lane(client);
    const lane1 = new Lane(client);
    await lane0.open(0);
    await lane1.open(1);
    lane1.send(get(1, "/hello/ann", "/hello/:name", { name: "ann" }));
    lane0.send(get(2, "/hello/bob", "", {}));
    const one = jsonBody(await lane1.outcome(1));
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, { hello: "ann", workspace: "ws_test", query: {} });
    assert.equal(one.headers["x-req"], "req-1");
    // Without the matched pattern, the SDK matches the path itself.
    assert.deepEqual(jsonBody(await lane0.outcome(2)).body, { hello: "bob", workspace: "ws_test", query: {} });
    assert.equal(lane0.outcomes(1).length, 0, "outcomes go back on the invocation's lane");
    lane0.halfClose();
    lane1.halfClose();
    await lane0.until(() => lane0.status !== undefined, "the end of lane 0");
    assert.equal(lane0.status?.code, grpc.status.OK);
  });

  it("runs invocations concurrently and answers each exactly once", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(10, "/sleep/300", "/sleep/:ms", { ms: "300" }));
    lane.send(get(11, "/sleep/10", "/sleep/:ms", { ms: "10" }));
    await lane.outcome(11);
    assert.equal(lane.outcomes(10).length, 0, "the fast one finished first");
    assert.deepEqual(jsonBody(await lane.outcome(10)).body, { slept: 300 });
    lane.halfClose();
    await lane.until(() => lane.status !== undefined, "the end of the lane");
    assert.equal(lane.outcomes(10).length + lane.outcomes(11).length, 2);
  });

  it("maps errors, bad responses and unknown names", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(20, "/fail", "/fail"));
    lane.send(get(21, "/throw", "/throw"));
    lane.send(get(22, "/bad-status", "/bad-status"));
    lane.send(get(23, "/nope", "/nope"));
    lane.send({ invocation: { id: 24 } });
    lane.send(get(25, "/huge", "/huge"));
    const fail = (await lane.outcome(20)).error!;
    assert.deepEqual([fail.code, fail.message, fail.retryable, fail.details_json.toString()], ["ERROR_CODE_HANDLER", "nope", true, '{"why":1}']);
    const thrown = (await lane.outcome(21)).error!;
    assert.deepEqual([thrown.code, thrown.message, thrown.retryable], ["ERROR_CODE_HANDLER", "boom", false]);
    const bad = (await lane.outcome(22)).error!;
    assert.equal(bad.code, "ERROR_CODE_INTERNAL");
    assert.match(bad.message, /status 99/);
    const missing = (await lane.outcome(23)).error!;
    assert.deepEqual([missing.code, missing.message], ["ERROR_CODE_NOT_FOUND", "no route registered for GET /nope"]);
    assert.equal((await lane.outcome(24)).error!.code, "ERROR_CODE_NOT_FOUND");
    const huge = (await lane.outcome(25)).error!;
    assert.equal(huge.code, "ERROR_CODE_INTERNAL");
    assert.match(huge.message, /too large/);
    lane.halfClose();
  });

  it("sends text, bytes and empty bodies, and runs middleware", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(30, "/text", "/text"));
    lane.send(get(31, "/bytes", "/bytes"));
    lane.send(get(32, "/empty", "/empty"));
    const post = (id: number, key: string) => ({
      invocation: {
        id,
        route: { method: "POST", path: "/guarded", route: "/guarded", headers: { "x-key": key }, body_kind: "BODY_KIND_JSON" as const, body: Buffer.from('{"a":1}') },
      },
    });
    lane.send(post(33, "bad"));
    lane.send(post(34, "ok"));
    const text = (await lane.outcome(30)).route!;
    assert.deepEqual([text.body_kind, text.body.toString(), text.headers["content-type"]], ["BODY_KIND_BYTES", "plain", "text/plain; charset=utf-8"]);
    const bytes = (await lane.outcome(31)).route!;
    assert.deepEqual([bytes.body_kind, [...bytes.body]], ["BODY_KIND_BYTES", [1, 2, 3]]);
    const empty = (await lane.outcome(32)).route!;
    assert.deepEqual([empty.status, empty.body_kind, empty.body.length], [204, "BODY_KIND_EMPTY", 0]);
    assert.deepEqual(jsonBody(await lane.outcome(33)), { status: 401, body: { error: "denied" }, headers: {} });
    const passed = jsonBody(await lane.outcome(34));
    assert.deepEqual(passed.body, { got: { a: 1 }, raw: '{"a":1}' });
    assert.equal(passed.headers["x-tag"], "1");
    lane.halfClose();
  });

  it("answers DEADLINE_EXCEEDED at the deadline and aborts the handler", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    const started = Date.now();
    lane.send(get(40, "/sleep/10000", "/sleep/:ms", { ms: "10000" }, 100));
    const outcome = await lane.outcome(40);
    assert.deepEqual([outcome.error?.code, outcome.error?.retryable], ["ERROR_CODE_DEADLINE_EXCEEDED", true]);
    assert.ok(Date.now() - started < 2000);
    await sleep(20);
    assert.equal(aborted.get("req-40"), "deadline exceeded");
    // A late Cancel of an answered invocation is ignored.
    lane.send({ cancel: { id: 40, reason: "deadline exceeded" } });
    lane.send(get(41, "/hello/x", "/hello/:name", { name: "x" }));
    await lane.outcome(41);
    assert.equal(lane.outcomes(40).length, 1);
    lane.halfClose();
  });

  /** Sends one WorkBatch of six quick invocations and a cancel of a seventh; returns the lane. */
  async function runBatch(offered: string[], firstId: number): Promise<Lane> {
    await unary(client, "Describe", { protocol_versions: [1], features: offered });
    const lane = new Lane(client);
    await lane.open(0);
    const ids = [...Array(6).keys()].map((i) => firstId + i);
    const slow = get(firstId + 6, "/sleep/10000", "/sleep/:ms", { ms: "10000" }).invocation!;
    lane.send({
      batch: {
        invocations: [...ids.map((id) => get(id, `/hello/b${id}`, "/hello/:name", { name: `b${id}` }).invocation!), slow],
        cancels: [{ id: firstId + 6, reason: "batched cancel" }, { id: 123456 }],
      },
    });
    await lane.until(() => lane.allOutcomes().length >= 7, "seven outcomes");
    lane.halfClose();
    await lane.until(() => lane.status !== undefined, "the end of the lane");
    assert.equal(lane.status?.code, grpc.status.OK);
    for (const id of ids) {
      assert.equal(lane.outcomes(id).length, 1, `one outcome for ${id}`);
      assert.deepEqual(jsonBody(lane.outcomes(id)[0]!).body, { hello: `b${id}`, workspace: "ws_test", query: {} });
    }
    const cancelled = lane.outcomes(firstId + 6);
    assert.equal(cancelled.length, 1);
    assert.equal(cancelled[0]!.error?.code, "ERROR_CODE_CANCELLED");
    assert.equal(lane.allOutcomes().length, 7);
    return lane;
  }

  it("handles a WorkBatch and batches outcomes ready at once when work.batch was offered", async () => {
    const lane = await runBatch(["work.cancel", "work.batch"], 700);
    const outcomeFrames = lane.frames.filter((f) => f.frame === "outcome" || f.frame === "outcomes");
    assert.ok(lane.frames.some((f) => f.frame === "outcomes"), "at least one OutcomeBatch frame");
    assert.ok(outcomeFrames.length < 7, `fewer frames than outcomes: ${outcomeFrames.length}`);
    for (const f of lane.frames) if (f.frame === "outcomes") assert.ok(f.outcomes!.outcomes.length > 1, "a batch holds several outcomes");
  });

  it("sends one plain outcome frame each when work.batch was not offered", async () => {
    const lane = await runBatch(["work.cancel"], 720);
    assert.equal(lane.frames.filter((f) => f.frame === "outcome").length, 7);
    assert.ok(!lane.frames.some((f) => f.frame === "outcomes"));
  });

  it("answers CANCELLED exactly once, and ignores unknown ids and frames", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(50, "/sleep/10000", "/sleep/:ms", { ms: "10000" }));
    lane.send({ cancel: { id: 50, reason: "caller went away" } });
    lane.send({ cancel: { id: 999 } });
    lane.send({});
    const outcome = await lane.outcome(50);
    assert.deepEqual([outcome.error?.code, outcome.error?.message, outcome.error?.retryable], ["ERROR_CODE_CANCELLED", "cancelled: caller went away", false]);
    // Cancels racing completions: still one outcome each.
    for (let id = 51; id <= 90; id++) {
      lane.send(get(id, "/sleep/1", "/sleep/:ms", { ms: "1" }));
      lane.send({ cancel: { id } });
    }
    await lane.until(() => [...Array(40).keys()].every((i) => lane.outcomes(51 + i).length > 0), "40 outcomes");
    lane.halfClose();
    await lane.until(() => lane.status !== undefined, "the end of the lane");
    assert.equal(lane.status?.code, grpc.status.OK);
    for (let id = 50; id <= 90; id++) assert.equal(lane.outcomes(id).length, 1, `one outcome for ${id}`);
    assert.equal(aborted.get("req-50"), "cancelled: caller went away");
  });

  it("maps worker results and errors to dispositions", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    const msg = (id: number, payload: string) => ({
      invocation: { id, message: { handler: "orders.created", topic: "orders.created", message_id: `m${id}`, payload_json: Buffer.from(payload), attempt: 2 } },
    });
    lane.send(msg(60, '{"action":"ack"}'));
    lane.send(msg(61, '{"action":"discard"}'));
    lane.send(msg(62, '{"action":"retry"}'));
    lane.send(msg(63, '{"action":"other"}'));
    lane.send(msg(64, '{"action":"throw-discard"}'));
    lane.send(msg(65, "{"));
    const disposition = async (id: number) => {
      const m = (await lane.outcome(id)).message!;
      return [m.disposition, m.reason, m.retry_after_ms];
    };
    assert.deepEqual(await disposition(60), ["DISPOSITION_ACK", "", 0]);
    assert.deepEqual(await disposition(61), ["DISPOSITION_DISCARD", "poison", 0]);
    assert.deepEqual(await disposition(62), ["DISPOSITION_RETRY", "later", 1500]);
    assert.deepEqual(await disposition(63), ["DISPOSITION_RETRY", "failed attempt 2", 0]);
    assert.deepEqual(await disposition(64), ["DISPOSITION_DISCARD", "cannot ever work", 0]);
    assert.equal((await disposition(65))[0], "DISPOSITION_DISCARD");
    lane.halfClose();
  });

  it("runs nodes, blocks and crons", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    lane.send({ invocation: { id: 70, node: { node_type: "greet", node_version: "1.0.0", input_json: Buffer.from('{"name":"ann"}') } } });
    lane.send({ invocation: { id: 71, node: { node_type: "greet", node_version: "", input_json: Buffer.from("{}") } } });
    lane.send({ invocation: { id: 72, node: { node_type: "greet", node_version: "3.0.0" } } });
    const conn = (key: string) => ({ id: "c1", block_id: "sms", config_json: Buffer.from(JSON.stringify({ api_key: key })) });
    lane.send({ invocation: { id: 73, block_test: { block_id: "sms", connection: conn("good") } } });
    lane.send({ invocation: { id: 74, block_test: { block_id: "sms", connection: conn("bad") } } });
    lane.send({ invocation: { id: 75, block_action: { block_id: "sms", action: "send", connection: conn("secret-value"), input_json: Buffer.from('{"to":"+33"}') } } });
    lane.send({ invocation: { id: 76, block_action: { block_id: "sms", action: "missing" } } });
    lane.send({ invocation: { id: 77, cron: { cron: "tick", run_id: "r9" } } });
    lane.send({ invocation: { id: 78, cron: { cron: "nope" } } });
    const node = (await lane.outcome(70)).node!;
    assert.deepEqual([node.branch, JSON.parse(node.output_json.toString())], ["found", { greeting: "hi ann" }]);
    const newest = (await lane.outcome(71)).node!;
    assert.deepEqual([newest.branch, JSON.parse(newest.output_json.toString())], ["missing", { v: "1.10.0" }], "empty version: the newest");
    assert.equal((await lane.outcome(72)).error?.code, "ERROR_CODE_NOT_FOUND");
    assert.deepEqual((await lane.outcome(73)).block_test, { ok: true, message: "", account_label: "acct" });
    assert.deepEqual((await lane.outcome(74)).block_test, { ok: false, message: "rejected", account_label: "" });
    const action = JSON.parse((await lane.outcome(75)).block_action!.output_json.toString());
    assert.deepEqual([action.sent, action.block, action.key_length], ["+33", "sms", 12]);
    assert.ok(!action.json.includes("secret-value"), `a serialised connection hides secrets: ${action.json}`);
    assert.equal((await lane.outcome(76)).error?.code, "ERROR_CODE_NOT_FOUND");
    assert.deepEqual((await lane.outcome(77)).cron, { message: "ran r9" });
    assert.equal((await lane.outcome(78)).error?.code, "ERROR_CODE_NOT_FOUND");
    lane.halfClose();
  });

  it("calls the host services with the token and the request id", async () => {
    const lane = new Lane(client);
    await lane.open(0);
    lane.send({
      invocation: {
        id: 80,
        request_id: "req-kv",
        route: { method: "PUT", path: "/kv/a", route: "/kv/:key", params: { key: "a" }, body_kind: "BODY_KIND_JSON", body: Buffer.from('{"n":1}') },
      },
    });
    assert.deepEqual(jsonBody(await lane.outcome(80)).body, { revision: 1, value: { n: 1 } });
    host.contacts.set("ct_1", { id: "ct_1", external_id: "cust-42", name: "Ada", attributes_json: Buffer.from('{"a":1}') });
    lane.send(get(81, "/contact/cust-42", "/contact/:ext", { ext: "cust-42" }));
    lane.send(get(82, "/contact/nobody", "/contact/:ext", { ext: "nobody" }));
    const updated = jsonBody(await lane.outcome(81)).body as Record<string, unknown>;
    assert.deepEqual([updated.id, updated.name, updated.attributes], ["ct_1", "Ada", { a: 1, seen: true }]);
    assert.deepEqual(host.contacts.get("ct_1")!.present, ["id", "attributes_json"], "unset optional fields are not sent");
    assert.equal(jsonBody(await lane.outcome(82)).status, 404);
    assert.ok(host.tokens.length >= 4 && host.tokens.every((t) => t === TOKEN), "every host call carries the token");
    assert.ok(host.requestIds.includes("req-kv"));
    const deadline = Date.now() + 2000;
    while (!host.logs.some((l) => l.message === "stored") && Date.now() < deadline) await sleep(10);
    assert.deepEqual(host.logs.find((l) => l.message === "stored"), { level: "LOG_LEVEL_INFO", message: "stored", fields: { key: "a" }, request_id: "req-kv" });
    lane.halfClose();
  });

  it("reads messages and workflow runs back, null when unknown", async () => {
    host.messages.push({ id: "msg_failed", status: "failed", provider_message_id: "prov-1", error: "invalid number" });
    host.runs.push({ id: "run_done", workflow_id: "wf_1", status: "succeeded", output_json: Buffer.from('{"total":3}') });
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(90, "/outbox", "/outbox", {}));
    const { status, body } = jsonBody(await lane.outcome(90)) as { status: number; body: Record<string, Record<string, unknown>> };
    assert.equal(status, 200);
    const { message, failed, run, done, missing } = body;
    assert.deepEqual(
      [message!.id, message!.status, message!.text, message!.provider_message_id, message!.error],
      [host.messages[host.messages.length - 1]!.id, "queued", "hi", "", ""],
    );
    assert.deepEqual([failed!.status, failed!.provider_message_id, failed!.error], ["failed", "prov-1", "invalid number"]);
    assert.deepEqual([run!.workflow_id, run!.status, run!.payload, run!.output, run!.error], ["wf_1", "queued", { n: 1 }, null, ""]);
    assert.deepEqual([done!.status, done!.output, done!.error], ["succeeded", { total: 3 }, ""]);
    assert.deepEqual(missing, [null, null]);
    lane.halfClose();
  });
});

describe("Shutdown", () => {
  it("drains: in-flight work finishes, new work is UNAVAILABLE, then the module stops", async () => {
    const dir = tempDir();
    const socket = path.join(dir, "plugin.sock");
    const running = await serve(testModule, { pluginSocket: socket });
    const client = pluginClient(socket);
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(1, "/sleep/300", "/sleep/:ms", { ms: "300" }));
    await sleep(30);
    const shutdown = unary<unknown, ShutdownResponse__Output>(client, "Shutdown", { grace_ms: 5000, reason: "test" });
    await sleep(30);
    assert.equal(await healthCheck(socket), "NOT_SERVING");
    lane.send(get(2, "/hello/x", "/hello/:name", { name: "x" }));
    const refused = (await lane.outcome(2)).error!;
    assert.deepEqual([refused.code, refused.retryable], ["ERROR_CODE_UNAVAILABLE", true]);
    assert.deepEqual((await shutdown).abandoned, 0);
    assert.deepEqual(jsonBody(await lane.outcome(1)).body, { slept: 300 });
    lane.halfClose();
    await lane.until(() => lane.status !== undefined, "the end of the lane");
    assert.equal(lane.status?.code, grpc.status.OK);
    await running.stopped;
    client.close();
  });

  it("answers what is still running at the end of the grace period UNAVAILABLE", async () => {
    const dir = tempDir();
    const socket = path.join(dir, "plugin.sock");
    const running = await serve(testModule, { pluginSocket: socket });
    const client = pluginClient(socket);
    const lane = new Lane(client);
    await lane.open(0);
    lane.send(get(1, "/sleep/10000", "/sleep/:ms", { ms: "10000" }));
    await sleep(30);
    const response = await unary<unknown, ShutdownResponse__Output>(client, "Shutdown", { grace_ms: 100 });
    assert.equal(response.abandoned, 1);
    const outcome = (await lane.outcome(1)).error!;
    assert.deepEqual([outcome.code, outcome.retryable], ["ERROR_CODE_UNAVAILABLE", true]);
    lane.halfClose();
    await running.stopped;
    assert.equal(lane.outcomes(1).length, 1);
    client.close();
  });
});
