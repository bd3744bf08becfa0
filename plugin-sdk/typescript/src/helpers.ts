// Small helpers for handlers: the worker results `ack`, `retry` and `discard`.
import type { WorkerResult } from "./types.js";

/** Worker: the message is done (the same as returning nothing). */
export function ack(): WorkerResult {
  return { disposition: "ack" };
}

/**
 * Worker: deliver the message again later (counts as an attempt; after `maxAttempts` it goes
 * to dead letters), no sooner than `afterMs` when given.
 */
export function retry(reason = "", options: { afterMs?: number } = {}): WorkerResult {
  return { disposition: "retry", reason, retryAfterMs: options.afterMs };
}

/** Worker: do not retry; move the message to dead letters with `reason`. */
export function discard(reason: string): WorkerResult {
  return { disposition: "discard", reason };
}
