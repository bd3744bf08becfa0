// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Outcome as _convotic_plugin_v1_Outcome, Outcome__Output as _convotic_plugin_v1_Outcome__Output } from '../../../convotic/plugin/v1/Outcome.js';

/**
 * Feature `work.batch`: outcomes that were ready at once, in order.
 */
export interface OutcomeBatch {
  'outcomes'?: (_convotic_plugin_v1_Outcome)[];
}

/**
 * Feature `work.batch`: outcomes that were ready at once, in order.
 */
export interface OutcomeBatch__Output {
  'outcomes': (_convotic_plugin_v1_Outcome__Output)[];
}
