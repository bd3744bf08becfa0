// The module-author API: what a module is (ConvoticModule), what `register(sdk)` can register
// (routes, workers, nodes, blocks, crons), what each handler receives and returns, and the
// context (`ctx`) handlers use to reach the platform.

// ---- The module ---------------------------------------------------------------------------

/**
 * A Convotic Custom Module: a name, a version and a `register` function. A module file exports
 * one as its default export:
 *
 * ```ts
 * import { ConvoticModule } from "@convotic/block-sdk";
 *
 * const module: ConvoticModule = {
 *   name: "my-custom-module",
 *   version: "1.0.0",
 *   register(sdk) {
 *     sdk.registerRoute({ method: "GET", path: "/hello", handler: async () => ({ status: 200, body: { hello: "world" } }) });
 *   },
 * };
 * export default module;
 * ```
 */
export interface ConvoticModule {
  /** 1-64 characters of `[a-z0-9-]` starting with a letter; must equal the configured name. */
  name: string;
  /** The module version (semver recommended). */
  version: string;
  /** Invocations worked on at once across all lanes (default 64, at most 10 000). */
  maxInFlight?: number;
  /** Registers the module's routes, workers, nodes, blocks and crons. May be async. */
  register(sdk: Sdk): void | Promise<void>;
}

/**
 * What `register` registers into. The SDK does not validate registrations: the supervisor checks
 * the manifest when the module starts and refuses an invalid one with a message naming the bad
 * entry (docs/PROTOCOL.md §4.4).
 */
export interface Sdk {
  /** Registers an HTTP route, served at `/v1/modules/<module name><path>`. */
  registerRoute(route: RouteDefinition): void;
  /** Registers a background handler consuming the messages of a topic. */
  registerWorkerHandler(worker: WorkerDefinition): void;
  /** Registers a workflow node type for the visual builder. */
  registerNodeHandler(node: NodeDefinition): void;
  /** Registers a Block: an integration with its own connection flow and actions. */
  registerBlock(block: BlockDefinition): void;
  /** Registers a scheduled job. */
  registerCron(cron: CronDefinition): void;
}

/** A value or a promise of it. */
export type Awaitable<T> = T | Promise<T>;

/** A JSON Schema: an object or a boolean (serialised for the manifest), or JSON text. */
export type JsonSchema = Record<string, unknown> | boolean | string;

// ---- Routes -------------------------------------------------------------------------------

/** An HTTP method a route can have. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** A route handler. */
export type RouteHandler = (req: RouteRequest, ctx: ConvoticContext) => Awaitable<RouteResponse>;

/** The rest of a middleware chain: the following middleware, then the handler. */
export type Next = (req?: RouteRequest) => Promise<RouteResponse>;

/** A middleware function: answers by itself, or calls `next(req)` to pass the request on. */
export type MiddlewareFunction = (req: RouteRequest, ctx: ConvoticContext, next: Next) => Awaitable<RouteResponse>;

/**
 * Code that runs before a route's handler, in the order listed. A function (its `name` appears
 * in the manifest) or an object with a `name` and a `handle` function.
 */
export type Middleware = MiddlewareFunction | { name: string; handle: MiddlewareFunction };

/** `sdk.registerRoute({...})`. */
export interface RouteDefinition {
  method: HttpMethod;
  /** Starts with `/`; `:name` segments are parameters, e.g. `/orders/:orderId`. */
  path: string;
  /**
   * Whether callers need a valid `X-API-Key` of the workspace (default `true`). With `false`
   * anyone can call the route: verify callers yourself (e.g. with `signatureVerifier`).
   */
  auth?: boolean;
  /** Deadline of one request in ms (default 30 000). */
  timeout?: number;
  /** Largest accepted request body in bytes (default and maximum: the supervisor's limit). */
  maxBodyBytes?: number;
  /** Middleware run before the handler, in order. */
  middleware?: Middleware[];
  handler: RouteHandler;
}

