// The serving lifecycle of one module instance: invocations in flight, the open lanes, draining
// (after Shutdown or SIGTERM: health NOT_SERVING, new invocations refused, in-flight work given
// its grace period) and stopping (docs/PROTOCOL.md §7.1).
import type { HealthImplementation } from "grpc-health-check";

import { PLUGIN_SERVICE_NAME } from "./proto.js";

/** What the lifecycle needs from a lane. */
export interface LaneHandle {
  /** Answers every invocation still running on the lane with UNAVAILABLE; returns how many. */
  abandonAll(): number;
}

export class Lifecycle {
  private inFlightCount = 0;
  private drainingFlag = false;
  private stoppingFlag = false;
  private readonly idleWaiters = new Set<() => void>();
  private readonly laneWaiters = new Set<() => void>();
  readonly lanes = new Set<LaneHandle>();

  constructor(private readonly health?: HealthImplementation) {}

  get inFlight(): number {
    return this.inFlightCount;
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  /** Reports SERVING for the whole server and for the Plugin service. */
  setServing(): void {
    this.health?.setStatus("", "SERVING");
    this.health?.setStatus(PLUGIN_SERVICE_NAME, "SERVING");
  }

  /** Admits an invocation; false when draining (the caller answers UNAVAILABLE). */
  admit(): boolean {
    if (this.drainingFlag) return false;
    this.inFlightCount++;
    return true;
  }

  /** An admitted invocation was answered (or its lane broke). */
  release(): void {
    this.inFlightCount = Math.max(0, this.inFlightCount - 1);
    if (this.inFlightCount === 0) {
      for (const wake of [...this.idleWaiters]) wake();
    }
  }

  /** Starts draining: health NOT_SERVING, new invocations refused. */
  beginDrain(): void {
    if (this.drainingFlag) return;
    this.drainingFlag = true;
    this.health?.setStatus("", "NOT_SERVING");
    this.health?.setStatus(PLUGIN_SERVICE_NAME, "NOT_SERVING");
  }

  /** Drains and waits until nothing is in flight or `graceMs` passes; returns how many are still in flight. */
  async drain(graceMs: number): Promise<number> {
    this.beginDrain();
    if (this.inFlightCount > 0) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, graceMs);
        this.idleWaiters.add(done);
      });
    }
    return this.inFlightCount;
  }

  /** Marks the instance as stopping (draining too). */
  beginStop(): void {
    this.beginDrain();
    this.stoppingFlag = true;
  }

  /** Answers every invocation still running on any lane with UNAVAILABLE; returns how many. */
  abandonAll(): number {
    let count = 0;
    for (const lane of [...this.lanes]) count += lane.abandonAll();
    return count;
  }

  addLane(lane: LaneHandle): void {
    this.lanes.add(lane);
  }

  removeLane(lane: LaneHandle): void {
    this.lanes.delete(lane);
    if (this.lanes.size === 0) {
      for (const wake of [...this.laneWaiters]) wake();
    }
  }

  /** Waits until every lane has ended, or `timeoutMs` passes. */
  async lanesClosed(timeoutMs: number): Promise<boolean> {
    if (this.lanes.size === 0) return true;
    return new Promise<boolean>((resolve) => {
      const done = (closed: boolean): void => {
        clearTimeout(timer);
        this.laneWaiters.delete(wake);
        resolve(closed);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.laneWaiters.add(wake);
    });
  }
}
