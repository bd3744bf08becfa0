// The Work stream (one lane, docs/PROTOCOL.md §5): answers LaneOpen with LaneReady, runs every
// Invocation concurrently with its deadline and an abort signal, answers Cancel, and sends
// exactly one Outcome per invocation id. Whoever removes an invocation from the lane's `running`
// map — its handler finishing, its deadline, a Cancel, the module stopping — is the one that
// answers it; the others send nothing. The lane ends (status OK) only after the supervisor
// half-closed it and every outcome owed on it was sent. With feature `work.batch` (§5) it accepts
// WorkBatch frames and, when the supervisor offered the feature, sends the outcomes ready at the
// same moment in one OutcomeBatch frame (never waiting to fill one).
import type * as grpc from "@grpc/grpc-js";

import type { Cancel__Output } from "./generated/convotic/plugin/v1/Cancel.js";
import type { Invocation__Output } from "./generated/convotic/plugin/v1/Invocation.js";
import type { ModuleFrame } from "./generated/convotic/plugin/v1/ModuleFrame.js";
import type { Outcome } from "./generated/convotic/plugin/v1/Outcome.js";
import type { SupervisorFrame__Output } from "./generated/convotic/plugin/v1/SupervisorFrame.js";
import { errorResult, type Dispatcher, type OutcomeResult } from "./dispatch.js";
import { errorFromThrown } from "./errors.js";
import { MAX_MESSAGE_BYTES } from "./host.js";
import type { LaneHandle, Lifecycle } from "./lifecycle.js";
import { emit } from "./logging.js";

/** The server side of a Work call. */
export type WorkCall = grpc.ServerDuplexStream<SupervisorFrame__Output, ModuleFrame>;

/** Longest timer Node can arm (about 24.8 days); longer deadlines are not armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Room left for the frame's own fields when checking an outcome against the message limit. */
const FRAME_SLACK = 64 * 1024;

/** Most outcomes sent in one OutcomeBatch frame. */
const MAX_BATCH_OUTCOMES = 256;

/** Bytes of payload after which an OutcomeBatch frame is sent without taking more outcomes. */
const MAX_BATCH_BYTES = 1024 * 1024;

interface Running {
  abort: AbortController;
  timer: NodeJS.Timeout | undefined;
}

/** Sum of the bytes an outcome carries (bodies, JSON, strings): close to its encoded size. */
function payloadBytes(value: unknown, depth = 0): number {
  if (value === null || value === undefined || depth > 6) return 0;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return value.byteLength;
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "object") {
    let n = 0;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) n += k.length + payloadBytes(v, depth + 1);
    return n;
  }
  return 8;
}

/** The result to send: an answer that would exceed the message limit becomes an INTERNAL error (§2). */
function sendable(result: OutcomeResult): OutcomeResult {
  const size = payloadBytes(result);
  if (size > MAX_MESSAGE_BYTES - FRAME_SLACK) {
    return errorResult(
      "ERROR_CODE_INTERNAL",
      `the answer is too large to send (about ${size} bytes; the protocol's limit is ${MAX_MESSAGE_BYTES} bytes)`,
    );
  }
  return result;
}

export class Lane implements LaneHandle {
  private readonly running = new Map<string, Running>();
  private inboundEnded = false;
  private closed = false;
  /** Outcomes waiting for the writer (only when batching outcomes). */
  private pending: { outcome: Outcome; bytes: number }[] = [];
  private flushScheduled = false;
  private writerBlocked = false;

  /** `batchOutcomes`: the supervisor offered `work.batch`, so ready outcomes may share a frame. */
  constructor(
    private readonly call: WorkCall,
    private readonly dispatcher: Dispatcher,
    private readonly lifecycle: Lifecycle,
    private readonly batchOutcomes = false,
  ) {
    lifecycle.addLane(this);
    call.on("data", (frame: SupervisorFrame__Output) => this.onFrame(frame));
    call.on("end", () => {
      // The supervisor half-closed the lane: answer what is still running, then end it.
      this.inboundEnded = true;
      this.maybeEnd();
    });
    call.on("cancelled", () => this.broken("the supervisor cancelled the stream"));
    call.on("error", (err: Error) => this.broken(err.message));
  }

  private onFrame(frame: SupervisorFrame__Output): void {
    switch (frame.frame) {
      case "open":
        this.write({ ready: { lane: frame.open?.lane ?? 0 } });
        break;
      case "invocation":
        this.start(frame.invocation!);
        break;
      case "cancel":
        this.cancel(frame.cancel!);
        break;
      case "batch":
        // Invocations first, in order, then cancels, as if each had come in its own frame.
        for (const inv of frame.batch?.invocations ?? []) this.start(inv);
        for (const cancel of frame.batch?.cancels ?? []) this.cancel(cancel);
        break;
      default:
        // A frame variant this SDK does not know (a newer supervisor): ignored (§5.2).
        break;
    }
  }

