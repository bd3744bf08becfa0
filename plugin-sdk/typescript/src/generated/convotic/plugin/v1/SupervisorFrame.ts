// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { LaneOpen as _convotic_plugin_v1_LaneOpen, LaneOpen__Output as _convotic_plugin_v1_LaneOpen__Output } from '../../../convotic/plugin/v1/LaneOpen.js';
import type { Invocation as _convotic_plugin_v1_Invocation, Invocation__Output as _convotic_plugin_v1_Invocation__Output } from '../../../convotic/plugin/v1/Invocation.js';
import type { Cancel as _convotic_plugin_v1_Cancel, Cancel__Output as _convotic_plugin_v1_Cancel__Output } from '../../../convotic/plugin/v1/Cancel.js';
import type { WorkBatch as _convotic_plugin_v1_WorkBatch, WorkBatch__Output as _convotic_plugin_v1_WorkBatch__Output } from '../../../convotic/plugin/v1/WorkBatch.js';

/**
 * Supervisor → module.
 */
export interface SupervisorFrame {
  /**
   * First frame of every stream.
   */
  'open'?: (_convotic_plugin_v1_LaneOpen | null);
  'invocation'?: (_convotic_plugin_v1_Invocation | null);
  'cancel'?: (_convotic_plugin_v1_Cancel | null);
  /**
   * Several invocations and cancels in one frame; only to a module that announced the
   * `work.batch` feature.
   */
  'batch'?: (_convotic_plugin_v1_WorkBatch | null);
  'frame'?: "open"|"invocation"|"cancel"|"batch";
}

/**
 * Supervisor → module.
 */
export interface SupervisorFrame__Output {
  /**
   * First frame of every stream.
   */
  'open'?: (_convotic_plugin_v1_LaneOpen__Output | null);
  'invocation'?: (_convotic_plugin_v1_Invocation__Output | null);
  'cancel'?: (_convotic_plugin_v1_Cancel__Output | null);
  /**
   * Several invocations and cancels in one frame; only to a module that announced the
   * `work.batch` feature.
   */
  'batch'?: (_convotic_plugin_v1_WorkBatch__Output | null);
  'frame'?: "open"|"invocation"|"cancel"|"batch";
}
