// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkerMessage {
  /**
   * Handler name (WorkerDef.name).
   */
  'handler'?: (string);
  'topic'?: (string);
  /**
   * Stable id of the message; the same on every delivery.
   */
  'message_id'?: (string);
  /**
   * UTF-8 JSON payload.
   */
  'payload_json'?: (Buffer | Uint8Array | string);
  'headers'?: ({[key: string]: string});
  /**
   * 1 on the first delivery.
   */
  'attempt'?: (number);
  /**
   * When the message was published, milliseconds since the Unix epoch.
   */
  'published_at_ms'?: (number | string | Long);
}

export interface WorkerMessage__Output {
  /**
   * Handler name (WorkerDef.name).
   */
  'handler': (string);
  'topic': (string);
  /**
   * Stable id of the message; the same on every delivery.
   */
  'message_id': (string);
  /**
   * UTF-8 JSON payload.
   */
  'payload_json': (Buffer);
  'headers': ({[key: string]: string});
  /**
   * 1 on the first delivery.
   */
  'attempt': (number);
  /**
   * When the message was published, milliseconds since the Unix epoch.
   */
  'published_at_ms': (string);
}
