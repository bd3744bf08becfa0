// Serving a module (docs/PROTOCOL.md §2-§4, §7): the gRPC server on the Unix socket with the
// health service and the Plugin service (Describe, Work, Shutdown), stop and signal handling,
// and `run`, which does all of it from the supervisor's environment and exits the process.
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import * as fs from "node:fs";

import { Dispatcher } from "./dispatch.js";
import type { DescribeRequest__Output } from "./generated/convotic/plugin/v1/DescribeRequest.js";
import type { DescribeResponse } from "./generated/convotic/plugin/v1/DescribeResponse.js";
import type { Manifest } from "./generated/convotic/plugin/v1/Manifest.js";
import type { ShutdownRequest__Output } from "./generated/convotic/plugin/v1/ShutdownRequest.js";
import type { ShutdownResponse } from "./generated/convotic/plugin/v1/ShutdownResponse.js";
import { DEFAULT_HOST_TIMEOUT_MS, Host, MAX_MESSAGE_BYTES } from "./host.js";
import { Lifecycle } from "./lifecycle.js";
import { emit } from "./logging.js";
import { buildManifest, chooseVersion, FEATURES, WORK_BATCH } from "./manifest.js";
import { PLUGIN_SERVICE_NAME, protocol } from "./proto.js";
import { Registry } from "./registry.js";
import type { ConvoticModule } from "./types.js";
import { Lane, type WorkCall } from "./work.js";

/** Grace period of a Shutdown that does not give one, and of SIGTERM/SIGINT. */
export const DEFAULT_GRACE_MS = 10_000;

/** Delay between answering Shutdown and stopping, so the answer is flushed first. */
const STOP_DELAY_MS = 50;

/** How long a stop waits for the supervisor to half-close the lanes, then for the server to close. */
const LANE_CLOSE_MS = 500;
const SERVER_CLOSE_MS = 300;

/** Exit code by which a module says "do not restart me" (EX_CONFIG, §7.2). */
export const EXIT_DO_NOT_RESTART = 78;

/** Environment variables the supervisor passes (§3.1). */
export const ENV = {
  PLUGIN_SOCKET: "CONVOTIC_PLUGIN_SOCKET",
  HOST_SOCKET: "CONVOTIC_HOST_SOCKET",
  PLUGIN_TOKEN: "CONVOTIC_PLUGIN_TOKEN",
  PROTOCOL_VERSIONS: "CONVOTIC_PLUGIN_PROTOCOL_VERSIONS",
  WORKSPACE: "CONVOTIC_WORKSPACE",
  MODULE: "CONVOTIC_MODULE",
  INSTANCE: "CONVOTIC_INSTANCE",
  DATA_DIR: "CONVOTIC_DATA_DIR",
} as const;

/** Where and how to serve a module. */
export interface ServeOptions {
  /** The Unix socket to listen on (a stale file there is removed first). */
  pluginSocket: string;
  /** The host services' socket; without it every ctx call fails with UNAVAILABLE and logs go to stderr. */
  hostSocket?: string;
  /** Sent as `x-convotic-plugin-token` on every host call. */
  token?: string;
  /** Reported by `ctx.workspace` when a call does not name one. */
  workspace?: string;
  /** Reported by `ctx.instance`. */
  instance?: string;
  /** Whether SIGTERM/SIGINT drain and stop the module (a second signal stops it at once). Default false. */
  handleSignals?: boolean;
  /** How long in-flight work may run after SIGTERM/SIGINT, in ms (default 10 000). */
  signalGraceMs?: number;
  /** Default deadline of one host call, in ms (default 10 000). */
  hostTimeoutMs?: number;
}

/** A module being served. */
export interface RunningModule {
  /** The manifest returned by Describe. */
  readonly manifest: Manifest;
  /** Resolves once the module has stopped (after Shutdown, a signal or `stop()`). */
  readonly stopped: Promise<void>;
  /** Stops at once: running invocations are answered UNAVAILABLE, then the server closes. */
  stop(): Promise<void>;
}

/** A module file that does not export a usable module: a restart will not fix it. */
export class ModuleDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModuleDefinitionError";
  }
}

