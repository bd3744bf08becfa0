// Original file: ../../proto/convotic/plugin/v1/work.proto


export interface BlockActionResult {
  /**
   * UTF-8 JSON output.
   */
  'output_json'?: (Buffer | Uint8Array | string);
}

export interface BlockActionResult__Output {
  /**
   * UTF-8 JSON output.
   */
  'output_json': (Buffer);
}
