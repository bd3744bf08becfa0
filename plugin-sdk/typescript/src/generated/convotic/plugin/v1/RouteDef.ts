// Original file: ../../proto/convotic/plugin/v1/manifest.proto

import type { AuthMode as _convotic_plugin_v1_AuthMode, AuthMode__Output as _convotic_plugin_v1_AuthMode__Output } from '../../../convotic/plugin/v1/AuthMode.js';
import type { Long } from '@grpc/proto-loader';

/**
 * An HTTP route, served at /v1/modules/{module}{path}.
 */
export interface RouteDef {
  /**
   * One of GET, POST, PUT, PATCH, DELETE.
   */
  'method'?: (string);
  /**
   * Starts with '/'. Segments are literals or `:name` parameters; no empty, `.` or `..`
   * segments. Example: "/orders/:orderId".
   */
  'path'?: (string);
  'auth'?: (_convotic_plugin_v1_AuthMode);
  /**
   * Deadline for one request, 0 = default (30 s).
   */
  'timeout_ms'?: (number);
  /**
   * Largest accepted request body, 0 = the supervisor's limit (1 MiB). Cannot exceed it.
   */
  'max_body_bytes'?: (number | string | Long);
  /**
   * Names of the middleware the route runs, for diagnostics only (middleware runs in the module).
   */
  'middleware'?: (string)[];
}

/**
 * An HTTP route, served at /v1/modules/{module}{path}.
 */
export interface RouteDef__Output {
  /**
   * One of GET, POST, PUT, PATCH, DELETE.
   */
  'method': (string);
  /**
   * Starts with '/'. Segments are literals or `:name` parameters; no empty, `.` or `..`
   * segments. Example: "/orders/:orderId".
   */
  'path': (string);
  'auth': (_convotic_plugin_v1_AuthMode__Output);
  /**
   * Deadline for one request, 0 = default (30 s).
   */
  'timeout_ms': (number);
  /**
   * Largest accepted request body, 0 = the supervisor's limit (1 MiB). Cannot exceed it.
   */
  'max_body_bytes': (string);
  /**
   * Names of the middleware the route runs, for diagnostics only (middleware runs in the module).
   */
  'middleware': (string)[];
}
