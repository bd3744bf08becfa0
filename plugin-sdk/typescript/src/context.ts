// The context (`ctx`) of one invocation: who and what the call is (request id, workspace,
// deadline, abort signal) and typed clients of the host services — contacts, conversations,
// messages, workflows, storage and logger — whose calls carry the invocation's deadline,
// request id and trace context.
import { HostError } from "./errors.js";
import type { LogLevel as PbLogLevel } from "./generated/convotic/host/v1/LogLevel.js";
import type { Contact as PbContact } from "./generated/convotic/host/v1/Contact.js";
import type { Conversation as PbConversation } from "./generated/convotic/host/v1/Conversation.js";
import type { OutboundMessage as PbOutboundMessage } from "./generated/convotic/host/v1/OutboundMessage.js";
import type { StorageEntry as PbStorageEntry } from "./generated/convotic/host/v1/StorageEntry.js";
import type { WorkflowRun as PbWorkflowRun } from "./generated/convotic/host/v1/WorkflowRun.js";
import type { CallSettings, Host, HostService } from "./host.js";
import { jsonBytes, parseJson } from "./json.js";
import type {
  Contact,
  ContactUpdate,
  Contacts,
  Conversation,
  ConversationFilter,
  ConversationUpdate,
  Conversations,
  ConvoticContext,
  JsonObject,
  Logger,
  LogLevel,
  Messages,
  NewContact,
  NewConversation,
  OutboundMessage,
  OutgoingMessage,
  PageOptions,
  Storage,
  StorageEntry,
  StorageWriteOptions,
  WorkflowRun,
  Workflows,
} from "./types.js";

/** Identity of the running instance, shared by every context. */
export interface Identity {
  module: string;
  workspace: string;
  instance: string;
}

/** What is specific to one invocation. */
export interface CallInfo {
  requestId: string;
  traceparent: string;
  /** The workspace named by the invocation (routes), else the instance's. */
  workspace?: string;
  deadline?: number;
  signal: AbortSignal;
}

type Json = Record<string, unknown>;

function decode(call: string, bytes: Buffer | Uint8Array | null | undefined): unknown {
  try {
    return parseJson(bytes);
  } catch (err) {
    throw new HostError(call, "INTERNAL", `the host answered invalid JSON: ${(err as Error).message}`);
  }
}

function encode(call: string, value: unknown): Buffer {
  try {
    return jsonBytes(value);
  } catch (err) {
    throw new HostError(call, "INVALID_ARGUMENT", `the value cannot be encoded as JSON: ${(err as Error).message}`);
  }
}

function object(call: string, bytes: Buffer | Uint8Array | null | undefined): JsonObject {
  const value = decode(call, bytes);
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : {};
}

const num = (v: unknown): number => (v === undefined || v === null || v === "" ? 0 : Number(v));
const nextToken = (token: string | undefined): string | null => (token ? token : null);

function contact(call: string, c: PbContact): Contact {
  return {
    id: String(c.id ?? ""),
    external_id: String(c.external_id ?? ""),
    name: String(c.name ?? ""),
    email: String(c.email ?? ""),
    phone: String(c.phone ?? ""),
    attributes: object(call, c.attributes_json as Buffer),
    created_at_ms: num(c.created_at_ms),
    updated_at_ms: num(c.updated_at_ms),
  };
}

function conversation(call: string, c: PbConversation): Conversation {
  return {
    id: String(c.id ?? ""),
    contact_id: String(c.contact_id ?? ""),
    channel: String(c.channel ?? ""),
    status: String(c.status ?? ""),
    subject: String(c.subject ?? ""),
    attributes: object(call, c.attributes_json as Buffer),
    created_at_ms: num(c.created_at_ms),
    updated_at_ms: num(c.updated_at_ms),
    closed_at_ms: num(c.closed_at_ms),
  };
}

function outbound(call: string, m: PbOutboundMessage): OutboundMessage {
  return {
    id: String(m.id ?? ""),
    contact_id: String(m.contact_id ?? ""),
    conversation_id: String(m.conversation_id ?? ""),
    channel: String(m.channel ?? ""),
    text: String(m.text ?? ""),
    content: decode(call, m.content_json as Buffer),
    status: String(m.status ?? ""),
    created_at_ms: num(m.created_at_ms),
    provider_message_id: String(m.provider_message_id ?? ""),
    error: String(m.error ?? ""),
  };
}

function entry(call: string, e: PbStorageEntry): StorageEntry {
  return {
    key: String(e.key ?? ""),
    value: decode(call, e.value_json as Buffer),
    revision: num(e.revision),
    expires_at_ms: num(e.expires_at_ms),
  };
}

