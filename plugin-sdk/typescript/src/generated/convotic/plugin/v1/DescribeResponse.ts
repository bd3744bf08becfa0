// Original file: ../../proto/convotic/plugin/v1/plugin.proto

import type { Manifest as _convotic_plugin_v1_Manifest, Manifest__Output as _convotic_plugin_v1_Manifest__Output } from '../../../convotic/plugin/v1/Manifest.js';

export interface DescribeResponse {
  /**
   * The version the module chose; must be one of `DescribeRequest.protocol_versions`.
   */
  'protocol_version'?: (number);
  /**
   * Optional features the module supports. Unknown names must be ignored.
   */
  'features'?: (string)[];
  /**
   * Everything the module registered.
   */
  'manifest'?: (_convotic_plugin_v1_Manifest | null);
}

export interface DescribeResponse__Output {
  /**
   * The version the module chose; must be one of `DescribeRequest.protocol_versions`.
   */
  'protocol_version': (number);
  /**
   * Optional features the module supports. Unknown names must be ignored.
   */
  'features': (string)[];
  /**
   * Everything the module registered.
   */
  'manifest': (_convotic_plugin_v1_Manifest__Output | null);
}
