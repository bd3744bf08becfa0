// Original file: ../../proto/convotic/plugin/v1/manifest.proto

import type { OverlapPolicy as _convotic_plugin_v1_OverlapPolicy, OverlapPolicy__Output as _convotic_plugin_v1_OverlapPolicy__Output } from '../../../convotic/plugin/v1/OverlapPolicy.js';
import type { CatchUpPolicy as _convotic_plugin_v1_CatchUpPolicy, CatchUpPolicy__Output as _convotic_plugin_v1_CatchUpPolicy__Output } from '../../../convotic/plugin/v1/CatchUpPolicy.js';

/**
 * A scheduled job.
 */
export interface CronDef {
  /**
   * Name, unique in the module: [a-z0-9_.-].
   */
  'name'?: (string);
  /**
   * 5-field (classic cron), 6-field (leading seconds) or a shorthand (@hourly, @daily,
   * @weekly, @monthly, @yearly).
   */
  'schedule'?: (string);
  /**
   * IANA time zone, e.g. "Europe/Paris". Empty = UTC.
   */
  'timezone'?: (string);
  'overlap'?: (_convotic_plugin_v1_OverlapPolicy);
  /**
   * Deadline for one run, 0 = default (15 min).
   */
  'timeout_ms'?: (number);
  'catch_up'?: (_convotic_plugin_v1_CatchUpPolicy);
}

/**
 * A scheduled job.
 */
export interface CronDef__Output {
  /**
   * Name, unique in the module: [a-z0-9_.-].
   */
  'name': (string);
  /**
   * 5-field (classic cron), 6-field (leading seconds) or a shorthand (@hourly, @daily,
   * @weekly, @monthly, @yearly).
   */
  'schedule': (string);
  /**
   * IANA time zone, e.g. "Europe/Paris". Empty = UTC.
   */
  'timezone': (string);
  'overlap': (_convotic_plugin_v1_OverlapPolicy__Output);
  /**
   * Deadline for one run, 0 = default (15 min).
   */
  'timeout_ms': (number);
  'catch_up': (_convotic_plugin_v1_CatchUpPolicy__Output);
}
