// HMAC signatures of webhook calls, for routes registered with `auth: false`: a middleware that
// lets through only requests signed with a shared secret, and `sign`, which makes the header a
// sender attaches. The header (default `x-convotic-signature`) carries
// `t=<unix ms>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; several `v1=` entries and
// several secrets allow rotating a secret without downtime. Same scheme as the Rust SDK's.
import { createHmac, timingSafeEqual } from "node:crypto";

import type { ConvoticContext, Middleware, Next, RouteRequest, RouteResponse } from "./types.js";

/** Default name of the signature header. */
export const SIGNATURE_HEADER = "x-convotic-signature";
/** Name of the middleware in the manifest. */
export const SIGNATURE_MIDDLEWARE_NAME = "hmac-signature";

const MAX_HEADER_BYTES = 2048;
const MAX_SIGNATURES = 8;
const TAG_BYTES = 32;

/** Options of {@link signatureVerifier}. */
export interface SignatureOptions {
  /** The shared secret(s); every one is accepted (e.g. the current and the previous one). */
  secret: string | Buffer | Array<string | Buffer>;
  /** Header name (default `x-convotic-signature`). */
  header?: string;
  /** A signature older than this is refused (ms, default 5 min). */
  replayWindowMs?: number;
  /** A signature dated further in the future is refused (ms, default 30 s). */
  clockSkewMs?: number;
}

function tag(secret: Buffer, timestamp: string, body: Buffer): Buffer {
  return createHmac("sha256", secret).update(timestamp).update(".").update(body).digest();
}

/** The header value for `body` sent at `tMs` (ms since the Unix epoch). */
export function sign(secret: string | Buffer, tMs: number, body: string | Buffer): string {
  const timestamp = String(Math.trunc(tMs));
  return `t=${timestamp},v1=${tag(Buffer.from(secret), timestamp, Buffer.from(body)).toString("hex")}`;
}

/** Parses `t=<ms>,v1=<hex>[,v1=...]`; elements with other keys are ignored. */
export function parseSignatureHeader(value: string): { timestampText: string; timestampMs: number; signatures: Buffer[] } {
  if (Buffer.byteLength(value) > MAX_HEADER_BYTES) throw new Error(`longer than ${MAX_HEADER_BYTES} bytes`);
  let timestamp: [string, number] | undefined;
  const signatures: Buffer[] = [];
  for (const raw of value.split(",")) {
    const element = raw.trim();
    const eq = element.indexOf("=");
    if (eq < 0) throw new Error(`element ${JSON.stringify(element)} is not key=value`);
    const key = element.slice(0, eq).trim();
    const val = element.slice(eq + 1).trim();
    if (key === "t") {
      if (timestamp) throw new Error("more than one t= timestamp");
      if (!/^\d{1,20}$/.test(val)) throw new Error(`t=${JSON.stringify(val)} is not a Unix time in milliseconds`);
      const ms = Number(val);
      if (!Number.isSafeInteger(ms)) throw new Error(`t=${JSON.stringify(val)} is out of range`);
      timestamp = [val, ms];
    } else if (key === "v1") {
      if (signatures.length === MAX_SIGNATURES) throw new Error(`more than ${MAX_SIGNATURES} v1= signatures`);
      if (!/^[0-9a-fA-F]+$/.test(val) || val.length !== TAG_BYTES * 2) throw new Error(`v1 is not ${TAG_BYTES * 2} hex digits`);
      signatures.push(Buffer.from(val, "hex"));
    }
  }
  if (!timestamp) throw new Error("no t= timestamp");
  if (signatures.length === 0) throw new Error("no v1= signature");
  return { timestampText: timestamp[0], timestampMs: timestamp[1], signatures };
}

/**
 * Checks a request's signature at `nowMs`; returns the signed timestamp or throws an Error
 * saying why the request is refused.
 */
export function verifyWebhookSignature(options: SignatureOptions, headerValue: string | undefined, body: Buffer, nowMs = Date.now()): number {
  const secrets = (Array.isArray(options.secret) ? options.secret : [options.secret]).map((s) => Buffer.from(s)).filter((s) => s.length > 0);
  if (secrets.length === 0) throw Object.assign(new Error("no signing secret is configured"), { notConfigured: true });
  const header = (options.header ?? SIGNATURE_HEADER).toLowerCase();
  if (headerValue === undefined) throw new Error(`missing header ${header}`);
  let parsed: ReturnType<typeof parseSignatureHeader>;
  try {
    parsed = parseSignatureHeader(headerValue);
  } catch (err) {
    throw new Error(`malformed header: ${(err as Error).message}`);
  }
  const matches = secrets.some((secret) => {
    const expected = tag(secret, parsed.timestampText, body);
    return parsed.signatures.some((given) => timingSafeEqual(expected, given));
  });
  if (!matches) throw new Error("mismatch: no v1 signature matches the body");
  const t = parsed.timestampMs;
  const window = options.replayWindowMs ?? 5 * 60_000;
  const skew = options.clockSkewMs ?? 30_000;
  if (t <= nowMs && nowMs - t > window) throw new Error(`expired: signed ${nowMs - t} ms ago, the replay window is ${window} ms`);
  if (t > nowMs && t - nowMs > skew) throw new Error(`future-dated: signed ${t - nowMs} ms ahead of this clock, the tolerance is ${skew} ms`);
  return t;
}

/**
 * A route middleware admitting only requests signed with one of the secrets; others get
 * `401 {"error": {"code": "invalid_signature", "message"}}` (500 `signature_not_configured`
 * without a secret).
 */
export function signatureVerifier(options: SignatureOptions): Middleware {
  const header = (options.header ?? SIGNATURE_HEADER).toLowerCase();
  return {
    name: SIGNATURE_MIDDLEWARE_NAME,
    handle(req: RouteRequest, _ctx: ConvoticContext, next: Next): Promise<RouteResponse> | RouteResponse {
      try {
        verifyWebhookSignature(options, req.header(header), req.rawBody);
      } catch (err) {
        const notConfigured = (err as { notConfigured?: boolean }).notConfigured === true;
        return {
          status: notConfigured ? 500 : 401,
          body: { error: { code: notConfigured ? "signature_not_configured" : "invalid_signature", message: (err as Error).message } },
        };
      }
      return next(req);
    },
  };
}
