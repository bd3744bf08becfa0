// Original file: ../../proto/convotic/plugin/v1/plugin.proto


export interface ShutdownRequest {
  /**
   * How long the module has to finish in-flight work before it is sent SIGTERM.
   */
  'grace_ms'?: (number);
  /**
   * Why the module is being stopped, for its logs ("supervisor stopping", "redeploy", ...).
   */
  'reason'?: (string);
}

export interface ShutdownRequest__Output {
  /**
   * How long the module has to finish in-flight work before it is sent SIGTERM.
   */
  'grace_ms': (number);
  /**
   * Why the module is being stopped, for its logs ("supervisor stopping", "redeploy", ...).
   */
  'reason': (string);
}