/** An HTTP request to one of the module's routes. */
export interface RouteRequest {
  /**
   * The parsed JSON body when the request sent JSON (`content-type` application/json or
   * `application/*+json`); `null` for an empty or non-JSON body (see `rawBody`).
   */
  body: any;
  /** Query parameters (decoded; the last value of a repeated name). */
  query: Record<string, string>;
  /** Path parameters, e.g. `{ orderId: "42" }`. */
  params: Record<string, string>;
  /** Request headers, names lower-case; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Upper-case method. */
  method: string;
  /** Path inside the module, percent-decoded, e.g. `/orders/42`. */
  path: string;
  /** The registered pattern that matched, e.g. `/orders/:orderId`. */
  route: string;
  /** The raw query string, without `?`. */
  rawQuery: string;
  /** The body exactly as received (for JSON bodies too, e.g. to check a signature). */
  rawBody: Buffer;
  /** Whether the body was JSON (and so is available parsed in `body`). */
  bodyIsJson: boolean;
  /** The workspace the request belongs to. */
  workspace: string;
  /** Whether the caller authenticated with an API key. */
  authenticated: boolean;
  /** Peer address `ip:port`, may be empty. */
  remoteAddr: string;
  /** Request id of the call (`X-Request-Id`). */
  requestId: string;
  /** A header by name, case-insensitive. */
  header(name: string): string | undefined;
}

/**
 * The answer to a route request.
 *
 * `body`: `undefined` sends no body; a `Buffer`/`Uint8Array` is sent as is; a string is sent as
 * text (`content-type: text/plain; charset=utf-8` unless set); anything else is sent as JSON
 * (`content-type: application/json` unless set).
 */
export interface RouteResponse {
  /** HTTP status, 200-599. */
  status: number;
  body?: any;
  /** Response headers, one value per name. */
  headers?: Record<string, string>;
}

// ---- Workers ------------------------------------------------------------------------------

/**
 * What a worker handler returns. Returning nothing acknowledges the message; throwing retries it
 * (a `DiscardError` or `BadInputError` moves it to dead letters at once). Use `ack()`,
 * `retry(...)` and `discard(...)` to say it explicitly.
 */
export interface WorkerResult {
  disposition: "ack" | "retry" | "discard";
  /** Why the message is retried or discarded. */
  reason?: string;
  /** For `retry`: wait at least this long (ms) before the next delivery. */
  retryAfterMs?: number;
}

/** A worker handler. */
export type WorkerHandler = (message: WorkerMessage, ctx: ConvoticContext) => Awaitable<WorkerResult | void>;

/** `sdk.registerWorkerHandler({...})`. */
export interface WorkerDefinition {
  /** Topic: segments of `[A-Za-z0-9_-]` separated by `.`, e.g. `orders.created`. */
  topic: string;
  /** Handler name, unique in the module (default: the topic). */
  name?: string;
  /** Messages handled at once (default 1). */
  concurrency?: number;
  /** Deliveries before the message goes to dead letters (default 5). */
  maxAttempts?: number;
  /** Deadline of one delivery in ms (default 60 000). */
  timeout?: number;
  handler: WorkerHandler;
}

/** A message delivered to a worker. Delivery is at least once: key side effects on `messageId`. */
export interface WorkerMessage {
  /** The JSON payload. */
  payload: any;
  /** Stable id of the message, the same on every delivery. */
  messageId: string;
  /** Delivery attempt, 1 on the first delivery. */
  attempt: number;
  /** The topic it was published on. */
  topic: string;
  /** The handler name (the worker's name, by default its topic). */
  handler: string;
  /** The publisher's headers. */
  headers: Record<string, string>;
  /** When it was published, ms since the Unix epoch. */
  publishedAtMs: number;
}

// ---- Nodes --------------------------------------------------------------------------------

/** What a node handler returns: its output and the branch taken. */
export interface NodeResult {
  /** The JSON output; must conform to the node's output schema. */
  output?: unknown;
  /** One of the node's `branches` (omit for a node that declares none: `default`). */
  branch?: string;
}

/** A node handler. */
export type NodeHandler = (node: NodeInvocation, ctx: ConvoticContext) => Awaitable<NodeResult>;

