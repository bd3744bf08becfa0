// The seeds' `npx @convotic/block-sdk init|dev|deploy`: how each is forwarded to the supervisor
// binary, and what is said when that binary is missing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

import { findSupervisor, supervisorArgs } from "../src/block-sdk.js";
import { tempDir } from "./support.js";

const BIN = fileURLToPath(new URL("../dist/block-sdk.js", import.meta.url));

describe("npx @convotic/block-sdk", () => {
  it("forwards init (TypeScript unless --lang says otherwise), dev and deploy", () => {
    assert.deepEqual(supervisorArgs(["init", "my-module"]), ["init", "my-module", "--lang", "typescript"]);
    assert.deepEqual(supervisorArgs(["init", "m", "--lang", "rust"]), ["init", "m", "--lang", "rust"]);
    assert.deepEqual(supervisorArgs(["dev", "--port", "9000"]), ["dev", "--port", "9000"]);
    assert.deepEqual(supervisorArgs(["deploy", "--workspace", "ws_abc123"]), ["deploy", "--workspace", "ws_abc123"]);
    assert.equal(supervisorArgs(["publish"]), null);
  });

  it("finds the supervisor through CONVOTIC_SUPERVISOR or PATH, and says how to get it", () => {
    const dir = tempDir();
    const fake = path.join(dir, "convotic-supervisor");
    fs.writeFileSync(fake, "#!/bin/sh\necho \"fake $@\"\n", { mode: 0o755 });
    assert.equal(findSupervisor({ PATH: dir }), fake);
    assert.equal(findSupervisor({ CONVOTIC_SUPERVISOR: fake, PATH: "" }), fake);
    const missing = findSupervisor({ PATH: "/nonexistent" });
    assert.ok(missing instanceof Error && /CONVOTIC_SUPERVISOR/.test(missing.message));

    const ran = spawnSync(process.execPath, [BIN, "init", "my-module"], { env: { PATH: dir }, encoding: "utf8" });
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), "fake init my-module --lang typescript");
    const absent = spawnSync(process.execPath, [BIN, "dev"], { env: { PATH: "/nonexistent" }, encoding: "utf8" });
    assert.equal(absent.status, 127);
    assert.match(absent.stderr, /convotic-supervisor\) was not found/);
  });
});
