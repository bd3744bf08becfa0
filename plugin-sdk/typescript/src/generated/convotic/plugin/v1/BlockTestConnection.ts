// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Connection as _convotic_plugin_v1_Connection, Connection__Output as _convotic_plugin_v1_Connection__Output } from '../../../convotic/plugin/v1/Connection.js';

export interface BlockTestConnection {
  'block_id'?: (string);
  /**
   * The connection under test (id empty when it is not stored yet).
   */
  'connection'?: (_convotic_plugin_v1_Connection | null);
}

export interface BlockTestConnection__Output {
  'block_id': (string);
  /**
   * The connection under test (id empty when it is not stored yet).
   */
  'connection': (_convotic_plugin_v1_Connection__Output | null);
}
