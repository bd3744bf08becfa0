// Original file: ../../proto/convotic/plugin/v1/plugin.proto


export interface ShutdownResponse {
  /**
   * Invocations that were still in flight when the grace period ended (0 on a clean drain).
   */
  'abandoned'?: (number);
}

export interface ShutdownResponse__Output {
  /**
   * Invocations that were still in flight when the grace period ended (0 on a clean drain).
   */
  'abandoned': (number);
}
