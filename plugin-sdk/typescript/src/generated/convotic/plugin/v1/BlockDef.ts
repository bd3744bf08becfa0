// Original file: ../../proto/convotic/plugin/v1/manifest.proto

import type { ActionDef as _convotic_plugin_v1_ActionDef, ActionDef__Output as _convotic_plugin_v1_ActionDef__Output } from '../../../convotic/plugin/v1/ActionDef.js';

/**
 * A Block integration with its own connection flow.
 */
export interface BlockDef {
  /**
   * Block id: [a-z0-9_.-], e.g. "regional-sms".
   */
  'id'?: (string);
  'name'?: (string);
  'description'?: (string);
  'icon'?: (string);
  /**
   * JSON Schema (UTF-8 JSON text) of a connection's configuration.
   */
  'connection_schema'?: (string);
  /**
   * Top-level properties of the connection configuration that are secrets: encrypted at rest
   * and never returned by any API.
   */
  'secret_fields'?: (string)[];
  'actions'?: (_convotic_plugin_v1_ActionDef)[];
  /**
   * Deadline for a test-connection call, 0 = default (30 s).
   */
  'test_timeout_ms'?: (number);
}

/**
 * A Block integration with its own connection flow.
 */
export interface BlockDef__Output {
  /**
   * Block id: [a-z0-9_.-], e.g. "regional-sms".
   */
  'id': (string);
  'name': (string);
  'description': (string);
  'icon': (string);
  /**
   * JSON Schema (UTF-8 JSON text) of a connection's configuration.
   */
  'connection_schema': (string);
  /**
   * Top-level properties of the connection configuration that are secrets: encrypted at rest
   * and never returned by any API.
   */
  'secret_fields': (string)[];
  'actions': (_convotic_plugin_v1_ActionDef__Output)[];
  /**
   * Deadline for a test-connection call, 0 = default (30 s).
   */
  'test_timeout_ms': (number);
}
