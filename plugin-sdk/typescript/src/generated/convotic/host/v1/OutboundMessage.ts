// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface OutboundMessage {
  'id'?: (string);
  'contact_id'?: (string);
  'conversation_id'?: (string);
  'channel'?: (string);
  'text'?: (string);
  'content_json'?: (Buffer | Uint8Array | string);
  /**
   * "queued", "sent", "delivered", "failed".
   */
  'status'?: (string);
  'created_at_ms'?: (number | string | Long);
}

export interface OutboundMessage__Output {
  'id': (string);
  'contact_id': (string);
  'conversation_id': (string);
  'channel': (string);
  'text': (string);
  'content_json': (Buffer);
  /**
   * "queued", "sent", "delivered", "failed".
   */
  'status': (string);
  'created_at_ms': (string);
}