/** `sdk.registerNodeHandler({...})`. */
export interface NodeDefinition {
  /** Type id, unique in the workspace: `[a-z0-9_.-]`, e.g. `loyalty_lookup`. */
  type: string;
  /** Version of the node definition, e.g. `1.0.0`. Several versions of a type may be registered. */
  version: string;
  displayName?: string;
  description?: string;
  category?: string;
  /** A URL, a data: URI or the name of a built-in icon. */
  icon?: string;
  inputSchema?: JsonSchema;
  outputSchema?: JsonSchema;
  /** Named output branches, e.g. `["found", "not_found"]` (default: one branch, `default`). */
  branches?: string[];
  /** Id of a block whose connection the node needs. */
  connectionBlock?: string;
  /** Deadline of one invocation in ms (default 30 000). */
  timeout?: number;
  handler: NodeHandler;
}

/** A call to a workflow node. */
export interface NodeInvocation {
  /** The input, already validated against the input schema. */
  input: any;
  nodeType: string;
  nodeVersion: string;
  workflowId: string;
  runId: string;
  stepId: string;
  /** The connection, when the node declares `connectionBlock`. */
  connection: Connection | undefined;
}

// ---- Blocks -------------------------------------------------------------------------------

/**
 * A Block connection: configuration with secrets decrypted. Never log or return secret fields;
 * the SDK's `util.inspect` and `JSON.stringify` of a connection show only the field names.
 */
export interface Connection {
  /** Connection id (empty for a connection under test that is not stored yet). */
  readonly id: string;
  /** The block it belongs to. */
  readonly blockId: string;
  /** The configuration (a JSON object), secrets included. */
  readonly config: Record<string, any>;
}

/** The result of testing a connection: bad credentials are `{ ok: false, message }`, not an error. */
export interface TestResult {
  ok: boolean;
  /** Why not (the provider's reason), or a note on success. */
  message?: string;
  /** A label for the account the credentials belong to. */
  accountLabel?: string;
}

/** A call to one of a block's actions. */
export interface ActionCall {
  /** The input, already validated against the action's input schema. */
  input: any;
  /** The connection the action runs with. */
  connection: Connection;
  blockId: string;
  action: string;
}

/** `actions: [...]` of a block. */
export interface ActionDefinition {
  /** Unique in the block: `[a-z0-9_.-]`. */
  name: string;
  displayName?: string;
  description?: string;
  inputSchema?: JsonSchema;
  outputSchema?: JsonSchema;
  /** Deadline of one call in ms (default 30 000). */
  timeout?: number;
  /** Returns the action's JSON output. */
  handler: (call: ActionCall, ctx: ConvoticContext) => Awaitable<unknown>;
}

/** `sdk.registerBlock({...})`. */
export interface BlockDefinition {
  /** Block id: `[a-z0-9_.-]`, e.g. `regional-sms`. */
  id: string;
  name?: string;
  description?: string;
  icon?: string;
  /** JSON Schema of a connection's configuration. */
  connectionSchema?: JsonSchema;
  /** Top-level configuration fields that are secrets: encrypted at rest, never returned by the API. */
  secretFields?: string[];
  /** Deadline of a connection test in ms (default 30 000). */
  testTimeout?: number;
  /** Checks a connection's credentials. */
  testConnection?: (connection: Connection, ctx: ConvoticContext) => Awaitable<TestResult | boolean>;
  actions?: ActionDefinition[];
}

// ---- Crons --------------------------------------------------------------------------------

/** One run of a cron job. */
export interface CronTick {
  /** The cron name. */
  cron: string;
  /** Unique id of this run. */
  runId: string;
  /** The tick's scheduled time, ms since the Unix epoch. */
  scheduledAtMs: number;
  /** When it fired, ms since the Unix epoch. */
  firedAtMs: number;
  /** True for a "run now" request. */
  manual: boolean;
}

/** `sdk.registerCron({...})`. */
export interface CronDefinition {
  /** Unique in the module: `[a-z0-9_.-]`. */
  name: string;
  /** 5 fields (minute hour day-of-month month day-of-week), 6 (leading seconds) or `@daily`... */
  schedule: string;
  /** IANA time zone, e.g. `Europe/Paris` (default UTC). */
  timezone?: string;
  /** A tick arriving while the previous run is outstanding: `skip` (default) or `allow`. */
  overlap?: "skip" | "allow";
  /** Ticks missed while the supervisor was down: `none` (default) or `once` (one run at start-up). */
  catchUp?: "none" | "once";
  /** Deadline of one run in ms (default 15 min). */
  timeout?: number;
  /** May return a note stored in the run history (a string or `{ message }`). */
  handler: (tick: CronTick, ctx: ConvoticContext) => Awaitable<void | string | { message?: string }>;
}

