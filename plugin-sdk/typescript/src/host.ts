// The connection to the Convotic host services (docs/PROTOCOL.md §8): one gRPC channel over the
// Unix socket named by CONVOTIC_HOST_SOCKET shared by a client per service, the token metadata
// and deadline of every call, and the queue that ships ctx.logger lines to the Logger service
// in order.
import * as grpc from "@grpc/grpc-js";

import { HostError, statusName } from "./errors.js";
import type { LogRequest } from "./generated/convotic/host/v1/LogRequest.js";
import { parseJson } from "./json.js";
import { formatLine, writeStderr } from "./logging.js";
import { protocol } from "./proto.js";

/** Largest gRPC message sent or accepted (docs/PROTOCOL.md §2). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Metadata key carrying CONVOTIC_PLUGIN_TOKEN on every host call. */
export const TOKEN_METADATA_KEY = "x-convotic-plugin-token";

/** Default deadline of one host call. */
export const DEFAULT_HOST_TIMEOUT_MS = 10_000;

/** Log lines queued for the host before new ones go straight to stderr. */
const LOG_QUEUE = 4096;

/** Deadline of one Logger.Log call. */
const LOG_TIMEOUT_MS = 2_000;

/** The host services, by the name of their gRPC service. */
export type HostService = "Contacts" | "Conversations" | "Messages" | "Workflows" | "Storage" | "Logger";

/** Per-call settings derived from the invocation. */
export interface CallSettings {
  /** Absolute deadline of the invocation (ms since the epoch), if any. */
  deadline?: number;
  requestId?: string;
  traceparent?: string;
  /** Aborts the call (the invocation is over). */
  signal?: AbortSignal;
}

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: unknown) => void,
) => grpc.ClientUnaryCall;

const LOG_LEVELS: Record<string, string> = {
  LOG_LEVEL_TRACE: "trace",
  LOG_LEVEL_DEBUG: "debug",
  LOG_LEVEL_INFO: "info",
  LOG_LEVEL_WARN: "warn",
  LOG_LEVEL_ERROR: "error",
};

/** Writes a line meant for the Logger service to stderr instead. */
function logToStderr(line: LogRequest): void {
  let fields: unknown;
  try {
    fields = parseJson(line.fields_json as Buffer | undefined);
  } catch {
    fields = undefined;
  }
  writeStderr(formatLine(LOG_LEVELS[String(line.level)] ?? "info", line.message ?? "", line.request_id ?? "", fields));
}

/** A handle on the host services. */
export class Host {
  private readonly clients: Map<HostService, grpc.Client> | undefined;
  private readonly channel: grpc.Channel | undefined;
  private readonly token: string | undefined;
  readonly timeoutMs: number;
  private readonly logQueue: LogRequest[] = [];
  private shipping: Promise<void> | undefined;

  private constructor(socket: string | undefined, token: string | undefined, timeoutMs: number) {
    this.token = token;
    this.timeoutMs = timeoutMs;
    if (socket) {
      const options: grpc.ChannelOptions = {
        "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
        "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
        "grpc.default_authority": "localhost",
        "grpc.enable_retries": 0,
      };
      const target = `unix:${socket}`;
      const credentials = grpc.credentials.createInsecure();
      this.channel = new grpc.Channel(target, credentials, options);
      const pkg = protocol().host;
      const ctors: Record<HostService, typeof grpc.Client> = {
        Contacts: pkg.Contacts,
        Conversations: pkg.Conversations,
        Messages: pkg.Messages,
        Workflows: pkg.Workflows,
        Storage: pkg.Storage,
        Logger: pkg.Logger,
      };
      this.clients = new Map();
      for (const [name, Ctor] of Object.entries(ctors) as [HostService, typeof grpc.Client][]) {
        this.clients.set(name, new Ctor(target, credentials, { channelOverride: this.channel }));
      }
    }
  }

  /** A host with no connection: every call fails with UNAVAILABLE and logs go to stderr. */
  static detached(timeoutMs = DEFAULT_HOST_TIMEOUT_MS): Host {
    return new Host(undefined, undefined, timeoutMs);
  }

  /** A lazily connected host on `socket`, sending `token` with every call. */
  static connect(socket: string, token: string | undefined, timeoutMs = DEFAULT_HOST_TIMEOUT_MS): Host {
    return new Host(socket, token, timeoutMs);
  }

  /** Whether a host socket is configured. */
  get connected(): boolean {
    return this.clients !== undefined;
  }

  private metadata(settings: CallSettings): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.token) md.set(TOKEN_METADATA_KEY, this.token);
    if (settings.requestId) md.set("x-request-id", settings.requestId);
    if (settings.traceparent) md.set("traceparent", settings.traceparent);
    return md;
  }

  /**
   * Runs one unary call (`call` names it in errors, e.g. `contacts.get`) with the token, a
   * deadline (the default timeout, but no later than the invocation's) and error mapping.
   */
  unary<Res>(service: HostService, method: string, call: string, request: unknown, settings: CallSettings = {}): Promise<Res> {
    const client = this.clients?.get(service);
    if (!client) {
      return Promise.reject(new HostError(call, "UNAVAILABLE", "no Convotic host is configured (CONVOTIC_HOST_SOCKET is not set)"));
    }
    if (settings.signal?.aborted) {
      return Promise.reject(new HostError(call, "CANCELLED", "the invocation is over"));
    }
    const now = Date.now();
    let deadline = now + this.timeoutMs;
    if (settings.deadline !== undefined) deadline = Math.max(now + 1, Math.min(deadline, settings.deadline));
    const fn = (client as unknown as Record<string, UnaryMethod>)[method];
    if (typeof fn !== "function") {
      return Promise.reject(new HostError(call, "UNIMPLEMENTED", `no method ${service}.${method}`));
    }
    return new Promise<Res>((resolve, reject) => {
      const onAbort = (): void => pending.cancel();
      const pending = fn.call(client, request, this.metadata(settings), { deadline }, (err, response) => {
        settings.signal?.removeEventListener("abort", onAbort);
        if (err) {
          reject(new HostError(call, statusName(err.code), err.details ?? ""));
        } else {
          resolve(response as Res);
        }
      });
      settings.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Queues a log line for the Logger service; writes it to stderr when there is no host or the queue is full. */
  log(line: LogRequest): void {
    if (!this.clients || this.logQueue.length >= LOG_QUEUE) {
      logToStderr(line);
      return;
    }
    this.logQueue.push(line);
    if (!this.shipping) this.shipping = this.shipLogs();
  }

  /** Sends queued lines one at a time (so they keep their order); a line the host does not take goes to stderr. */
  private async shipLogs(): Promise<void> {
    try {
      while (this.logQueue.length > 0) {
        const line = this.logQueue.shift()!;
        try {
          await this.unary("Logger", "Log", "logger.log", line, { deadline: Date.now() + LOG_TIMEOUT_MS, requestId: line.request_id });
        } catch {
          logToStderr(line);
        }
      }
    } finally {
      this.shipping = undefined;
    }
  }

  /** Waits (up to `timeoutMs`) for queued log lines to be shipped; the rest go to stderr. */
  async flushLogs(timeoutMs: number): Promise<void> {
    if (this.shipping) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.shipping, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
    }
    for (const line of this.logQueue.splice(0)) logToStderr(line);
  }

  /** Closes the connection. */
  close(): void {
    // All clients share this channel. (Not `client.close()`: on the Conversations client that
    // name is the Close RPC, which the generated client defines over grpc.Client#close.)
    this.channel?.close();
  }
}