  private start(inv: Invocation__Output): void {
    const id = String(inv.id);
    if (!this.lifecycle.admit()) {
      this.sendOutcome(id, errorResult("ERROR_CODE_UNAVAILABLE", "the module is shutting down", true));
      return;
    }
    if (this.running.has(id)) {
      this.lifecycle.release();
      emit("warn", "ignored an invocation whose id is already running", { id });
      return;
    }
    const running: Running = { abort: new AbortController(), timer: undefined };
    this.running.set(id, running);
    const timeoutMs = Number(inv.timeout_ms ?? 0);
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    if (timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS) {
      running.timer = setTimeout(
        () => this.finish(id, errorResult("ERROR_CODE_DEADLINE_EXCEEDED", "deadline exceeded", true), "deadline exceeded"),
        timeoutMs,
      );
    }
    this.dispatcher
      .run(inv, {
        requestId: inv.request_id ?? "",
        traceparent: inv.traceparent ?? "",
        deadline,
        signal: running.abort.signal,
      })
      .then(
        (result) => this.finish(id, result),
        (err: unknown) => this.finish(id, { error: errorFromThrown(err) }),
      );
  }

  /**
   * Answers invocation `id` with `result` if it is still running here; `abortReason` (deadline,
   * cancel, stop) aborts the handler's signal.
   */
  private finish(id: string, result: OutcomeResult, abortReason?: string): void {
    const running = this.running.get(id);
    if (!running) return;
    this.running.delete(id);
    clearTimeout(running.timer);
    if (abortReason !== undefined) running.abort.abort(new Error(abortReason));
    this.lifecycle.release();
    this.sendOutcome(id, result);
    this.maybeEnd();
  }

  private cancel(cancel: Cancel__Output): void {
    const id = String(cancel.id);
    // An unknown id, or one already answered, is ignored (§5.5).
    if (!this.running.has(id)) return;
    const reason = cancel.reason ? `cancelled: ${cancel.reason}` : "cancelled";
    this.finish(id, errorResult("ERROR_CODE_CANCELLED", reason), reason);
  }

  abandonAll(): number {
    const ids = [...this.running.keys()];
    for (const id of ids) {
      this.finish(
        id,
        errorResult("ERROR_CODE_UNAVAILABLE", "the module stopped before the invocation finished", true),
        "the module is stopping",
      );
    }
    return ids.length;
  }

  private sendOutcome(id: string, result: OutcomeResult): void {
    const outcome: Outcome = { id, ...sendable(result) };
    if (!this.batchOutcomes) {
      this.write({ outcome });
      return;
    }
    this.pending.push({ outcome, bytes: payloadBytes(outcome) });
    this.scheduleFlush();
  }

  /** Flushes at the end of this turn of the event loop, so outcomes ready together share a frame. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.writerBlocked) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush(false);
    });
  }

  /**
   * Sends the pending outcomes, one frame per bounded batch (a single outcome as a plain frame).
   * Stops when the stream pushes back, unless `force` (the lane is ending), and resumes on drain.
   */
  private flush(force: boolean): void {
    while (this.pending.length > 0 && !this.closed) {
      let count = 0;
      let bytes = 0;
      while (count < this.pending.length && count < MAX_BATCH_OUTCOMES && (count === 0 || bytes + this.pending[count]!.bytes <= MAX_BATCH_BYTES)) {
        bytes += this.pending[count]!.bytes;
        count += 1;
      }
      const taken = this.pending.splice(0, count).map((p) => p.outcome);
      const free = this.write(taken.length === 1 ? { outcome: taken[0]! } : { outcomes: { outcomes: taken } });
      if (!free && !force) {
        this.writerBlocked = true;
        this.call.once("drain", () => {
          this.writerBlocked = false;
          this.scheduleFlush();
        });
        return;
      }
    }
  }

  /** Writes one frame; false when the stream asks the writer to wait for "drain". */
  private write(frame: ModuleFrame): boolean {
    if (this.closed) return true;
    try {
      return this.call.write(frame);
    } catch (err) {
      this.broken(`cannot write to the stream: ${(err as Error).message}`);
      return true;
    }
  }

  /** Ends the response stream (status OK) once the supervisor half-closed it and nothing is owed. */
  private maybeEnd(): void {
    if (this.closed || !this.inboundEnded || this.running.size > 0) return;
    this.flush(true);
    this.closed = true;
    this.lifecycle.removeLane(this);
    try {
      this.call.end();
    } catch {
      // The stream is gone already.
    }
  }

  /** The stream broke: nobody will read outcomes; stop the handlers. */
  private broken(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.lifecycle.removeLane(this);
    if (this.running.size > 0) emit("warn", "a work stream broke with invocations running", { reason: why, running: this.running.size });
    for (const running of this.running.values()) {
      clearTimeout(running.timer);
      running.abort.abort(new Error("the work stream broke"));
      this.lifecycle.release();
    }
    this.running.clear();
  }
}
