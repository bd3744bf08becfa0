// Test support: an in-process fake supervisor — a gRPC client of the module's Plugin and Health
// services over a real Unix socket, driving Work lanes like the supervisor does — and a fake
// host (in-memory Storage, Contacts, Messages, Workflows and Logger services) that records the
// token each call carried.
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { ModuleFrame__Output } from "../src/generated/convotic/plugin/v1/ModuleFrame.js";
import type { Outcome__Output } from "../src/generated/convotic/plugin/v1/Outcome.js";
import type { PluginClient } from "../src/generated/convotic/plugin/v1/Plugin.js";
import type { SupervisorFrame } from "../src/generated/convotic/plugin/v1/SupervisorFrame.js";
import { protocol } from "../src/proto.js";

const tempDirs: string[] = [];
process.on("exit", () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory (short path: Unix socket paths must fit in 108 bytes), removed at exit. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cvt-ts-"));
  tempDirs.push(dir);
  return dir;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": 16 * 1024 * 1024,
  "grpc.max_send_message_length": 16 * 1024 * 1024,
};

/** A Plugin client on `socket`. */
export function pluginClient(socket: string): PluginClient {
  const Ctor = protocol().plugin.Plugin;
  return new Ctor(`unix:${socket}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
}

/** Health.Check(service) on `socket`: the status name. */
export async function healthCheck(socket: string, service = ""): Promise<string> {
  const Health = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, "Health");
  const client = new Health(`unix:${socket}`, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) => {
      const check = (client as unknown as { Check: (req: unknown, cb: (e: Error | null, r: { status: string }) => void) => void }).Check;
      check.call(
        client,
        { service },
        (err, res) => (err ? reject(err) : resolve(res.status)),
      );
    });
  } finally {
    client.close();
  }
}

/** Waits until `socket` answers Health SERVING (10 s at most). */
export async function waitServing(socket: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await healthCheck(socket)) === "SERVING") return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${socket} never became SERVING`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A unary call as a promise. */
export function unary<Req, Res>(client: PluginClient, method: "Describe" | "Shutdown", request: Req): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    (client[method] as unknown as (r: Req, cb: (e: grpc.ServiceError | null, res?: Res) => void) => void).call(
      client,
      request,
      (err, res) => (err ? reject(err) : resolve(res as Res)),
    );
  });
}

/** One Work stream, driven like the supervisor drives it. */
export class Lane {
  readonly call: grpc.ClientDuplexStream<SupervisorFrame, ModuleFrame__Output>;
  readonly frames: ModuleFrame__Output[] = [];
  private waiters: (() => void)[] = [];
  ended = false;
  status: grpc.StatusObject | undefined;

