// Runs one invocation: finds the registered handler (docs/PROTOCOL.md §5.2), converts the
// request into what the handler receives, runs it (through the route's middleware) and converts
// its result — or what it threw — into the Outcome result (§5.10-§5.14). Deadlines and
// cancellation are the lane's business (work.ts).
import { inspect } from "node:util";

import { describeFailure, errorFromThrown, protoError, type ErrorCodeName } from "./errors.js";
import type { Connection as PbConnection } from "./generated/convotic/plugin/v1/Connection.js";
import type { Invocation__Output } from "./generated/convotic/plugin/v1/Invocation.js";
import type { Outcome } from "./generated/convotic/plugin/v1/Outcome.js";
import type { RouteRequest__Output } from "./generated/convotic/plugin/v1/RouteRequest.js";
import type { RouteResponse as PbRouteResponse } from "./generated/convotic/plugin/v1/RouteResponse.js";
import { createContext, type CallInfo, type Identity } from "./context.js";
import type { Host } from "./host.js";
import { jsonBytes, jsonText, parseJson } from "./json.js";
import type { Registry } from "./registry.js";
import type {
  Connection,
  ConvoticContext,
  Middleware,
  MiddlewareFunction,
  RouteDefinition,
  RouteRequest,
  RouteResponse,
  WorkerResult,
} from "./types.js";

/** An Outcome without its id: exactly one result variant. */
export type OutcomeResult = Omit<Outcome, "id" | "result">;

export function errorResult(code: ErrorCodeName, message: string, retryable = false): OutcomeResult {
  return { error: protoError(code, message, retryable) };
}

const notFound = (message: string): OutcomeResult => errorResult("ERROR_CODE_NOT_FOUND", message);
const noHandler = (what: string): OutcomeResult => errorResult("ERROR_CODE_INTERNAL", `${what} was registered without a handler`);
const thrown = (err: unknown): OutcomeResult => ({ error: errorFromThrown(err) });

/** A Block connection whose configuration (with secrets) never shows in logs or JSON. */
export class BlockConnection implements Connection {
  readonly id: string;
  readonly blockId: string;
  readonly #config: Record<string, any>;

  constructor(id: string, blockId: string, config: Record<string, any>) {
    this.id = id;
    this.blockId = blockId;
    this.#config = config;
  }

  get config(): Record<string, any> {
    return this.#config;
  }