/** Checks the shape of a module object. */
export function checkModule(module: unknown): asserts module is ConvoticModule {
  if (module === null || typeof module !== "object") {
    throw new ModuleDefinitionError("the module must be an object { name, version, register(sdk) }");
  }
  const m = module as Partial<ConvoticModule>;
  if (typeof m.name !== "string" || m.name === "") throw new ModuleDefinitionError("the module has no name (a non-empty string)");
  if (typeof m.version !== "string") throw new ModuleDefinitionError(`module ${m.name}: version must be a string, e.g. "1.0.0"`);
  if (typeof m.register !== "function") throw new ModuleDefinitionError(`module ${m.name}: register(sdk) must be a function`);
}

/** Collects the registrations of `module` and builds its manifest. */
export async function describeModule(module: ConvoticModule): Promise<{ registry: Registry; manifest: Manifest }> {
  checkModule(module);
  const registry = new Registry();
  try {
    await module.register(registry);
  } catch (err) {
    throw new ModuleDefinitionError(`module ${module.name}: register(sdk) failed: ${(err as Error)?.message ?? String(err)}`);
  }
  registry.seal();
  return { registry, manifest: buildManifest(module.name, module.version, module.maxInFlight, registry) };
}

/** Removes a stale file at `path` (§3.1). */
function removeStale(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * Serves `module` on `options.pluginSocket` until it is stopped (Shutdown RPC, a signal with
 * `handleSignals`, or `stop()`). Resolves once the socket is listening and health is SERVING.
 */
export async function serve(module: ConvoticModule, options: ServeOptions): Promise<RunningModule> {
  const { registry, manifest } = await describeModule(module);
  for (const what of registry.missingHandlers()) emit("warn", `${what} has no handler: its calls will fail`);

  const hostTimeout = options.hostTimeoutMs ?? DEFAULT_HOST_TIMEOUT_MS;
  const host = options.hostSocket ? Host.connect(options.hostSocket, options.token, hostTimeout) : Host.detached(hostTimeout);
  const dispatcher = new Dispatcher(registry, host, {
    module: module.name,
    workspace: options.workspace ?? "",
    instance: options.instance ?? "",
  });
  const health = new HealthImplementation({ "": "NOT_SERVING", [PLUGIN_SERVICE_NAME]: "NOT_SERVING" });
  const lifecycle = new Lifecycle(health);

  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  health.addToServer(server);

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  let stopping: Promise<void> | undefined;
  const signalHandlers: [NodeJS.Signals, () => void][] = [];

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      lifecycle.beginStop();
      lifecycle.abandonAll();
      // The supervisor half-closes the lanes after Shutdown returns; each lane then ends.
      await lifecycle.lanesClosed(LANE_CLOSE_MS);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SERVER_CLOSE_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await host.flushLogs(SERVER_CLOSE_MS);
      for (const [signal, handler] of signalHandlers) process.off(signal, handler);
      try {
        host.close();
        removeStale(options.pluginSocket);
      } catch {
        // Nothing left to clean up.
      }
      emit("info", "stopped");
    })()
      .catch((err: unknown) => emit("error", `while stopping: ${(err as Error)?.message ?? String(err)}`))
      .finally(resolveStopped);
    return stopping;
  };

  // Whether the supervisor offered `work.batch` in its last Describe; lanes opened afterwards use it.
  let outcomeBatchesOffered = false;
  const plugin = protocol().plugin;
  server.addService(plugin.Plugin.service, {
    Describe(
      call: grpc.ServerUnaryCall<DescribeRequest__Output, DescribeResponse>,
      callback: grpc.sendUnaryData<DescribeResponse>,
    ): void {
      const choice = chooseVersion(call.request.protocol_versions ?? []);
      if ("error" in choice) {
        emit("error", choice.error);
        callback({ code: grpc.status.FAILED_PRECONDITION, details: choice.error });
        return;
      }
      outcomeBatchesOffered = (call.request.features ?? []).includes(WORK_BATCH);
      callback(null, { protocol_version: choice.version, features: [...FEATURES], manifest });
    },
    Work(call: WorkCall): void {
      new Lane(call, dispatcher, lifecycle, outcomeBatchesOffered);
    },
    Shutdown(
      call: grpc.ServerUnaryCall<ShutdownRequest__Output, ShutdownResponse>,
      callback: grpc.sendUnaryData<ShutdownResponse>,
    ): void {
      const graceMs = call.request.grace_ms ? Number(call.request.grace_ms) : DEFAULT_GRACE_MS;
      emit("info", "shutting down", { reason: call.request.reason ?? "", grace_ms: graceMs, in_flight: lifecycle.inFlight });
      void lifecycle.drain(graceMs).then(() => {
        // Invocations still running at the end of the grace period are answered UNAVAILABLE.
        const abandoned = lifecycle.abandonAll();
        callback(null, { abandoned });
        setTimeout(() => void stop(), STOP_DELAY_MS);
      });
    },
  });

  removeStale(options.pluginSocket);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${options.pluginSocket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  lifecycle.setServing();
  emit("info", "serving", { module: module.name, version: module.version, socket: options.pluginSocket });

  if (options.handleSignals) {
    const graceMs = options.signalGraceMs ?? DEFAULT_GRACE_MS;
    const onSignal = (name: NodeJS.Signals): void => {
      if (lifecycle.draining) {
        // A second signal, or one during a Shutdown drain: stop at once.
        void stop();
        return;
      }
      emit("info", `received ${name}: draining`, { in_flight: lifecycle.inFlight, grace_ms: graceMs });
      void lifecycle.drain(graceMs).then(() => stop());
    };
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const handler = (): void => onSignal(signal);
      signalHandlers.push([signal, handler]);
      process.on(signal, handler);
    }
  }

  return { manifest, stopped, stop };
}

