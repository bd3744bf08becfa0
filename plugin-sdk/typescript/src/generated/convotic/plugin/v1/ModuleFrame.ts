// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { LaneReady as _convotic_plugin_v1_LaneReady, LaneReady__Output as _convotic_plugin_v1_LaneReady__Output } from '../../../convotic/plugin/v1/LaneReady.js';
import type { Outcome as _convotic_plugin_v1_Outcome, Outcome__Output as _convotic_plugin_v1_Outcome__Output } from '../../../convotic/plugin/v1/Outcome.js';
import type { OutcomeBatch as _convotic_plugin_v1_OutcomeBatch, OutcomeBatch__Output as _convotic_plugin_v1_OutcomeBatch__Output } from '../../../convotic/plugin/v1/OutcomeBatch.js';

/**
 * Module → supervisor.
 */
export interface ModuleFrame {
  /**
   * Answer to the `LaneOpen` frame.
   */
  'ready'?: (_convotic_plugin_v1_LaneReady | null);
  'outcome'?: (_convotic_plugin_v1_Outcome | null);
  /**
   * Several outcomes in one frame; only to a supervisor that offered the `work.batch`
   * feature.
   */
  'outcomes'?: (_convotic_plugin_v1_OutcomeBatch | null);
  'frame'?: "ready"|"outcome"|"outcomes";
}

/**
 * Module → supervisor.
 */
export interface ModuleFrame__Output {
  /**
   * Answer to the `LaneOpen` frame.
   */
  'ready'?: (_convotic_plugin_v1_LaneReady__Output | null);
  'outcome'?: (_convotic_plugin_v1_Outcome__Output | null);
  /**
   * Several outcomes in one frame; only to a supervisor that offered the `work.batch`
   * feature.
   */
  'outcomes'?: (_convotic_plugin_v1_OutcomeBatch__Output | null);
  'frame'?: "ready"|"outcome"|"outcomes";
}
