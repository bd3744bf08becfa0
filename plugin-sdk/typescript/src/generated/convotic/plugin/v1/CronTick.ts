// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Long } from '@grpc/proto-loader';

export interface CronTick {
  /**
   * CronDef.name.
   */
  'cron'?: (string);
  /**
   * Unique id of this run.
   */
  'run_id'?: (string);
  /**
   * The tick's scheduled time and the moment it fired, ms since the Unix epoch.
   */
  'scheduled_at_ms'?: (number | string | Long);
  'fired_at_ms'?: (number | string | Long);
  /**
   * True for a "run now" request.
   */
  'manual'?: (boolean);
}

export interface CronTick__Output {
  /**
   * CronDef.name.
   */
  'cron': (string);
  /**
   * Unique id of this run.
   */
  'run_id': (string);
  /**
   * The tick's scheduled time and the moment it fired, ms since the Unix epoch.
   */
  'scheduled_at_ms': (string);
  'fired_at_ms': (string);
  /**
   * True for a "run now" request.
   */
  'manual': (boolean);
}
