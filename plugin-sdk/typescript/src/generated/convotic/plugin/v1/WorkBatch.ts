// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Invocation as _convotic_plugin_v1_Invocation, Invocation__Output as _convotic_plugin_v1_Invocation__Output } from '../../../convotic/plugin/v1/Invocation.js';
import type { Cancel as _convotic_plugin_v1_Cancel, Cancel__Output as _convotic_plugin_v1_Cancel__Output } from '../../../convotic/plugin/v1/Cancel.js';

/**
 * Feature `work.batch`: what was ready to send at once, in one frame. The receiver handles
 * the invocations first, in order, then the cancels, exactly as if each had come in its own
 * frame. Neither side waits to fill a batch.
 */
export interface WorkBatch {
  'invocations'?: (_convotic_plugin_v1_Invocation)[];
  'cancels'?: (_convotic_plugin_v1_Cancel)[];
}

/**
 * Feature `work.batch`: what was ready to send at once, in one frame. The receiver handles
 * the invocations first, in order, then the cancels, exactly as if each had come in its own
 * frame. Neither side waits to fill a batch.
 */
export interface WorkBatch__Output {
  'invocations': (_convotic_plugin_v1_Invocation__Output)[];
  'cancels': (_convotic_plugin_v1_Cancel__Output)[];
}
