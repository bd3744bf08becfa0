// Builds the Manifest a module returns from Describe (docs/PROTOCOL.md §4) from its
// registrations, and the handshake's protocol version choice and feature list.
import { readFileSync } from "node:fs";

import type { Manifest } from "./generated/convotic/plugin/v1/Manifest.js";
import { schemaText } from "./json.js";
import { effectiveWorkerName, type Registry } from "./registry.js";
import type { Middleware } from "./types.js";

/** Name of the SDK in the manifest. */
export const SDK_NAME = "@convotic/block-sdk";

/** Version of the SDK (from its package.json). */
export const SDK_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
})();

/** Protocol versions the SDK speaks. */
export const PROTOCOL_VERSIONS: readonly number[] = [1];

/** Optional features the SDK implements (docs/PROTOCOL.md §4.3). */
export const FEATURES: readonly string[] = ["work.cancel", "work.lanes", "shutdown.drain", "work.batch"];

/** The feature under which both sides may send several invocations or outcomes in one frame. */
export const WORK_BATCH = "work.batch";

/** Default of `ConvoticModule.maxInFlight`. */
export const DEFAULT_MAX_IN_FLIGHT = 64;

/** A duration in ms as a uint32 manifest field: 0 (or unset) means the supervisor's default. */
export function durationMs(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0) return 0;
  return Math.min(Math.max(1, Math.round(value)), 0xffffffff);
}

/** A count as a uint32 manifest field. */
function count(value: number | undefined): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0) return 0;
  return Math.min(Math.round(value), 0xffffffff);
}

/** The name a middleware is listed under in the manifest. */
export function middlewareName(middleware: Middleware, index: number): string {
  if (typeof middleware === "function") return middleware.name || `middleware-${index + 1}`;
  return middleware.name || `middleware-${index + 1}`;
}

/** The manifest of module `name` at `version` with these registrations. */
export function buildManifest(name: string, version: string, maxInFlight: number | undefined, registry: Registry): Manifest {
  return {
    name,
    version,
    sdk: { name: SDK_NAME, version: SDK_VERSION, language: "typescript" },
    max_in_flight: maxInFlight === undefined ? DEFAULT_MAX_IN_FLIGHT : count(maxInFlight),
    routes: registry.routes.map((r) => ({
      method: String(r.method).toUpperCase(),
      path: r.path,
      auth: r.auth === false ? "AUTH_MODE_NONE" : "AUTH_MODE_API_KEY",
      timeout_ms: durationMs(r.timeout),
      max_body_bytes: count(r.maxBodyBytes),
      middleware: (r.middleware ?? []).map(middlewareName),
    })),
    workers: registry.workers.map((w) => ({
      topic: w.topic,
      name: effectiveWorkerName(w),
      concurrency: count(w.concurrency),
      max_attempts: count(w.maxAttempts),
      timeout_ms: durationMs(w.timeout),
    })),
    nodes: registry.nodes.map((n) => ({
      type: n.type,
      version: n.version ?? "",
      display_name: n.displayName ?? "",
      description: n.description ?? "",
      category: n.category ?? "",
      icon: n.icon ?? "",
      input_schema: schemaText(n.inputSchema),
      output_schema: schemaText(n.outputSchema),
      branches: n.branches ?? [],
      connection_block: n.connectionBlock ?? "",
      timeout_ms: durationMs(n.timeout),
    })),
    blocks: registry.blocks.map((b) => ({
      id: b.id,
      name: b.name ?? "",
      description: b.description ?? "",
      icon: b.icon ?? "",
      connection_schema: schemaText(b.connectionSchema),
      secret_fields: b.secretFields ?? [],
      actions: (b.actions ?? []).map((a) => ({
        name: a.name,
        display_name: a.displayName ?? "",
        description: a.description ?? "",
        input_schema: schemaText(a.inputSchema),
        output_schema: schemaText(a.outputSchema),
        timeout_ms: durationMs(a.timeout),
      })),
      test_timeout_ms: durationMs(b.testTimeout),
    })),
    crons: registry.crons.map((c) => ({
      name: c.name,
      schedule: c.schedule,
      timezone: c.timezone ?? "",
      overlap: c.overlap === "allow" ? "OVERLAP_POLICY_ALLOW" : "OVERLAP_POLICY_SKIP",
      timeout_ms: durationMs(c.timeout),
      catch_up: c.catchUp === "once" ? "CATCH_UP_POLICY_ONCE" : "CATCH_UP_POLICY_NONE",
    })),
  };
}

/** The version to speak: the highest offered one the SDK implements, or an explanation. */
export function chooseVersion(offered: readonly number[]): { version: number } | { error: string } {
  const common = offered.filter((v) => PROTOCOL_VERSIONS.includes(v));
  if (common.length === 0) {
    return {
      error: `this module speaks protocol versions [${PROTOCOL_VERSIONS.join(", ")}]; the supervisor offered [${offered.join(", ")}]`,
    };
  }
  return { version: Math.max(...common) };
}