function workflowRun(call: string, r: PbWorkflowRun): WorkflowRun {
  return {
    id: String(r.id ?? ""),
    workflow_id: String(r.workflow_id ?? ""),
    payload: decode(call, r.payload_json as Buffer),
    status: String(r.status ?? ""),
    created_at_ms: num(r.created_at_ms),
    output: decode(call, r.output_json as Buffer),
    error: String(r.error ?? ""),
  };
}

/** NOT_FOUND becomes `null`. */
async function optional<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof HostError && err.code === "NOT_FOUND") return null;
    throw err;
  }
}

function ttl(options: StorageWriteOptions | undefined): number {
  const ms = options?.ttlMs;
  return ms === undefined || !Number.isFinite(ms) || ms <= 0 ? 0 : Math.max(1, Math.round(ms));
}

/** Copies the fields of `from` that are set (neither undefined nor null) into `to`, as strings. */
function present(to: Json, from: Json, keys: string[]): Json {
  for (const key of keys) if (from[key] !== undefined && from[key] !== null) to[key] = String(from[key]);
  return to;
}

const LEVELS: Record<LogLevel, PbLogLevel> = {
  trace: "LOG_LEVEL_TRACE",
  debug: "LOG_LEVEL_DEBUG",
  info: "LOG_LEVEL_INFO",
  warn: "LOG_LEVEL_WARN",
  error: "LOG_LEVEL_ERROR",
};

