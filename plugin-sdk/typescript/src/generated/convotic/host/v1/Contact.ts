// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface Contact {
  'id'?: (string);
  'external_id'?: (string);
  'name'?: (string);
  'email'?: (string);
  'phone'?: (string);
  /**
   * UTF-8 JSON object.
   */
  'attributes_json'?: (Buffer | Uint8Array | string);
  /**
   * Milliseconds since the Unix epoch.
   */
  'created_at_ms'?: (number | string | Long);
  'updated_at_ms'?: (number | string | Long);
}

export interface Contact__Output {
  'id': (string);
  'external_id': (string);
  'name': (string);
  'email': (string);
  'phone': (string);
  /**
   * UTF-8 JSON object.
   */
  'attributes_json': (Buffer);
  /**
   * Milliseconds since the Unix epoch.
   */
  'created_at_ms': (string);
  'updated_at_ms': (string);
}
