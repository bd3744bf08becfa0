// Original file: ../../proto/convotic/host/v1/host.proto

import type { LogLevel as _convotic_host_v1_LogLevel, LogLevel__Output as _convotic_host_v1_LogLevel__Output } from '../../../convotic/host/v1/LogLevel.js';

export interface LogRequest {
  'level'?: (_convotic_host_v1_LogLevel);
  'message'?: (string);
  /**
   * UTF-8 JSON object of structured fields.
   */
  'fields_json'?: (Buffer | Uint8Array | string);
  /**
   * Request id of the invocation the line belongs to, may be empty.
   */
  'request_id'?: (string);
}

export interface LogRequest__Output {
  'level': (_convotic_host_v1_LogLevel__Output);
  'message': (string);
  /**
   * UTF-8 JSON object of structured fields.
   */
  'fields_json': (Buffer);
  /**
   * Request id of the invocation the line belongs to, may be empty.
   */
  'request_id': (string);
}