/** Builds the context of one invocation. */
export function createContext(host: Host, identity: Identity, info: CallInfo): ConvoticContext {
  const settings: CallSettings = {
    deadline: info.deadline,
    requestId: info.requestId,
    traceparent: info.traceparent,
    signal: info.signal,
  };
  const call = <T>(service: HostService, method: string, name: string, request: Json): Promise<T> =>
    host.unary<T>(service, method, name, request, settings);

  const contacts: Contacts = {
    get: (id) => optional(call<PbContact>("Contacts", "Get", "contacts.get", { id }).then((c) => contact("contacts.get", c))),
    findByExternalId: (externalId) =>
      optional(
        call<PbContact>("Contacts", "FindByExternalId", "contacts.findByExternalId", { external_id: externalId }).then((c) =>
          contact("contacts.findByExternalId", c),
        ),
      ),
    create: async (c: NewContact) => {
      const request = present({ attributes_json: encode("contacts.create", c.attributes) }, c as Json, ["external_id", "name", "email", "phone"]);
      return contact("contacts.create", await call<PbContact>("Contacts", "Create", "contacts.create", request));
    },
    update: async (id: string, u: ContactUpdate) => {
      const request = present({ id, attributes_json: encode("contacts.update", u.attributes) }, u as Json, ["external_id", "name", "email", "phone"]);
      return contact("contacts.update", await call<PbContact>("Contacts", "Update", "contacts.update", request));
    },
    delete: async (id) => (await call<{ deleted: boolean }>("Contacts", "Delete", "contacts.delete", { id })).deleted === true,
    list: async (options: PageOptions = {}) => {
      const r = await call<{ contacts: PbContact[]; next_page_token: string }>("Contacts", "List", "contacts.list", {
        page_size: options.pageSize ?? 0,
        page_token: options.pageToken ?? "",
      });
      return { contacts: (r.contacts ?? []).map((c) => contact("contacts.list", c)), nextPageToken: nextToken(r.next_page_token) };
    },
  };

  const conversations: Conversations = {
    create: async (c: NewConversation) => {
      const request = present({ attributes_json: encode("conversations.create", c.attributes) }, c as unknown as Json, ["contact_id", "channel", "subject"]);
      return conversation("conversations.create", await call<PbConversation>("Conversations", "Create", "conversations.create", request));
    },
    get: (id) =>
      optional(call<PbConversation>("Conversations", "Get", "conversations.get", { id }).then((c) => conversation("conversations.get", c))),
    update: async (id: string, u: ConversationUpdate) => {
      const request = present({ id, attributes_json: encode("conversations.update", u.attributes) }, u as Json, ["subject"]);
      return conversation("conversations.update", await call<PbConversation>("Conversations", "Update", "conversations.update", request));
    },
    list: async (filter: ConversationFilter = {}) => {
      const r = await call<{ conversations: PbConversation[]; next_page_token: string }>("Conversations", "List", "conversations.list", {
        contact_id: filter.contact_id ?? "",
        status: filter.status ?? "",
        page_size: filter.pageSize ?? 0,
        page_token: filter.pageToken ?? "",
      });
      return {
        conversations: (r.conversations ?? []).map((c) => conversation("conversations.list", c)),
        nextPageToken: nextToken(r.next_page_token),
      };
    },
    close: async (id) => conversation("conversations.close", await call<PbConversation>("Conversations", "Close", "conversations.close", { id })),
  };

  const messages: Messages = {
    send: async (m: OutgoingMessage) => {
      const request = present({ content_json: encode("messages.send", m.content) }, m as unknown as Json, [
        "contact_id",
        "conversation_id",
        "channel",
        "text",
      ]);
      return outbound("messages.send", await call<PbOutboundMessage>("Messages", "Send", "messages.send", request));
    },
    get: (id) => optional(call<PbOutboundMessage>("Messages", "Get", "messages.get", { id }).then((m) => outbound("messages.get", m))),
  };

  const workflows: Workflows = {
    trigger: async (workflowId, options = {}) => {
      const request = {
        workflow_id: workflowId,
        payload_json: encode("workflows.trigger", options.payload),
        idempotency_key: options.idempotencyKey ?? "",
      };
      return workflowRun("workflows.trigger", await call<PbWorkflowRun>("Workflows", "Trigger", "workflows.trigger", request));
    },
    get: (id) =>
      optional(call<PbWorkflowRun>("Workflows", "Get", "workflows.get", { id }).then((r) => workflowRun("workflows.get", r))),
  };

  const listPage = async (prefix: string, options: PageOptions = {}) => {
    const r = await call<{ entries: PbStorageEntry[]; next_page_token: string }>("Storage", "List", "storage.list", {
      prefix,
      page_size: options.pageSize ?? 0,
      page_token: options.pageToken ?? "",
    });
    return { entries: (r.entries ?? []).map((e) => entry("storage.list", e)), nextPageToken: nextToken(r.next_page_token) };
  };

  const storage: Storage = {
    getEntry: (key) => optional(call<PbStorageEntry>("Storage", "Get", "storage.get", { key }).then((e) => entry("storage.get", e))),
    get: async <T = any>(key: string) => {
      const found = await storage.getEntry(key);
      return found === null ? null : (found.value as T);
    },
    set: async (key, value, options) =>
      entry(
        "storage.set",
        await call<PbStorageEntry>("Storage", "Set", "storage.set", { key, value_json: encode("storage.set", value), ttl_ms: ttl(options) }),
      ),
    delete: async (key) => (await call<{ deleted: boolean }>("Storage", "Delete", "storage.delete", { key })).deleted === true,
    listPage,
    list: async (prefix = "") => {
      const all: StorageEntry[] = [];
      let token: string | null = null;
      for (;;) {
        const page = await listPage(prefix, { pageToken: token ?? "" });
        all.push(...page.entries);
        // A host answering the same token again would loop forever: stop.
        if (page.nextPageToken === null || page.nextPageToken === token) return all;
        token = page.nextPageToken;
      }
    },
    compareAndSet: async (key, value, expectedRevision, options) => {
      try {
        const e = await call<PbStorageEntry>("Storage", "CompareAndSet", "storage.compareAndSet", {
          key,
          value_json: encode("storage.compareAndSet", value),
          expected_revision: String(Math.max(0, Math.trunc(expectedRevision || 0))),
          ttl_ms: ttl(options),
        });
        return entry("storage.compareAndSet", e);
      } catch (err) {
        if (err instanceof HostError && err.code === "FAILED_PRECONDITION") return null;
        throw err;
      }
    },
  };

  const log = (level: LogLevel, message: string, fields?: JsonObject): void => {
    let fieldsJson: Buffer;
    try {
      const f = fields === undefined || fields === null ? undefined : typeof fields === "object" && !Array.isArray(fields) ? fields : { fields };
      fieldsJson = jsonBytes(f);
    } catch {
      fieldsJson = jsonBytes({ fields: "<not serialisable>" });
    }
    host.log({ level: LEVELS[level] ?? "LOG_LEVEL_INFO", message: String(message), fields_json: fieldsJson, request_id: info.requestId });
  };
  const logger: Logger = {
    log,
    trace: (m, f) => log("trace", m, f),
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
  };

  return {
    contacts,
    conversations,
    messages,
    workflows,
    storage,
    logger,
    requestId: info.requestId,
    traceparent: info.traceparent,
    workspace: info.workspace || identity.workspace,
    module: identity.module,
    instance: identity.instance,
    signal: info.signal,
    deadline: info.deadline,
  };
}
