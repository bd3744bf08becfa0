// Testing a module under the real supervisor: `startDev(dir)` runs `convotic-supervisor dev` on
// the package directory (a private supervisor, its data in a temporary directory, an API key)
// and returns helpers that call the module's routes, publish to its topics, invoke its nodes
// and run its crons over HTTP; `logs()` holds the module's output for failure messages. The
// supervisor binary comes from CONVOTIC_SUPERVISOR, or convotic-supervisor on PATH.
//
//   import { startDev } from "@convotic/block-sdk/testing";
//   const dev = await startDev(".");
//   try { assert.equal((await dev.route("GET", "/hello/ada")).body.hello, "ada"); } finally { await dev.stop(); }
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { findSupervisor } from "./block-sdk.js";

/** An answer: its status and JSON body. */
export interface Answer {
  status: number;
  body: any;
}

/** A module running under a private supervisor for a test. */
export interface DevSupervisor {
  /** The module's name. */
  name: string;
  /** The API key of the test workspace. */
  key: string;
  /** Base URL of the private supervisor. */
  base: string;
  /** Calls the module's route (`path` inside the module, e.g. "/hello/ada"). */
  route(method: string, path: string, body?: unknown): Promise<Answer>;
  /** Publishes `payload` on `topic` (202 with the message id). */
  publish(topic: string, payload: unknown): Promise<Answer>;
  /** Invokes node `type` with `input` (`output`, `branch`). */
  invoke(type: string, input: unknown): Promise<Answer>;
  /** Runs cron `name` now (202). */
  runCron(name: string): Promise<Answer>;
  /** Everything `dev` printed: the module's output and lifecycle events. */
  logs(): string;
  /** Stops the supervisor and the module (as Ctrl-C would). */
  stop(): Promise<void>;
}

/** Runs the package in `dir` under `convotic-supervisor dev`; resolves once it serves. */
export async function startDev(dir: string, options: { timeoutMs?: number } = {}): Promise<DevSupervisor> {
  const supervisor = findSupervisor();
  if (supervisor instanceof Error) throw supervisor;
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "convotic-test-"));
  const log = path.join(state, "dev.log");
  const out = fs.openSync(log, "w");
  const port = await freePort();
  const child: ChildProcess = spawn(supervisor, ["dev", path.resolve(dir), "--port", String(port)], {
    env: { ...process.env, XDG_STATE_HOME: state },
    stdio: ["ignore", out, out],
  });
  const logs = () => fs.readFileSync(log, "utf8");
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let ready: string | undefined;
  while (!(ready = logs().split("\n").find((l) => l.includes("is ready at")))) {
    if (child.exitCode !== null) throw new Error(`dev exited (${child.exitCode}):\n${logs()}`);
    if (Date.now() > deadline) throw new Error(`the module did not get ready:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const name = ready.replace(/^dev: /, "").split(" ")[0]!;
  const key = ready.split("API key: ")[1]!.trim();
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: string, urlPath: string, body?: unknown): Promise<Answer> => {
    const response = await fetch(`${base}${urlPath}`, {
      method,
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, body: parsed };
  };
  return {
    name,
    key,
    base,
    route: (method, p, body) => call(method, `/v1/modules/${name}${p}`, body),
    publish: (topic, payload) => call("POST", `/v1/topics/${topic}/messages`, { payload }),
    invoke: (type, input) => call("POST", `/v1/nodes/${type}/invoke`, { input }),
    runCron: (cron) => call("POST", `/v1/crons/${name}/${cron}/run`),
    logs,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGINT");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      }
      fs.closeSync(out);
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
