// The JSON payload rules of docs/PROTOCOL.md §6: `*_json` fields hold UTF-8 JSON text, an empty
// field means null, and senders never produce invalid JSON (no NaN, no lone surrogates).

/** Parses a `*_json` field: empty means `null`. Throws a SyntaxError on invalid JSON. */
export function parseJson(bytes: Uint8Array | string | null | undefined): unknown {
  if (bytes === null || bytes === undefined || bytes.length === 0) return null;
  const text = typeof bytes === "string" ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  return JSON.parse(text);
}

/** Replaces lone surrogates (which would make invalid JSON for strict parsers) with U+FFFD. */
function wellFormed(_key: string, value: unknown): unknown {
  if (typeof value === "string") {
    const s = value as string & { isWellFormed?: () => boolean; toWellFormed?: () => string };
    if (s.isWellFormed && !s.isWellFormed()) return s.toWellFormed!();
  }
  return value;
}

/**
 * JSON text of `value`. `undefined` (or a value JSON cannot represent, like a function) gives
 * `undefined`; a BigInt or a cycle throws a TypeError.
 */
export function jsonText(value: unknown): string | undefined {
  return JSON.stringify(value, wellFormed) as string | undefined;
}

/** Encodes a `*_json` field: `null` and `undefined` become empty (no value). */
export function jsonBytes(value: unknown): Buffer {
  if (value === undefined || value === null) return Buffer.alloc(0);
  const text = jsonText(value);
  return text === undefined ? Buffer.alloc(0) : Buffer.from(text, "utf8");
}

/** A JSON Schema given as an object/boolean (serialised) or as JSON text (kept). */
export function schemaText(schema: unknown): string {
  if (schema === undefined || schema === null) return "";
  if (typeof schema === "string") return schema;
  return jsonText(schema) ?? "";
}
