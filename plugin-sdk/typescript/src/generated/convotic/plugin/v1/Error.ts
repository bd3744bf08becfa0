// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { ErrorCode as _convotic_plugin_v1_ErrorCode, ErrorCode__Output as _convotic_plugin_v1_ErrorCode__Output } from '../../../convotic/plugin/v1/ErrorCode.js';

export interface Error {
  'code'?: (_convotic_plugin_v1_ErrorCode);
  /**
   * Human-readable message, safe to show to the caller (no secrets).
   */
  'message'?: (string);
  /**
   * Whether trying again may succeed (workers retry, nodes report it to the workflow engine).
   */
  'retryable'?: (boolean);
  /**
   * Optional structured details (UTF-8 JSON object).
   */
  'details_json'?: (Buffer | Uint8Array | string);
}

export interface Error__Output {
  'code': (_convotic_plugin_v1_ErrorCode__Output);
  /**
   * Human-readable message, safe to show to the caller (no secrets).
   */
  'message': (string);
  /**
   * Whether trying again may succeed (workers retry, nodes report it to the workflow engine).
   */
  'retryable': (boolean);
  /**
   * Optional structured details (UTF-8 JSON object).
   */
  'details_json': (Buffer);
}
