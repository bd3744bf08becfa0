// JSON log lines on stderr (docs/PROTOCOL.md §3.3): the SDK's own diagnostics, and ctx.logger
// lines the supervisor's Logger service could not take. The supervisor reads a line that is a
// JSON object as a structured record: `level`, `msg`, and every other key as a field.
import { jsonText } from "./json.js";

/** Builds one JSON log line (without the newline). Object fields are merged at the top level
 * without overriding `level`, `msg` and `request_id`; any other value goes under `fields`. */
export function formatLine(level: string, msg: string, requestId: string, fields: unknown): string {
  const line: Record<string, unknown> = { level, msg };
  if (requestId) line.request_id = requestId;
  if (fields !== undefined && fields !== null) {
    if (typeof fields === "object" && !Array.isArray(fields)) {
      for (const [key, value] of Object.entries(fields as Record<string, unknown>)) {
        if (!(key in line)) line[key] = value;
      }
    } else {
      line.fields = fields;
    }
  }
  try {
    return jsonText(line) ?? `{"level":"error","msg":"unprintable log line"}`;
  } catch {
    return jsonText({ level, msg, request_id: requestId || undefined, fields: "<not serialisable>" })!;
  }
}

/** Writes one line to stderr (synchronous for pipes and files on Linux). */
export function writeStderr(line: string): void {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // Nowhere else to report it.
  }
}

/** Writes an SDK diagnostic to stderr. */
export function emit(level: "debug" | "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>): void {
  writeStderr(formatLine(level, msg, "", fields));
}
