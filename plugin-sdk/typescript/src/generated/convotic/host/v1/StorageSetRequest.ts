// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface StorageSetRequest {
  'key'?: (string);
  'value_json'?: (Buffer | Uint8Array | string);
  /**
   * 0 = no expiry.
   */
  'ttl_ms'?: (number | string | Long);
}

export interface StorageSetRequest__Output {
  'key': (string);
  'value_json': (Buffer);
  /**
   * 0 = no expiry.
   */
  'ttl_ms': (string);
}
