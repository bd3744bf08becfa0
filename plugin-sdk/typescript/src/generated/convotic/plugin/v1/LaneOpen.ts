// Original file: ../../proto/convotic/plugin/v1/work.proto


/**
 * Opens a lane. Lanes are interchangeable for the module: the supervisor uses them to keep a
 * large payload from delaying small ones.
 */
export interface LaneOpen {
  /**
   * Lane number, 0-based, for logs.
   */
  'lane'?: (number);
}

/**
 * Opens a lane. Lanes are interchangeable for the module: the supervisor uses them to keep a
 * large payload from delaying small ones.
 */
export interface LaneOpen__Output {
  /**
   * Lane number, 0-based, for logs.
   */
  'lane': (number);
}
