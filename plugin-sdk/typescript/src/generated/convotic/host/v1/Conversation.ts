// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface Conversation {
  'id'?: (string);
  'contact_id'?: (string);
  /**
   * e.g. "whatsapp", "sms", "email", "web".
   */
  'channel'?: (string);
  /**
   * "open" or "closed".
   */
  'status'?: (string);
  'subject'?: (string);
  'attributes_json'?: (Buffer | Uint8Array | string);
  'created_at_ms'?: (number | string | Long);
  'updated_at_ms'?: (number | string | Long);
  'closed_at_ms'?: (number | string | Long);
}

export interface Conversation__Output {
  'id': (string);
  'contact_id': (string);
  /**
   * e.g. "whatsapp", "sms", "email", "web".
   */
  'channel': (string);
  /**
   * "open" or "closed".
   */
  'status': (string);
  'subject': (string);
  'attributes_json': (Buffer);
  'created_at_ms': (string);
  'updated_at_ms': (string);
  'closed_at_ms': (string);
}
