// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { BodyKind as _convotic_plugin_v1_BodyKind, BodyKind__Output as _convotic_plugin_v1_BodyKind__Output } from '../../../convotic/plugin/v1/BodyKind.js';

export interface RouteResponse {
  /**
   * HTTP status, 200-599 (a 1xx is not a final response).
   */
  'status'?: (number);
  'headers'?: ({[key: string]: string});
  /**
   * BODY_KIND_JSON: `body` is UTF-8 JSON and content-type defaults to application/json.
   */
  'body_kind'?: (_convotic_plugin_v1_BodyKind);
  'body'?: (Buffer | Uint8Array | string);
}

export interface RouteResponse__Output {
  /**
   * HTTP status, 200-599 (a 1xx is not a final response).
   */
  'status': (number);
  'headers': ({[key: string]: string});
  /**
   * BODY_KIND_JSON: `body` is UTF-8 JSON and content-type defaults to application/json.
   */
  'body_kind': (_convotic_plugin_v1_BodyKind__Output);
  'body': (Buffer);
}
