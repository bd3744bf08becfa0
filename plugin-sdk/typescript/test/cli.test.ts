// The runner (`node dist/cli.js`) as the supervisor starts it: a module file outside the package
// (ESM or CommonJS), a scrubbed environment, health, Describe, a route calling the host,
// Shutdown and SIGTERM ending in exit 0, and the exit codes 2 (started by hand) and 78 (no
// usable module).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

import type { DescribeResponse__Output } from "../src/generated/convotic/plugin/v1/DescribeResponse.js";
import type { ShutdownResponse__Output } from "../src/generated/convotic/plugin/v1/ShutdownResponse.js";
import { get, jsonBody, Lane, pluginClient, startFakeHost, tempDir, unary, waitServing } from "./support.js";

const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/cli-module.ts", import.meta.url));
const TOKEN = "b".repeat(64);

/** Copies the fixture module into a fresh directory outside the package. */
function moduleDir(esm: boolean): { dir: string; file: string } {
  const dir = tempDir();
  const file = path.join(dir, "index.ts");
  fs.copyFileSync(FIXTURE, file);
  if (esm) fs.writeFileSync(path.join(dir, "package.json"), '{"type": "module"}\n');
  return { dir, file };
}

/** The environment the supervisor passes (§3.1): scrubbed, plus the CONVOTIC_* variables. */
function supervisorEnv(dir: string, hostSocket: string): NodeJS.ProcessEnv {
  return {
    PATH: "/usr/local/bin:/usr/bin:/bin",
    HOME: dir,
    LANG: "C.UTF-8",
    CONVOTIC_PLUGIN_SOCKET: path.join(dir, "plugin.sock"),
    CONVOTIC_HOST_SOCKET: hostSocket,
    CONVOTIC_PLUGIN_TOKEN: TOKEN,
    CONVOTIC_PLUGIN_PROTOCOL_VERSIONS: "1",
    CONVOTIC_WORKSPACE: "ws_cli",
    CONVOTIC_MODULE: "cli-fixture",
    CONVOTIC_INSTANCE: "i7",
    CONVOTIC_DATA_DIR: dir,
  };
}

interface Started {
  child: ChildProcess;
  output: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

function start(file: string, env: NodeJS.ProcessEnv, cwd: string): Started {
  const child = spawn(process.execPath, [CLI, "run", file], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  const output = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (output.stdout += d));
  child.stderr!.on("data", (d) => (output.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output, exited };
}

/** Every non-empty line of `text` is a JSON object with a level and a message. */
function assertJsonLines(text: string): void {
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(typeof parsed.level, "string", line);
    assert.equal(typeof parsed.msg, "string", line);
  }
}

describe("the runner", () => {
  it("started by hand, prints one line and exits 2", () => {
    const { file } = moduleDir(true);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME };
    const result = spawnSync(process.execPath, [CLI, "run", file], { env, encoding: "utf8" });
    assert.equal(result.status, 2);
    const lines = result.stderr.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /^cli-fixture: this is a Convotic module, started by the Convotic supervisor \(CONVOTIC_PLUGIN_SOCKET is not set\); run it/);
    assert.ok(lines[0]!.includes(`"${file}"`));
  });

  it("exits 78 when the module file cannot be used", () => {
    const dir = tempDir();
    const missing = spawnSync(process.execPath, [CLI, "run", path.join(dir, "nope.ts")], { env: supervisorEnv(dir, ""), encoding: "utf8" });
    assert.equal(missing.status, 78, missing.stderr);
    assert.match(missing.stderr, /no such file/);
    fs.writeFileSync(path.join(dir, "bad.ts"), "export const notDefault = 1;\n");
    const bad = spawnSync(process.execPath, [CLI, "run", path.join(dir, "bad.ts")], { env: supervisorEnv(dir, ""), encoding: "utf8" });
    assert.equal(bad.status, 78, bad.stderr);
    assert.match(bad.stderr, /no default export/);
    assertJsonLines(bad.stderr);
  });

  it("prints usage and exits 2 without a command", () => {
    const result = spawnSync(process.execPath, [CLI], { encoding: "utf8" });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /usage: convotic-module/);
  });

  for (const esm of [true, false]) {
    it(`serves a ${esm ? "ESM" : "CommonJS"} module file, calls the host, and exits 0 after Shutdown`, async () => {
      const { dir, file } = moduleDir(esm);
      const host = await startFakeHost(dir, TOKEN);
      host.storage.set("greeting", { value: Buffer.from('"hello"'), revision: 1 });
      const module = start(file, supervisorEnv(dir, host.socket), dir);
      try {
        const socket = path.join(dir, "plugin.sock");
        await waitServing(socket);
        const client = pluginClient(socket);
        const described = await unary<unknown, DescribeResponse__Output>(client, "Describe", { protocol_versions: [1], features: [] });
        assert.equal(described.manifest?.name, "cli-fixture");
        const lane = new Lane(client);
        await lane.open(0);
        lane.send(get(1, "/kv/greeting", "/kv/:key", { key: "greeting" }));
        lane.send(get(2, "/kv/fail", "/kv/:key", { key: "fail" }));
        assert.deepEqual(jsonBody(await lane.outcome(1)).body, { value: "hello", module: "cli-fixture", instance: "i7" });
        const failed = (await lane.outcome(2)).error!;
        assert.deepEqual([failed.code, failed.message, failed.retryable], ["ERROR_CODE_HANDLER", "failed on purpose", true]);
        assert.deepEqual(host.tokens, [TOKEN]);
        const response = await unary<unknown, ShutdownResponse__Output>(client, "Shutdown", { grace_ms: 2000, reason: "test" });
        assert.equal(response.abandoned, 0);
        lane.halfClose();
        assert.equal(await module.exited, 0);
        client.close();
        assertJsonLines(module.output.stderr);
        assert.ok(!module.output.stderr.includes(TOKEN) && !module.output.stdout.includes(TOKEN), "the token is never logged");
        assert.ok(!fs.existsSync(socket), "the socket file is removed");
      } finally {
        module.child.kill("SIGKILL");
        await host.close();
      }
    });
  }

  it("drains on SIGTERM and exits 0", async () => {
    const { dir, file } = moduleDir(true);
    const host = await startFakeHost(dir, TOKEN);
    const module = start(file, supervisorEnv(dir, host.socket), dir);
    try {
      const socket = path.join(dir, "plugin.sock");
      await waitServing(socket);
      const client = pluginClient(socket);
      const lane = new Lane(client);
      await lane.open(0);
      lane.send(get(1, "/slow/300", "/slow/:ms", { ms: "300" }));
      await new Promise((r) => setTimeout(r, 50));
      module.child.kill("SIGTERM");
      assert.deepEqual(jsonBody(await lane.outcome(1)).body, { slept: 300 }, "in-flight work finishes");
      lane.halfClose();
      assert.equal(await module.exited, 0);
      assert.match(module.output.stderr, /received SIGTERM: draining/);
      client.close();
    } finally {
      module.child.kill("SIGKILL");
      await host.close();
    }
  });

  it("prints the manifest", () => {
    const { file } = moduleDir(true);
    const result = spawnSync(process.execPath, [CLI, "manifest", file], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stderr);
    const manifest = JSON.parse(result.stdout) as { name: string; routes: unknown[] };
    assert.deepEqual([manifest.name, manifest.routes.length], ["cli-fixture", 2]);
  });
});
