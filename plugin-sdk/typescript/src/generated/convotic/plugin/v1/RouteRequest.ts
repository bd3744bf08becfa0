// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { BodyKind as _convotic_plugin_v1_BodyKind, BodyKind__Output as _convotic_plugin_v1_BodyKind__Output } from '../../../convotic/plugin/v1/BodyKind.js';

export interface RouteRequest {
  /**
   * Upper-case HTTP method.
   */
  'method'?: (string);
  /**
   * Path inside the module, percent-decoded, e.g. "/orders/42".
   */
  'path'?: (string);
  /**
   * The registered pattern that matched, e.g. "/orders/:orderId".
   */
  'route'?: (string);
  /**
   * Path parameters, e.g. {"orderId": "42"}.
   */
  'params'?: ({[key: string]: string});
  /**
   * Query parameters (percent-decoded; for a repeated name, the last value).
   */
  'query'?: ({[key: string]: string});
  /**
   * The raw query string without '?', for repeated names and exact bytes.
   */
  'raw_query'?: (string);
  /**
   * Request headers, names lower-case; repeated headers joined with ", ".
   */
  'headers'?: ({[key: string]: string});
  'body_kind'?: (_convotic_plugin_v1_BodyKind);
  'body'?: (Buffer | Uint8Array | string);
  /**
   * Workspace the request belongs to (from its API key or URL).
   */
  'workspace'?: (string);
  /**
   * Whether the caller was authenticated with an API key.
   */
  'authenticated'?: (boolean);
  /**
   * Peer address, "ip:port", may be empty.
   */
  'remote_addr'?: (string);
}

export interface RouteRequest__Output {
  /**
   * Upper-case HTTP method.
   */
  'method': (string);
  /**
   * Path inside the module, percent-decoded, e.g. "/orders/42".
   */
  'path': (string);
  /**
   * The registered pattern that matched, e.g. "/orders/:orderId".
   */
  'route': (string);
  /**
   * Path parameters, e.g. {"orderId": "42"}.
   */
  'params': ({[key: string]: string});
  /**
   * Query parameters (percent-decoded; for a repeated name, the last value).
   */
  'query': ({[key: string]: string});
  /**
   * The raw query string without '?', for repeated names and exact bytes.
   */
  'raw_query': (string);
  /**
   * Request headers, names lower-case; repeated headers joined with ", ".
   */
  'headers': ({[key: string]: string});
  'body_kind': (_convotic_plugin_v1_BodyKind__Output);
  'body': (Buffer);
  /**
   * Workspace the request belongs to (from its API key or URL).
   */
  'workspace': (string);
  /**
   * Whether the caller was authenticated with an API key.
   */
  'authenticated': (boolean);
  /**
   * Peer address, "ip:port", may be empty.
   */
  'remote_addr': (string);
}