  /** Field names only: a serialised connection never carries a secret. */
  toJSON(): { id: string; blockId: string; configFields: string[] } {
    return { id: this.id, blockId: this.blockId, configFields: Object.keys(this.#config) };
  }

  [inspect.custom](): string {
    return `Connection ${inspect(this.toJSON())}`;
  }
}

/** The connection of an invocation; the error never quotes the configuration (it holds secrets). */
function connection(conn: PbConnection | null | undefined, blockId: string): BlockConnection {
  let config: unknown = {};
  if (conn?.config_json && (conn.config_json as Buffer).length > 0) {
    try {
      config = parseJson(conn.config_json as Buffer);
    } catch {
      throw Object.assign(new Error("the connection config is not valid JSON"), { badInput: true });
    }
  }
  const object = config !== null && typeof config === "object" && !Array.isArray(config) ? config : {};
  return new BlockConnection(String(conn?.id ?? ""), String(conn?.block_id || blockId), object as Record<string, unknown>);
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** Converts what a route handler returned into a RouteResponse, or explains why it cannot. */
export function routeResponse(res: unknown): OutcomeResult {
  const bad = (message: string): OutcomeResult => errorResult("ERROR_CODE_INTERNAL", message);
  if (res === null || typeof res !== "object") {
    return bad("the route handler returned no response (expected { status, body?, headers? })");
  }
  const { status, body, headers } = res as RouteResponse;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    return bad(`the route handler answered status ${String(status)}: it must be an integer within 200-599`);
  }
  const out: Record<string, string> = {};
  for (const [rawName, rawValue] of Object.entries(headers ?? {})) {
    if (rawValue === undefined || rawValue === null) continue;
    const name = rawName.toLowerCase();
    const value = String(rawValue);
    if (!HEADER_NAME.test(name)) return bad(`the route handler set an invalid header name ${JSON.stringify(rawName)}`);
    if (/[\r\n\0]/.test(value)) return bad(`the route handler set header ${JSON.stringify(name)} to a value with CR, LF or NUL`);
    if (name in out) return bad(`the route handler set header ${JSON.stringify(name)} twice`);
    out[name] = value;
  }
  const response: PbRouteResponse = { status, headers: out, body_kind: "BODY_KIND_EMPTY", body: Buffer.alloc(0) };
  if (body === undefined) {
    // No body.
  } else if (Buffer.isBuffer(body) || body instanceof Uint8Array || body instanceof ArrayBuffer) {
    response.body_kind = "BODY_KIND_BYTES";
    response.body = Buffer.from(body instanceof ArrayBuffer ? new Uint8Array(body) : body);
  } else if (typeof body === "string") {
    response.body_kind = "BODY_KIND_BYTES";
    response.body = Buffer.from(body, "utf8");
    if (!("content-type" in out)) out["content-type"] = "text/plain; charset=utf-8";
  } else {
    let text: string | undefined;
    try {
      text = jsonText(body);
    } catch (err) {
      return bad(`the response body cannot be encoded as JSON: ${(err as Error).message}`);
    }
    if (text === undefined) return bad(`the response body cannot be encoded as JSON (${typeof body})`);
    response.body_kind = "BODY_KIND_JSON";
    response.body = Buffer.from(text, "utf8");
  }
  return { route: response };
}

/** JSON bytes of a handler's output, or an INTERNAL error naming what failed. */
function outputBytes(what: string, value: unknown): Buffer | OutcomeResult {
  try {
    return jsonBytes(value);
  } catch (err) {
    return errorResult("ERROR_CODE_INTERNAL", `the ${what} cannot be encoded as JSON: ${(err as Error).message}`);
  }
}

function middlewareFunction(m: Middleware): MiddlewareFunction {
  return typeof m === "function" ? m : (req, ctx, next) => m.handle(req, ctx, next);
}

/** Runs the middleware chain of `route`, then its handler. */
function runChain(route: RouteDefinition, req: RouteRequest, ctx: ConvoticContext): Promise<RouteResponse> {
  const chain = (route.middleware ?? []).map(middlewareFunction);
  const step = async (index: number, request: RouteRequest): Promise<RouteResponse> => {
    const current = chain[index];
    if (current === undefined) return route.handler(request, ctx);
    let called = false;
    return current(request, ctx, (next?: RouteRequest) => {
      if (called) return Promise.reject(new Error("a middleware called next() twice"));
      called = true;
      return step(index + 1, next ?? request);
    });
  };
  return step(0, req);
}

/** Builds the RouteRequest a handler receives. Throws a BAD_INPUT result for an invalid JSON body. */
function routeRequest(req: RouteRequest__Output, requestId: string, route: string, params: Record<string, string>): RouteRequest | OutcomeResult {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body ?? []);
  const bodyIsJson = req.body_kind === "BODY_KIND_JSON";
  let body: unknown = null;
  if (bodyIsJson) {
    try {
      body = parseJson(raw);
    } catch (err) {
      return errorResult("ERROR_CODE_BAD_INPUT", `invalid JSON body: ${(err as Error).message}`);
    }
  }
  const headers = { ...(req.headers ?? {}) };
  return {
    body,
    query: { ...(req.query ?? {}) },
    params,
    headers,
    method: req.method,
    path: req.path,
    route,
    rawQuery: req.raw_query ?? "",
    rawBody: raw,
    bodyIsJson,
    workspace: req.workspace ?? "",
    authenticated: req.authenticated === true,
    remoteAddr: req.remote_addr ?? "",
    requestId,
    header(name: string): string | undefined {
      return headers[name.toLowerCase()];
    },
  };
}

const DISPOSITIONS = {
  ack: "DISPOSITION_ACK",
  retry: "DISPOSITION_RETRY",
  discard: "DISPOSITION_DISCARD",
} as const;

/** Finds and runs handlers. */
export class Dispatcher {
  constructor(
    readonly registry: Registry,
    readonly host: Host,
    readonly identity: Identity,
  ) {}

