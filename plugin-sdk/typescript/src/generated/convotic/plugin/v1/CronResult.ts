// Original file: ../../proto/convotic/plugin/v1/work.proto


export interface CronResult {
  /**
   * Optional note stored in the run history.
   */
  'message'?: (string);
}

export interface CronResult__Output {
  /**
   * Optional note stored in the run history.
   */
  'message': (string);
}
