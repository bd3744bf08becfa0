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
   * "queued", "sending", "sent", "delivered", "failed".
   */
  'status'?: (string);
  'created_at_ms'?: (number | string | Long);
  /**
   * The provider's id for the message once a target accepted it.
   */
  'provider_message_id'?: (string);
  /**
   * Why the last delivery attempt failed (or why it failed for good).
   */
  'error'?: (string);
}

export interface OutboundMessage__Output {
  'id': (string);
  'contact_id': (string);
  'conversation_id': (string);
  'channel': (string);
  'text': (string);
  'content_json': (Buffer);
  /**
   * "queued", "sending", "sent", "delivered", "failed".
   */
  'status': (string);
  'created_at_ms': (string);
  /**
   * The provider's id for the message once a target accepted it.
   */
  'provider_message_id': (string);
  /**
   * Why the last delivery attempt failed (or why it failed for good).
   */
  'error': (string);
}