/** Whether the process was started by the supervisor (CONVOTIC_PLUGIN_SOCKET is set). */
export function startedBySupervisor(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env[ENV.PLUGIN_SOCKET]);
}

/** The options the supervisor passes in the environment (§3.1), with signal handling. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ServeOptions {
  const socket = env[ENV.PLUGIN_SOCKET];
  if (!socket) throw new Error(`${ENV.PLUGIN_SOCKET} is not set: the module must be started by the Convotic supervisor`);
  return {
    pluginSocket: socket,
    hostSocket: env[ENV.HOST_SOCKET] || undefined,
    token: env[ENV.PLUGIN_TOKEN] || undefined,
    workspace: env[ENV.WORKSPACE] ?? "",
    instance: env[ENV.INSTANCE] ?? "",
    handleSignals: true,
  };
}

/** The one line printed when a module is started by hand (§3.2). */
export function startedByHandMessage(name: string, howToRun: string): string {
  return `${name}: this is a Convotic module, started by the Convotic supervisor (${ENV.PLUGIN_SOCKET} is not set); ${howToRun}`;
}

/**
 * Runs `module` the way the supervisor expects, then exits the process: 0 after a graceful stop,
 * 78 when the module itself is unusable (a restart cannot fix it), 1 on another error. Started by
 * hand (no CONVOTIC_PLUGIN_SOCKET), it prints one line on stderr and exits with 2.
 */
export async function run(module: ConvoticModule, howToRun = "run it under the supervisor (see the @convotic/block-sdk README)"): Promise<never> {
  if (!startedBySupervisor()) {
    const name = typeof (module as { name?: unknown })?.name === "string" ? (module as { name: string }).name : "module";
    process.stderr.write(`${startedByHandMessage(name, howToRun)}\n`);
    process.exit(2);
  }
  const offered = process.env[ENV.PROTOCOL_VERSIONS];
  if (offered) {
    const versions = offered.split(",").map((v) => Number(v.trim())).filter((v) => Number.isInteger(v));
    const choice = chooseVersion(versions);
    if ("error" in choice) {
      // No common protocol version: a restart cannot fix that (§3.1, §7.2).
      emit("error", choice.error);
      process.exit(EXIT_DO_NOT_RESTART);
    }
  }
  const configured = process.env[ENV.MODULE];
  if (configured && typeof module?.name === "string" && module.name !== configured) {
    emit("error", `the module calls itself ${JSON.stringify(module.name)} but is configured as ${JSON.stringify(configured)}: the supervisor will refuse it`);
  }
  let running: RunningModule;
  try {
    running = await serve(module, optionsFromEnv());
  } catch (err) {
    emit("error", (err as Error)?.message ?? String(err));
    process.exit(err instanceof ModuleDefinitionError ? EXIT_DO_NOT_RESTART : 1);
  }
  await running.stopped;
  process.exit(0);
}
