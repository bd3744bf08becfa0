// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Connection as _convotic_plugin_v1_Connection, Connection__Output as _convotic_plugin_v1_Connection__Output } from '../../../convotic/plugin/v1/Connection.js';

export interface NodeInvocation {
  'node_type'?: (string);
  'node_version'?: (string);
  /**
   * UTF-8 JSON input, already validated against the node's input schema.
   */
  'input_json'?: (Buffer | Uint8Array | string);
  'workflow_id'?: (string);
  'run_id'?: (string);
  'step_id'?: (string);
  /**
   * When the node declares `connection_block`: the connection, decrypted.
   */
  'connection'?: (_convotic_plugin_v1_Connection | null);
}

export interface NodeInvocation__Output {
  'node_type': (string);
  'node_version': (string);
  /**
   * UTF-8 JSON input, already validated against the node's input schema.
   */
  'input_json': (Buffer);
  'workflow_id': (string);
  'run_id': (string);
  'step_id': (string);
  /**
   * When the node declares `connection_block`: the connection, decrypted.
   */
  'connection': (_convotic_plugin_v1_Connection__Output | null);
}
