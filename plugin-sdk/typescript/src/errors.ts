// The errors of the SDK: HandlerError and its kinds (what a handler throws to say how it failed),
// HostError (a failed `ctx` call), and the mapping of anything a handler throws to the
// protocol's `Error` (docs/PROTOCOL.md §5.7) or, for workers, to a disposition (§5.11).
import type { Error as ProtoError } from "./generated/convotic/plugin/v1/Error.js";
import { jsonBytes } from "./json.js";

/**
 * Marks SDK errors. `Symbol.for` (not `instanceof`) so that an error made by another copy of
 * the SDK (a module with its own node_modules) is still recognised.
 */
const HANDLER_ERROR = Symbol.for("convotic.block-sdk.HandlerError");
const HOST_ERROR = Symbol.for("convotic.block-sdk.HostError");

/** How a {@link HandlerError} failed. */
export type HandlerErrorKind = "handler" | "bad_input" | "discard";

/** Options of a {@link HandlerError}. */
export interface HandlerErrorOptions {
  /** Whether trying again later may succeed (default false). */
  retryable?: boolean;
  /** Workers: wait at least this long (ms) before the next delivery. Implies `retryable`. */
  retryAfterMs?: number;
  /** Structured details passed to the caller (a JSON object is recommended). */
  details?: unknown;
  /** The underlying error, for logs; never shown to callers. */
  cause?: unknown;
}

/**
 * A handler failure with a message that is safe to show to the caller.
 *
 * Throw it (or any `Error`) from a handler. Routes, nodes, blocks and crons report it as
 * `ERROR_CODE_HANDLER` (HTTP 502 for routes); workers retry the message. Any thrown `Error` is
 * treated the same way, with its `retryable` and `details` properties when it has them.
 */
export class HandlerError extends Error {
  readonly kind: HandlerErrorKind;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;

  constructor(message: string, options: HandlerErrorOptions = {}, kind: HandlerErrorKind = "handler") {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HandlerError";
    this.kind = kind;
    this.retryAfterMs = options.retryAfterMs;
    this.retryable = options.retryable === true || options.retryAfterMs !== undefined;
    this.details = options.details;
    Object.defineProperty(this, HANDLER_ERROR, { value: kind });
  }
}

/**
 * The input is invalid (`ERROR_CODE_BAD_INPUT`: HTTP 400 for routes). Workers move the message
 * to dead letters at once, since the same payload cannot succeed later.
 */
export class BadInputError extends HandlerError {
  constructor(message: string, options: HandlerErrorOptions = {}) {
    super(message, options, "bad_input");
    this.name = "BadInputError";
  }
}

/**
 * Workers: give up on this message and move it to dead letters with the message as reason
 * (`DISPOSITION_DISCARD`), without retrying. Other handlers report it like a HandlerError.
 */
export class DiscardError extends HandlerError {
  constructor(reason: string, options: HandlerErrorOptions = {}) {
    super(reason, options, "discard");
    this.name = "DiscardError";
  }
}

/** gRPC status names, by code. */
const STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** The status of a failed host call (a gRPC status name). */
export type HostErrorCode = (typeof STATUS_NAMES)[number];

/** The gRPC status name of `code`. */
export function statusName(code: number): HostErrorCode {
  return STATUS_NAMES[code] ?? "UNKNOWN";
}

/**
 * A call to the Convotic host services (`ctx.contacts`, `ctx.storage`, ...) failed.
 *
 * `code` is the gRPC status (docs/PROTOCOL.md §8.2): `NOT_FOUND`, `INVALID_ARGUMENT`,
 * `ALREADY_EXISTS`, `FAILED_PRECONDITION`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`,
 * `DEADLINE_EXCEEDED`, `UNAUTHENTICATED`... Thrown out of a handler, it keeps its
 * `retryable`.
 */
export class HostError extends Error {
  /** The call, e.g. `contacts.update`. */
  readonly call: string;
  readonly code: HostErrorCode;
  /** Whether trying again later may succeed: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, CANCELLED. */
  readonly retryable: boolean;

  constructor(call: string, code: HostErrorCode, detail: string) {
    super(`${call} failed: ${code}${detail ? `: ${detail}` : ""}`);
    this.name = "HostError";
    this.call = call;
    this.code = code;
    this.retryable = ["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "CANCELLED"].includes(code);
    Object.defineProperty(this, HOST_ERROR, { value: true });
  }
}

/** Whether `err` is a {@link HostError} (of any copy of the SDK). */
export function isHostError(err: unknown): err is HostError {
  return typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[HOST_ERROR] === true;
}

/** The kind of an SDK handler error (of any copy of the SDK), or undefined. */
export function handlerErrorKind(err: unknown): HandlerErrorKind | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const kind = (err as Record<symbol, unknown>)[HANDLER_ERROR];
  return kind === "handler" || kind === "bad_input" || kind === "discard" ? kind : undefined;
}

/** What a thrown value says about the failure. */
export interface FailureInfo {
  kind: HandlerErrorKind;
  message: string;
  retryable: boolean;
  retryAfterMs: number | undefined;
  details: unknown;
}

/** Reads a thrown value: an SDK error, any Error (with optional `retryable`/`details`), or anything. */
export function describeFailure(err: unknown): FailureInfo {
  const kind = handlerErrorKind(err) ?? "handler";
  if (err instanceof Error || (typeof err === "object" && err !== null && "message" in err)) {
    const e = err as Error & { retryable?: unknown; retryAfterMs?: unknown; details?: unknown };
    const retryAfterMs =
      typeof e.retryAfterMs === "number" && Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0
        ? e.retryAfterMs
        : undefined;
    const message = String(e.message ?? "") || String(e.name ?? "") || "the handler failed";
    return { kind, message, retryable: e.retryable === true, retryAfterMs, details: e.details };
  }
  const message = err === undefined ? "the handler failed" : String(err);
  return { kind, message: message || "the handler failed", retryable: false, retryAfterMs: undefined, details: undefined };
}

/** `details_json` must be a JSON object (§6): any other value is wrapped as `{"details": value}`. */
function detailsJson(details: unknown): Buffer {
  if (details === undefined || details === null) return Buffer.alloc(0);
  const object = typeof details === "object" && !Array.isArray(details) && !Buffer.isBuffer(details);
  try {
    return jsonBytes(object ? details : { details });
  } catch {
    return Buffer.alloc(0);
  }
}

/** The protocol error code names the SDK sends. */
export type ErrorCodeName =
  | "ERROR_CODE_HANDLER"
  | "ERROR_CODE_BAD_INPUT"
  | "ERROR_CODE_NOT_FOUND"
  | "ERROR_CODE_CANCELLED"
  | "ERROR_CODE_DEADLINE_EXCEEDED"
  | "ERROR_CODE_UNAVAILABLE"
  | "ERROR_CODE_INTERNAL";

/** A protocol `Error`. */
export function protoError(code: ErrorCodeName, message: string, retryable = false, details?: unknown): ProtoError {
  return { code, message, retryable, details_json: detailsJson(details) };
}

/**
 * The protocol `Error` for a value a route, node, block or cron handler threw:
 * BadInputError → `ERROR_CODE_BAD_INPUT`; anything else → `ERROR_CODE_HANDLER` with the
 * error's message, `retryable` and `details`.
 */
export function errorFromThrown(err: unknown): ProtoError {
  const info = describeFailure(err);
  const code = info.kind === "bad_input" ? "ERROR_CODE_BAD_INPUT" : "ERROR_CODE_HANDLER";
  return protoError(code, info.message, info.retryable, info.details);
}
