// Original file: ../../proto/convotic/plugin/v1/work.proto


export interface NodeResult {
  /**
   * UTF-8 JSON output.
   */
  'output_json'?: (Buffer | Uint8Array | string);
  /**
   * The branch taken; must be one of the node's branches ("default" if it declares none).
   */
  'branch'?: (string);
}

export interface NodeResult__Output {
  /**
   * UTF-8 JSON output.
   */
  'output_json': (Buffer);
  /**
   * The branch taken; must be one of the node's branches ("default" if it declares none).
   */
  'branch': (string);
}
