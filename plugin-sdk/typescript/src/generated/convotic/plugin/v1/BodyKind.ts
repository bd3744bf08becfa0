// Original file: ../../proto/convotic/plugin/v1/work.proto

export const BodyKind = {
  /**
   * No body.
   */
  BODY_KIND_EMPTY: 'BODY_KIND_EMPTY',
  /**
   * The body is UTF-8 JSON, already checked to parse; SDKs expose it parsed.
   */
  BODY_KIND_JSON: 'BODY_KIND_JSON',
  /**
   * Any other body, passed as bytes.
   */
  BODY_KIND_BYTES: 'BODY_KIND_BYTES',
} as const;

export type BodyKind =
  /**
   * No body.
   */
  | 'BODY_KIND_EMPTY'
  | 0
  /**
   * The body is UTF-8 JSON, already checked to parse; SDKs expose it parsed.
   */
  | 'BODY_KIND_JSON'
  | 1
  /**
   * Any other body, passed as bytes.
   */
  | 'BODY_KIND_BYTES'
  | 2

export type BodyKind__Output = typeof BodyKind[keyof typeof BodyKind]