  constructor(client: PluginClient) {
    this.call = client.Work();
    this.call.on("data", (frame: ModuleFrame__Output) => {
      this.frames.push(frame);
      this.wake();
    });
    this.call.on("end", () => {
      this.ended = true;
      this.wake();
    });
    this.call.on("status", (status: grpc.StatusObject) => {
      this.status = status;
      this.wake();
    });
    this.call.on("error", () => this.wake());
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `predicate` holds (5 s at most). */
  async until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(frame: SupervisorFrame): void {
    this.call.write(frame);
  }

  /** Opens the lane and waits for LaneReady. */
  async open(lane: number): Promise<void> {
    this.send({ open: { lane } });
    await this.until(() => this.frames.some((f) => f.frame === "ready"), "LaneReady");
    const ready = this.frames.find((f) => f.frame === "ready");
    if (ready?.ready?.lane !== lane) throw new Error(`LaneReady for lane ${ready?.ready?.lane}, expected ${lane}`);
  }

  /** Every outcome received, from plain frames and OutcomeBatch frames, in order. */
  allOutcomes(): Outcome__Output[] {
    return this.frames.flatMap((f) => (f.frame === "outcome" ? [f.outcome!] : f.frame === "outcomes" ? f.outcomes!.outcomes : []));
  }

  /** Every outcome received for `id`. */
  outcomes(id: number | string): Outcome__Output[] {
    return this.allOutcomes().filter((o) => o.id === String(id));
  }

  /** Waits for the outcome of `id`. */
  async outcome(id: number | string, timeoutMs = 5000): Promise<Outcome__Output> {
    await this.until(() => this.outcomes(id).length > 0, `the outcome of ${id}`, timeoutMs);
    return this.outcomes(id)[0]!;
  }

  /** Half-closes the lane (the supervisor will send nothing more). */
  halfClose(): void {
    this.call.end();
  }
}

/** A GET route invocation. */
export function get(id: number, path: string, route: string, params: Record<string, string> = {}, timeoutMs = 0): SupervisorFrame {
  return {
    invocation: {
      id,
      timeout_ms: timeoutMs,
      request_id: `req-${id}`,
      route: { method: "GET", path, route, params, headers: { accept: "application/json" }, workspace: "ws_test", authenticated: true },
    },
  };
}

/** The JSON body of a route outcome. */
export function jsonBody(outcome: Outcome__Output): { status: number; body: unknown; headers: Record<string, string> } {
  if (outcome.result !== "route") throw new Error(`expected a route response, got ${JSON.stringify(outcome)}`);
  const r = outcome.route!;
  return { status: r.status, body: r.body.length ? JSON.parse(r.body.toString("utf8")) : undefined, headers: r.headers };
}

/** What the fake host saw. */
export interface FakeHost {
  socket: string;
  tokens: string[];
  requestIds: string[];
  storage: Map<string, { value: Buffer; revision: number }>;
  contacts: Map<string, Record<string, unknown>>;
  logs: { level: string; message: string; fields: unknown; request_id: string }[];
  runs: Record<string, unknown>[];
  messages: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts a fake host on a Unix socket; calls without `token` fail UNAUTHENTICATED. */
export async function startFakeHost(dir: string, token: string): Promise<FakeHost> {
  const socket = path.join(dir, "host.sock");
  const server = new grpc.Server();
  const host: FakeHost = {
    socket,
    tokens: [],
    requestIds: [],
    storage: new Map(),
    contacts: new Map(),
    logs: [],
    runs: [],
    messages: [],
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  type Call = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
  type Cb = grpc.sendUnaryData<unknown>;
  const guard =
    (fn: (req: Record<string, unknown>) => unknown) =>
    (call: Call, cb: Cb): void => {
      const given = call.metadata.get("x-convotic-plugin-token")[0];
      host.tokens.push(String(given ?? ""));
      host.requestIds.push(String(call.metadata.get("x-request-id")[0] ?? ""));
      if (given !== token) {
        cb({ code: grpc.status.UNAUTHENTICATED, details: "bad token" });
        return;
      }
      try {
        cb(null, fn(call.request));
      } catch (err) {
        cb(err as grpc.ServiceError);
      }
    };
  const notFound = (what: string): grpc.ServiceError =>
    Object.assign(new Error(what), { code: grpc.status.NOT_FOUND, details: what, metadata: new grpc.Metadata() });
  const entry = (key: string) => {
    const e = host.storage.get(key);
    if (!e) throw notFound(`no key ${key}`);
    return { key, value_json: e.value, revision: e.revision, expires_at_ms: 0 };
  };
  const pkg = protocol().host;
  server.addService(pkg.Storage.service, {
    Get: guard((req) => entry(String(req.key))),
    Set: guard((req) => {
      const prev = host.storage.get(String(req.key));
      host.storage.set(String(req.key), { value: req.value_json as Buffer, revision: (prev?.revision ?? 0) + 1 });
      return entry(String(req.key));
    }),
    Delete: guard((req) => ({ deleted: host.storage.delete(String(req.key)) })),
    List: guard((req) => ({
      entries: [...host.storage.keys()].filter((k) => k.startsWith(String(req.prefix))).sort().map(entry),
      next_page_token: "",
    })),
    CompareAndSet: guard((req) => {
      const prev = host.storage.get(String(req.key));
      if ((prev?.revision ?? 0) !== Number(req.expected_revision)) {
        throw Object.assign(new Error("revision"), { code: grpc.status.FAILED_PRECONDITION, details: "revision mismatch" });
      }
      host.storage.set(String(req.key), { value: req.value_json as Buffer, revision: (prev?.revision ?? 0) + 1 });
      return entry(String(req.key));
    }),
  });
  const contact = (c: Record<string, unknown>) => c;
  server.addService(pkg.Contacts.service, {
    Get: guard((req) => contact(host.contacts.get(String(req.id)) ?? (() => { throw notFound("no contact"); })())),
    FindByExternalId: guard((req) => {
      const found = [...host.contacts.values()].find((c) => c.external_id === req.external_id);
      if (!found) throw notFound("no contact");
      return found;
    }),
    Create: guard((req) => {
      const id = `ct_${host.contacts.size + 1}`;
      const c = { ...req, id, created_at_ms: 1, updated_at_ms: 1 };
      host.contacts.set(id, c);
      return c;
    }),
    Update: guard((req) => {
      const c = host.contacts.get(String(req.id));
      if (!c) throw notFound("no contact");
      const attrs = { ...JSON.parse((c.attributes_json as Buffer)?.length ? (c.attributes_json as Buffer).toString() : "{}") };
      const patch = (req.attributes_json as Buffer).length ? JSON.parse((req.attributes_json as Buffer).toString()) : {};
      for (const [k, v] of Object.entries(patch)) if (v === null) delete attrs[k]; else attrs[k] = v;
      for (const k of ["external_id", "name", "email", "phone"]) if (req[k] !== undefined && req[k] !== null) c[k] = req[k];
      c.attributes_json = Buffer.from(JSON.stringify(attrs));
      c.updated_at_ms = 2;
      // Which optional fields were present, for the test.
      c.present = Object.keys(req).filter((k) => req[k] !== undefined && req[k] !== null);
      return c;
    }),
    Delete: guard((req) => ({ deleted: host.contacts.delete(String(req.id)) })),
    List: guard(() => ({ contacts: [...host.contacts.values()], next_page_token: "" })),
  });
  server.addService(pkg.Workflows.service, {
    Trigger: guard((req) => {
      const run = { id: `run_${host.runs.length + 1}`, workflow_id: req.workflow_id, payload_json: req.payload_json, status: "queued", created_at_ms: 5 };
      host.runs.push(run);
      return run;
    }),
    Get: guard((req) => {
      const run = host.runs.find((r) => r.id === req.id);
      if (!run) throw notFound("no run");
      return run;
    }),
  });
  server.addService(pkg.Messages.service, {
    Send: guard((req) => {
      const message = { ...req, id: `msg_${host.messages.length + 1}`, status: "queued", created_at_ms: 6 };
      host.messages.push(message);
      return message;
    }),
    Get: guard((req) => {
      const message = host.messages.find((m) => m.id === req.id);
      if (!message) throw notFound("no message");
      return message;
    }),
  });
  server.addService(pkg.Logger.service, {
    Log: guard((req) => {
      const fields = (req.fields_json as Buffer).length ? JSON.parse((req.fields_json as Buffer).toString()) : null;
      host.logs.push({ level: String(req.level), message: String(req.message), fields, request_id: String(req.request_id) });
      return {};
    }),
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return host;
}