  /** The context of one invocation. */
  context(info: CallInfo): ConvoticContext {
    return createContext(this.host, this.identity, info);
  }

  /** Runs the invocation's handler to completion and returns the outcome result (never throws). */
  async run(inv: Invocation__Output, info: CallInfo): Promise<OutcomeResult> {
    try {
      switch (inv.kind) {
        case "route":
          return await this.route(inv.route!, info);
        case "message":
          return await this.worker(inv, info);
        case "node":
          return await this.node(inv, info);
        case "block_test":
          return await this.blockTest(inv, info);
        case "block_action":
          return await this.blockAction(inv, info);
        case "cron":
          return await this.cron(inv, info);
        default:
          return notFound("invocation of an unknown kind (a newer protocol?)");
      }
    } catch (err) {
      if (typeof err === "object" && err !== null && (err as { badInput?: boolean }).badInput) {
        return errorResult("ERROR_CODE_BAD_INPUT", (err as Error).message);
      }
      return thrown(err);
    }
  }

  private async route(req: RouteRequest__Output, info: CallInfo): Promise<OutcomeResult> {
    const method = String(req.method ?? "").toUpperCase();
    const found = this.registry.findRoute(method, req.route ?? "", req.path ?? "");
    if (!found) return notFound(`no route registered for ${method} ${req.route || req.path}`);
    const { route } = found;
    if (typeof route.handler !== "function") return noHandler(`route ${method} ${route.path}`);
    const params = found.params ? { ...(req.params ?? {}), ...found.params } : { ...(req.params ?? {}) };
    const request = routeRequest(req, info.requestId, req.route || route.path, params);
    if (!("header" in request)) return request;
    const ctx = this.context({ ...info, workspace: req.workspace || undefined });
    try {
      return routeResponse(await runChain(route, request, ctx));
    } catch (err) {
      return thrown(err);
    }
  }

  private async worker(inv: Invocation__Output, info: CallInfo): Promise<OutcomeResult> {
    const msg = inv.message!;
    const worker = this.registry.findWorker(msg.handler ?? "", msg.topic ?? "");
    if (!worker) return notFound(`no worker registered for handler ${JSON.stringify(msg.handler)} / topic ${JSON.stringify(msg.topic)}`);
    if (typeof worker.handler !== "function") return noHandler(`worker ${worker.name || worker.topic}`);
    const result = (disposition: keyof typeof DISPOSITIONS, reason = "", retryAfterMs?: number): OutcomeResult => ({
      message: {
        disposition: DISPOSITIONS[disposition],
        reason,
        retry_after_ms: retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs <= 0 ? 0 : Math.min(Math.round(retryAfterMs), 0xffffffff),
      },
    });
    let payload: unknown;
    try {
      payload = parseJson(msg.payload_json as Buffer);
    } catch (err) {
      return result("discard", `invalid JSON payload: ${(err as Error).message}`);
    }
    let returned: WorkerResult | void;
    try {
      returned = await worker.handler(
        {
          payload,
          messageId: msg.message_id ?? "",
          attempt: msg.attempt ?? 0,
          topic: msg.topic ?? "",
          handler: msg.handler ?? "",
          headers: { ...(msg.headers ?? {}) },
          publishedAtMs: Number(msg.published_at_ms ?? 0),
        },
        this.context(info),
      );
    } catch (err) {
      const failure = describeFailure(err);
      if (failure.kind === "discard" || failure.kind === "bad_input") return result("discard", failure.message);
      return result("retry", failure.message, failure.retryAfterMs);
    }
    if (returned === undefined || returned === null || typeof returned !== "object" || !("disposition" in returned)) {
      return result("ack");
    }
    const disposition = returned.disposition;
    if (!(disposition in DISPOSITIONS)) {
      return errorResult("ERROR_CODE_INTERNAL", `the worker returned the unknown disposition ${JSON.stringify(disposition)} (ack, retry or discard)`);
    }
    return result(disposition, returned.reason ? String(returned.reason) : "", returned.retryAfterMs);
  }

