// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Disposition as _convotic_plugin_v1_Disposition, Disposition__Output as _convotic_plugin_v1_Disposition__Output } from '../../../convotic/plugin/v1/Disposition.js';

export interface WorkerResult {
  'disposition'?: (_convotic_plugin_v1_Disposition);
  /**
   * Why the message is retried or discarded.
   */
  'reason'?: (string);
  /**
   * For RETRY: wait at least this long before the next delivery, 0 = the backoff schedule.
   */
  'retry_after_ms'?: (number);
}

export interface WorkerResult__Output {
  'disposition': (_convotic_plugin_v1_Disposition__Output);
  /**
   * Why the message is retried or discarded.
   */
  'reason': (string);
  /**
   * For RETRY: wait at least this long before the next delivery, 0 = the backoff schedule.
   */
  'retry_after_ms': (number);
}