// ---- The context (ctx) --------------------------------------------------------------------

/** A JSON object. */
export type JsonObject = Record<string, any>;

/**
 * The context a handler runs in: its call and the platform's services. Records use the
 * platform's field names (as in the REST API: `external_id`, `created_at_ms`...).
 */
export interface ConvoticContext {
  /** Contacts of the workspace. */
  contacts: Contacts;
  /** Conversations of the workspace. */
  conversations: Conversations;
  /** Outbound messages. */
  messages: Messages;
  /** Workflow triggers. */
  workflows: Workflows;
  /** Key-value storage scoped to the module in its workspace. */
  storage: Storage;
  /** Structured logger; lines carry the call's request id. */
  logger: Logger;
  /** Request id of the call (`X-Request-Id` for HTTP), may be empty. */
  requestId: string;
  /** W3C trace context of the caller, may be empty. */
  traceparent: string;
  /** The workspace the call belongs to. */
  workspace: string;
  /** The module name. */
  module: string;
  /** The instance id (unique per start of the module). */
  instance: string;
  /**
   * Aborted when the call is over before the handler finished: its deadline passed, the caller
   * went away (cancel) or the module stopped. Pass it to `fetch`, timers... to stop early.
   */
  signal: AbortSignal;
  /** When the call's deadline passes (ms since the Unix epoch), if it has one. */
  deadline: number | undefined;
}