  private async node(inv: Invocation__Output, info: CallInfo): Promise<OutcomeResult> {
    const call = inv.node!;
    const node = this.registry.findNode(call.node_type ?? "", call.node_version ?? "");
    if (!node) return notFound(`no node registered for type ${JSON.stringify(call.node_type)} version ${JSON.stringify(call.node_version)}`);
    if (typeof node.handler !== "function") return noHandler(`node ${node.type}@${node.version}`);
    let input: unknown;
    try {
      input = parseJson(call.input_json as Buffer);
    } catch (err) {
      return errorResult("ERROR_CODE_BAD_INPUT", `invalid JSON input: ${(err as Error).message}`);
    }
    const result = await node.handler(
      {
        input,
        nodeType: call.node_type ?? "",
        nodeVersion: call.node_version ?? "",
        workflowId: call.workflow_id ?? "",
        runId: call.run_id ?? "",
        stepId: call.step_id ?? "",
        connection: call.connection ? connection(call.connection, node.connectionBlock ?? "") : undefined,
      },
      this.context(info),
    );
    if (result !== undefined && (result === null || typeof result !== "object")) {
      return errorResult("ERROR_CODE_INTERNAL", "the node handler must return { output, branch }");
    }
    const output = outputBytes("node output", result?.output);
    if (!Buffer.isBuffer(output)) return output;
    return { node: { output_json: output, branch: result?.branch ? String(result.branch) : "" } };
  }

  private async blockTest(inv: Invocation__Output, info: CallInfo): Promise<OutcomeResult> {
    const test = inv.block_test!;
    const block = this.registry.findBlock(test.block_id ?? "");
    if (!block) return notFound(`no block registered with id ${JSON.stringify(test.block_id)}`);
    if (typeof block.testConnection !== "function") return notFound(`block ${JSON.stringify(block.id)} has no testConnection handler`);
    const result = await block.testConnection(connection(test.connection, block.id), this.context(info));
    if (typeof result === "boolean") return { block_test: { ok: result, message: "", account_label: "" } };
    if (result === null || typeof result !== "object") {
      return errorResult("ERROR_CODE_INTERNAL", "testConnection must return { ok, message?, accountLabel? }");
    }
    return { block_test: { ok: result.ok === true, message: String(result.message ?? ""), account_label: String(result.accountLabel ?? "") } };
  }

  private async blockAction(inv: Invocation__Output, info: CallInfo): Promise<OutcomeResult> {
    const call = inv.block_action!;
    const block = this.registry.findBlock(call.block_id ?? "");
    if (!block) return notFound(`no block registered with id ${JSON.stringify(call.block_id)}`);
    const action = (block.actions ?? []).find((a) => a.name === call.action);
    if (!action) return notFound(`block ${JSON.stringify(call.block_id)} has no action ${JSON.stringify(call.action)}`);
    if (typeof action.handler !== "function") return noHandler(`action ${action.name} of block ${block.id}`);
    let input: unknown;
    try {
      input = parseJson(call.input_json as Buffer);
    } catch (err) {
      return errorResult("ERROR_CODE_BAD_INPUT", `invalid JSON input: ${(err as Error).message}`);
    }
    const output = outputBytes(
      "action output",
      await action.handler(
        { input, connection: connection(call.connection, block.id), blockId: call.block_id ?? "", action: call.action ?? "" },
        this.context(info),
      ),
    );
    if (!Buffer.isBuffer(output)) return output;
    return { block_action: { output_json: output } };
  }

  private async cron(inv: Invocation__Output, info: CallInfo): Promise<OutcomeResult> {
    const tick = inv.cron!;
    const cron = this.registry.findCron(tick.cron ?? "");
    if (!cron) return notFound(`no cron registered with name ${JSON.stringify(tick.cron)}`);
    if (typeof cron.handler !== "function") return noHandler(`cron ${cron.name}`);
    const result = await cron.handler(
      {
        cron: tick.cron ?? "",
        runId: tick.run_id ?? "",
        scheduledAtMs: Number(tick.scheduled_at_ms ?? 0),
        firedAtMs: Number(tick.fired_at_ms ?? 0),
        manual: tick.manual === true,
      },
      this.context(info),
    );
    const message = typeof result === "string" ? result : result && typeof result === "object" && result.message ? String(result.message) : "";
    return { cron: { message } };
  }
}
