// The conformance module (tests/conformance/SPEC.md) written with the TypeScript SDK
// (@convotic/block-sdk): every route, the worker, the cron, the node and the block the
// conformance suite checks. With CONFORMANCE_BREAK=<check> set, it misbehaves in that one check
// on purpose, so the suite can prove it catches the fault.
import { setTimeout as sleep } from "node:timers/promises";

import { discard, HandlerError, type ConvoticModule, type RouteRequest } from "@convotic/block-sdk";

/** The check this instance breaks on purpose, if any. */
const BREAK = process.env.CONFORMANCE_BREAK ?? "";
const broken = (check: string): boolean => BREAK === check;

const notFound = { status: 404, body: { error: "not found" } };

/** Worker payload of `conformance.jobs`. */
interface Job {
  id: string;
  fail_times?: number;
  discard?: boolean;
}

/** The decoded `:ms` / `:code` parameter, or undefined when it is not a whole number. */
function intParam(req: RouteRequest, name: string): number | undefined {
  const text = req.params[name] ?? "";
  return /^\d{1,9}$/.test(text) ? Number(text) : undefined;
}

const module: ConvoticModule = {
  name: "conformance",
  version: "1.0.0",
  register(sdk) {
    // ---- Routes --------------------------------------------------------------------------
    sdk.registerRoute({
      method: "GET",
      path: "/echo/:id",
      handler: async (req) => ({
        status: 200,
        body: { id: broken("routes.echo") ? "wrong" : req.params.id, query: req.query, method: "GET" },
      }),
    });

    sdk.registerRoute({
      method: "POST",
      path: "/echo",
      handler: async (req) => ({
        status: 200,
        body: { body: broken("routes.body") ? null : req.body, content_type: req.headers["content-type"] ?? null },
      }),
    });

    sdk.registerRoute({
      method: "POST",
      path: "/public",
      auth: false,
      handler: async (req) => ({
        status: broken("routes.public") ? 200 : 201,
        headers: { "x-conformance": "yes" },
        body: { authenticated: req.authenticated },
      }),
    });

    sdk.registerRoute({
      method: "GET",
      path: "/status/:code",
      handler: async (req) => {
        const code = intParam(req, "code");
        if (code === undefined || code < 200 || code > 599) {
          return { status: 400, body: { error: "code must be a number within 200-599" } };
        }
        return { status: broken("routes.status") ? 200 : code, body: { code } };
      },
    });

    sdk.registerRoute({
      method: "GET",
      path: "/error",
      handler: async () => {
        if (broken("routes.error")) return { status: 200, body: {} };
        throw new Error("boom");
      },
    });

    sdk.registerRoute({
      method: "GET",
      path: "/slow/:ms",
      timeout: broken("routes.deadline") ? undefined : 1000,
      handler: async (req, ctx) => {
        const ms = intParam(req, "ms");
        if (ms === undefined) return { status: 400, body: { error: "ms must be a number" } };
        // Rejects (and so stops the handler) when the call is cancelled or its deadline passes.
        await sleep(ms, undefined, { signal: ctx.signal });
        return { status: 200, body: { slept: ms } };
      },
    });

    sdk.registerRoute({
      method: "GET",
      path: "/crash",
      handler: async () => process.exit(1),
    });

    // ---- ctx: storage, contacts, messages, workflows, logger -------------------------------
    sdk.registerRoute({
      method: "PUT",
      path: "/kv/:key",
      handler: async (req, ctx) => {
        await ctx.storage.set(req.params.key!, broken("ctx.storage") ? { broken: true } : req.body);
        return { status: 204 };
      },
    });

    sdk.registerRoute({
      method: "GET",
      path: "/kv/:key",
      handler: async (req, ctx) => {
        const entry = await ctx.storage.getEntry(req.params.key!);
        return entry === null ? notFound : { status: 200, body: entry.value };
      },
    });

    // ctx.default_channel: the SDK's own Host client (grpc-js).
    sdk.registerRoute({
      method: "GET",
      path: "/host/default-channel/:key",
      handler: async (req, ctx) => {
        const key = req.params.key!;
        if (broken("ctx.default_channel")) return { status: 200, body: { value: null } };
        await ctx.storage.set(key, { via: "default channel", key });
        const entry = await ctx.storage.getEntry(key);
        return { status: 200, body: { value: entry === null ? null : entry.value } };
      },
    });

    sdk.registerRoute({
      method: "POST",
      path: "/contacts",
      handler: async (req, ctx) => {
        const contact = await ctx.contacts.create({ external_id: req.body?.external_id, name: req.body?.name });
        return { status: 201, body: { id: contact.id, external_id: contact.external_id, name: contact.name } };
      },
    });

    sdk.registerRoute({
      method: "GET",
      path: "/contacts/by-external/:externalId",
      handler: async (req, ctx) => {
        const contact = broken("ctx.contacts") ? null : await ctx.contacts.findByExternalId(req.params.externalId!);
        return contact === null ? notFound : { status: 200, body: { id: contact.id, name: contact.name, attributes: contact.attributes } };
      },
    });

    sdk.registerRoute({
      method: "PATCH",
      path: "/contacts/:id",
      handler: async (req, ctx) => {
        const contact = await ctx.contacts.update(req.params.id!, { attributes: req.body?.attributes });
        return { status: 200, body: { id: contact.id, attributes: contact.attributes } };
      },
    });

    sdk.registerRoute({
      method: "POST",
      path: "/messages",
      handler: async (req, ctx) => {
        const sent = await ctx.messages.send({ contact_id: String(req.body?.contact_id ?? ""), channel: "sms", text: String(req.body?.text ?? "") });
        const readBack = broken("ctx.messages") ? null : await ctx.messages.get(sent.id);
        return { status: 201, body: { id: sent.id, status: sent.status, read_back_status: readBack === null ? null : readBack.status } };
      },
    });

    sdk.registerRoute({
      method: "POST",
      path: "/workflows/:workflowId/trigger",
      handler: async (req, ctx) => {
        const run = await ctx.workflows.trigger(req.params.workflowId!, { payload: req.body });
        const readBack = await ctx.workflows.get(run.id);
        return { status: 202, body: { run_id: run.id, status: readBack === null ? null : readBack.status } };
      },
    });

    sdk.registerRoute({
      method: "GET",
      path: "/workflows/runs/:runId",
      handler: async (req, ctx) => {
        const run = broken("ctx.workflows") ? null : await ctx.workflows.get(req.params.runId!);
        return run === null ? notFound : { status: 200, body: { id: run.id, status: run.status, output: run.output, error: run.error } };
      },
    });

    sdk.registerRoute({
      method: "POST",
      path: "/log",
      handler: async (req, ctx) => {
        ctx.logger.info(String(req.body?.message ?? ""), { check: "ctx.logger" });
        return { status: 204 };
      },
    });

    // ---- Worker: workers.retry_and_dead_letter ----------------------------------------------
    sdk.registerWorkerHandler({
      topic: "conformance.jobs",
      maxAttempts: 3,
      handler: async (message, ctx) => {
        const job = message.payload as Job;
        const key = `job:${job.id}`;
        const previous = await ctx.storage.get<{ attempts?: number[] }>(key);
        const attempts = [...(previous?.attempts ?? []), message.attempt];
        const succeeds = !job.discard && message.attempt > (job.fail_times ?? 0);
        await ctx.storage.set(key, { attempts, done: succeeds && !broken("workers.retry_and_dead_letter") });
        if (job.discard) return discard("discarded on purpose");
        if (!succeeds) throw new HandlerError("failing on purpose", { retryable: true });
      },
    });

    // ---- Cron: crons.run_now -----------------------------------------------------------------
    sdk.registerCron({
      name: "tick",
      schedule: "0 0 1 1 *",
      timezone: "UTC",
      handler: async (tick, ctx) => {
        if (broken("crons.run_now")) throw new Error("broken on purpose");
        await ctx.storage.set("cron:last", { run_id: tick.runId, manual: tick.manual });
      },
    });

    // ---- Node: nodes.invoke ------------------------------------------------------------------
    sdk.registerNodeHandler({
      type: "conformance_double",
      version: "1.0.0",
      displayName: "Double",
      category: "Conformance",
      inputSchema: {
        type: "object",
        required: ["value"],
        properties: { value: { type: "integer" } },
        additionalProperties: false,
      },
      outputSchema: { type: "object", required: ["doubled"], properties: { doubled: { type: "integer" } } },
      branches: ["even", "odd"],
      handler: async ({ input }) => {
        const value = input.value as number;
        if (value === 13) throw new HandlerError("unlucky", { retryable: true });
        return {
          output: { doubled: value * (broken("nodes.invoke") ? 3 : 2) },
          branch: value % 2 === 0 ? "even" : "odd",
        };
      },
    });

    // ---- Block: blocks.connection_and_action -------------------------------------------------
    sdk.registerBlock({
      id: "conformance-block",
      name: "Conformance Block",
      connectionSchema: {
        type: "object",
        required: ["token"],
        properties: { token: { type: "string" }, label: { type: "string" } },
      },
      secretFields: ["token"],
      testConnection: async (connection) => {
        if (connection.config.token === "good-token" || broken("blocks.connection_and_action")) {
          return { ok: true, accountLabel: "conformance" };
        }
        return { ok: false, message: "bad token: rejected" };
      },
      actions: [
        {
          name: "whoami",
          inputSchema: { type: "object" },
          outputSchema: { type: "object", required: ["token_length"], properties: { token_length: { type: "integer" } } },
          handler: async ({ connection }) => ({ token_length: String(connection.config.token ?? "").length }),
        },
      ],
    });
  },
};

export default module;