export interface Contact {
  id: string;
  external_id: string;
  name: string;
  email: string;
  phone: string;
  attributes: JsonObject;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface NewContact {
  /** Id in an external system, unique in the workspace. */
  external_id?: string;
  name?: string;
  email?: string;
  phone?: string;
  attributes?: JsonObject;
}

/** Fields left out are unchanged; `""` clears one. `attributes` is merged: a `null` value removes a key. */
export interface ContactUpdate {
  external_id?: string;
  name?: string;
  email?: string;
  phone?: string;
  attributes?: JsonObject;
}

/** Paging of list calls: `pageSize` 1-500 (default 50), `pageToken` from the previous page. */
export interface PageOptions {
  pageSize?: number;
  pageToken?: string;
}

export interface Contacts {
  /** The contact with this id, or `null`. */
  get(id: string): Promise<Contact | null>;
  /** The contact with this external id, or `null`. */
  findByExternalId(externalId: string): Promise<Contact | null>;
  /** Creates a contact (`ALREADY_EXISTS` when the external id is taken). */
  create(contact: NewContact): Promise<Contact>;
  /** Updates a contact and returns it as stored. */
  update(id: string, update: ContactUpdate): Promise<Contact>;
  /** Deletes a contact; `false` when it did not exist. */
  delete(id: string): Promise<boolean>;
  /** One page of contacts, oldest first. */
  list(options?: PageOptions): Promise<{ contacts: Contact[]; nextPageToken: string | null }>;
}

export interface Conversation {
  id: string;
  contact_id: string;
  /** e.g. `whatsapp`, `sms`, `email`, `web`. */
  channel: string;
  /** `open` or `closed`. */
  status: string;
  subject: string;
  attributes: JsonObject;
  created_at_ms: number;
  updated_at_ms: number;
  closed_at_ms: number;
}

export interface NewConversation {
  contact_id: string;
  channel: string;
  subject?: string;
  attributes?: JsonObject;
}

export interface ConversationUpdate {
  subject?: string;
  attributes?: JsonObject;
}

export interface ConversationFilter extends PageOptions {
  contact_id?: string;
  /** `open` or `closed`. */
  status?: string;
}

export interface Conversations {
  create(conversation: NewConversation): Promise<Conversation>;
  get(id: string): Promise<Conversation | null>;
  update(id: string, update: ConversationUpdate): Promise<Conversation>;
  list(filter?: ConversationFilter): Promise<{ conversations: Conversation[]; nextPageToken: string | null }>;
  /** Closes a conversation (idempotent) and returns it. */
  close(id: string): Promise<Conversation>;
}

export interface OutgoingMessage {
  contact_id: string;
  conversation_id?: string;
  channel: string;
  text?: string;
  /** Structured content (template id, media...). */
  content?: unknown;
}

export interface OutboundMessage {
  id: string;
  contact_id: string;
  conversation_id: string;
  channel: string;
  text: string;
  content: unknown;
  /**
   * `queued` (waiting for a delivery attempt), `sending`, `sent` (a target accepted it),
   * `delivered` (the provider reported it delivered) or `failed`.
   */
  status: string;
  created_at_ms: number;
  /** The provider's id for the message once a target accepted it, `""` before. */
  provider_message_id: string;
  /** Why the last delivery attempt failed (or why the message failed for good), `""` when none. */
  error: string;
}

export interface Messages {
  /** Queues a message in the outbox. */
  send(message: OutgoingMessage): Promise<OutboundMessage>;
  /** The message of the workspace with this id, with its current delivery status, or `null`. */
  get(id: string): Promise<OutboundMessage | null>;
}

export interface WorkflowRun {
  id: string;
  workflow_id: string;
  payload: unknown;
  /**
   * `queued` (waiting to be handed to the workspace's workflow engine), `sending`, `delivered`
   * (the engine accepted it), `running`, `succeeded` or `failed`.
   */
  status: string;
  created_at_ms: number;
  /** The engine's output once the run succeeded, `null` otherwise. */
  output: unknown;
  /** The engine's error once the run failed, or why handing it over failed; `""` when none. */
  error: string;
}

export interface TriggerOptions {
  /** The JSON payload the workflow starts with. */
  payload?: unknown;
  /** A second trigger with the same key returns the first run. */
  idempotencyKey?: string;
}

export interface Workflows {
  /** Triggers a workflow, e.g. `ctx.workflows.trigger("wf_abc123", { payload: req.body })`. */
  trigger(workflowId: string, options?: TriggerOptions): Promise<WorkflowRun>;
  /** The run of the workspace with this id, with its current status (and output or error once it finished), or `null`. */
  get(id: string): Promise<WorkflowRun | null>;
}

export interface StorageEntry {
  key: string;
  value: unknown;
  /** 1 when the key is created, +1 on every write. */
  revision: number;
  /** 0 = never expires. */
  expires_at_ms: number;
}

export interface StorageWriteOptions {
  /** Expire the key after this many ms (default: never). */
  ttlMs?: number;
}

export interface Storage {
  /** The value of `key`, or `null` when it is absent or expired. */
  get<T = any>(key: string): Promise<T | null>;
  /** The entry (value and revision), or `null`. */
  getEntry(key: string): Promise<StorageEntry | null>;
  /** Stores a JSON value (at most 1 MiB) under `key`. */
  set(key: string, value: unknown, options?: StorageWriteOptions): Promise<StorageEntry>;
  /** Deletes `key`; `false` when it did not exist. */
  delete(key: string): Promise<boolean>;
  /** Every entry whose key starts with `prefix` (all pages), ascending key order. */
  list(prefix?: string): Promise<StorageEntry[]>;
  /** One page of the entries whose key starts with `prefix`. */
  listPage(prefix: string, options?: PageOptions): Promise<{ entries: StorageEntry[]; nextPageToken: string | null }>;
  /**
   * Writes only if the key's revision is `expectedRevision` (0 = the key must be absent).
   * Returns the new entry, or `null` when the revision did not match.
   */
  compareAndSet(key: string, value: unknown, expectedRevision: number, options?: StorageWriteOptions): Promise<StorageEntry | null>;
}

/** Log levels, in increasing severity. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/**
 * Structured logs, sent to the supervisor in order without blocking the handler; a line the
 * supervisor cannot take is written to stderr as a JSON object.
 */
export interface Logger {
  log(level: LogLevel, message: string, fields?: JsonObject): void;
  trace(message: string, fields?: JsonObject): void;
  debug(message: string, fields?: JsonObject): void;
  info(message: string, fields?: JsonObject): void;
  warn(message: string, fields?: JsonObject): void;
  error(message: string, fields?: JsonObject): void;
}
