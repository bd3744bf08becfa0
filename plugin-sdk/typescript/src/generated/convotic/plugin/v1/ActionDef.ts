// Original file: ../../proto/convotic/plugin/v1/manifest.proto


export interface ActionDef {
  /**
   * Action name, unique in the block: [a-z0-9_.-].
   */
  'name'?: (string);
  'display_name'?: (string);
  'description'?: (string);
  'input_schema'?: (string);
  'output_schema'?: (string);
  /**
   * Deadline for one call, 0 = default (30 s).
   */
  'timeout_ms'?: (number);
}

export interface ActionDef__Output {
  /**
   * Action name, unique in the block: [a-z0-9_.-].
   */
  'name': (string);
  'display_name': (string);
  'description': (string);
  'input_schema': (string);
  'output_schema': (string);
  /**
   * Deadline for one call, 0 = default (30 s).
   */
  'timeout_ms': (number);
}
