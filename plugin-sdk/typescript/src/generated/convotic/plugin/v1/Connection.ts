// Original file: ../../proto/convotic/plugin/v1/work.proto


/**
 * A Block connection as a handler sees it: configuration with secrets decrypted.
 */
export interface Connection {
  'id'?: (string);
  'block_id'?: (string);
  /**
   * UTF-8 JSON object, secrets included.
   */
  'config_json'?: (Buffer | Uint8Array | string);
}

/**
 * A Block connection as a handler sees it: configuration with secrets decrypted.
 */
export interface Connection__Output {
  'id': (string);
  'block_id': (string);
  /**
   * UTF-8 JSON object, secrets included.
   */
  'config_json': (Buffer);
}
