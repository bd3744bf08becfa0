// The registrations of a module (the `sdk` its `register` function receives) and the lookups the
// work dispatcher uses to find the handler of an invocation.
import type {
  BlockDefinition,
  CronDefinition,
  NodeDefinition,
  RouteDefinition,
  Sdk,
  WorkerDefinition,
} from "./types.js";

/** Orders versions like semver precedence; missing parts are 0, non-numbers compare as text. */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [string[], string | undefined] => {
    const core = v.split("+")[0] ?? "";
    const dash = core.indexOf("-");
    return dash >= 0 ? [core.slice(0, dash).split("."), core.slice(dash + 1)] : [core.split("."), undefined];
  };
  const part = (x: string, y: string): number => {
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return nx === ny ? 0 : nx < ny ? -1 : 1;
    return x === y ? 0 : x < y ? -1 : 1;
  };
  const [coreA, preA] = split(a);
  const [coreB, preB] = split(b);
  for (let i = 0; i < Math.max(coreA.length, coreB.length); i++) {
    const ord = part(coreA[i] ?? "0", coreB[i] ?? "0");
    if (ord !== 0) return ord;
  }
  if (preA === undefined && preB === undefined) return 0;
  if (preA === undefined) return 1;
  if (preB === undefined) return -1;
  return preA === preB ? 0 : preA < preB ? -1 : 1;
}

/** The name a worker is dispatched on: its name, or its topic when unnamed. */
export function effectiveWorkerName(worker: WorkerDefinition): string {
  return worker.name ? worker.name : worker.topic;
}

/** Matches a request path against a route pattern; returns the parameters or undefined. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.replace(/^\/+|\/+$/g, "").split("/");
  const got = path.replace(/^\/+|\/+$/g, "").split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const p = want[i]!;
    const a = got[i]!;
    if (p.startsWith(":")) {
      if (a === "") return undefined;
      params[p.slice(1)] = a;
    } else if (p !== a) {
      return undefined;
    }
  }
  return params;
}

/** Collects registrations; once sealed (the module is serving), answers lookups. */
export class Registry implements Sdk {
  readonly routes: RouteDefinition[] = [];
  readonly workers: WorkerDefinition[] = [];
  readonly nodes: NodeDefinition[] = [];
  readonly blocks: BlockDefinition[] = [];
  readonly crons: CronDefinition[] = [];
  private sealed = false;
  private routeIndex = new Map<string, RouteDefinition>();
  private workerIndex = new Map<string, WorkerDefinition>();
  private workerTopicIndex = new Map<string, WorkerDefinition>();
  private blockIndex = new Map<string, BlockDefinition>();
  private cronIndex = new Map<string, CronDefinition>();

  private open(what: string): void {
    if (this.sealed) {
      throw new Error(`${what}: registrations are closed once the module is serving; register in register(sdk)`);
    }
  }

  registerRoute(route: RouteDefinition): void {
    this.open("registerRoute");
    this.routes.push({ ...route, middleware: route.middleware ? [...route.middleware] : undefined });
  }

  registerWorkerHandler(worker: WorkerDefinition): void {
    this.open("registerWorkerHandler");
    this.workers.push({ ...worker });
  }

  registerNodeHandler(node: NodeDefinition): void {
    this.open("registerNodeHandler");
    this.nodes.push({ ...node, branches: node.branches ? [...node.branches] : undefined });
  }

  registerBlock(block: BlockDefinition): void {
    this.open("registerBlock");
    this.blocks.push({
      ...block,
      secretFields: block.secretFields ? [...block.secretFields] : undefined,
      actions: (block.actions ?? []).map((a) => ({ ...a })),
    });
  }

  registerCron(cron: CronDefinition): void {
    this.open("registerCron");
    this.crons.push({ ...cron });
  }

  /** Closes registration and builds the lookup tables (first registration wins). */
  seal(): void {
    if (this.sealed) return;
    this.sealed = true;
    const first = <T>(map: Map<string, T>, key: string, value: T): void => {
      if (!map.has(key)) map.set(key, value);
    };
    for (const r of this.routes) first(this.routeIndex, `${String(r.method).toUpperCase()} ${r.path}`, r);
    for (const w of this.workers) {
      first(this.workerIndex, effectiveWorkerName(w), w);
      first(this.workerTopicIndex, w.topic, w);
    }
    for (const b of this.blocks) first(this.blockIndex, b.id, b);
    for (const c of this.crons) first(this.cronIndex, c.name, c);
  }

  /**
   * The route for (`method`, `route`), or, when the supervisor did not say which pattern matched,
   * the first route of that method whose pattern matches `path` (with its parameters).
   */
  findRoute(method: string, route: string, path: string): { route: RouteDefinition; params?: Record<string, string> } | undefined {
    if (route) {
      const found = this.routeIndex.get(`${method} ${route}`);
      return found ? { route: found } : undefined;
    }
    for (const r of this.routes) {
      if (String(r.method).toUpperCase() !== method) continue;
      const params = matchPath(r.path, path);
      if (params) return { route: r, params };
    }
    return undefined;
  }

  /** The worker named `handler`, else the first one on `topic`. */
  findWorker(handler: string, topic: string): WorkerDefinition | undefined {
    return (handler ? this.workerIndex.get(handler) : undefined) ?? (topic ? this.workerTopicIndex.get(topic) : undefined);
  }

  /** The node of `type` at `version`; an empty version means the newest. */
  findNode(type: string, version: string): NodeDefinition | undefined {
    const candidates = this.nodes.filter((n) => n.type === type);
    if (version) return candidates.find((n) => n.version === version);
    return candidates.reduce<NodeDefinition | undefined>(
      (best, n) => (best === undefined || compareVersions(n.version, best.version) > 0 ? n : best),
      undefined,
    );
  }

  findBlock(id: string): BlockDefinition | undefined {
    return this.blockIndex.get(id);
  }

  findCron(name: string): CronDefinition | undefined {
    return this.cronIndex.get(name);
  }

  /** Registrations without a handler (their calls fail), for a warning at start. */
  missingHandlers(): string[] {
    const missing: string[] = [];
    for (const r of this.routes) if (typeof r.handler !== "function") missing.push(`route ${r.method} ${r.path}`);
    for (const w of this.workers) if (typeof w.handler !== "function") missing.push(`worker ${effectiveWorkerName(w)}`);
    for (const n of this.nodes) if (typeof n.handler !== "function") missing.push(`node ${n.type}@${n.version}`);
    for (const b of this.blocks) {
      for (const a of b.actions ?? []) if (typeof a.handler !== "function") missing.push(`action ${a.name} of block ${b.id}`);
    }
    for (const c of this.crons) if (typeof c.handler !== "function") missing.push(`cron ${c.name}`);
    return missing;
  }
}
