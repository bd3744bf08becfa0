// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Connection as _convotic_plugin_v1_Connection, Connection__Output as _convotic_plugin_v1_Connection__Output } from '../../../convotic/plugin/v1/Connection.js';

export interface BlockActionCall {
  'block_id'?: (string);
  'action'?: (string);
  'connection'?: (_convotic_plugin_v1_Connection | null);
  /**
   * UTF-8 JSON input, validated against the action's input schema.
   */
  'input_json'?: (Buffer | Uint8Array | string);
}

export interface BlockActionCall__Output {
  'block_id': (string);
  'action': (string);
  'connection': (_convotic_plugin_v1_Connection__Output | null);
  /**
   * UTF-8 JSON input, validated against the action's input schema.
   */
  'input_json': (Buffer);
}
