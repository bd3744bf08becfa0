// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface StorageCompareAndSetRequest {
  'key'?: (string);
  'value_json'?: (Buffer | Uint8Array | string);
  'expected_revision'?: (number | string | Long);
  'ttl_ms'?: (number | string | Long);
}

export interface StorageCompareAndSetRequest__Output {
  'key': (string);
  'value_json': (Buffer);
  'expected_revision': (string);
  'ttl_ms': (string);
}
