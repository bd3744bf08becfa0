// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface StorageEntry {
  /**
   * 1-512 bytes of UTF-8.
   */
  'key'?: (string);
  /**
   * UTF-8 JSON value, at most 1 MiB.
   */
  'value_json'?: (Buffer | Uint8Array | string);
  /**
   * Increases on every write; starts at 1.
   */
  'revision'?: (number | string | Long);
  /**
   * 0 = never expires.
   */
  'expires_at_ms'?: (number | string | Long);
}

export interface StorageEntry__Output {
  /**
   * 1-512 bytes of UTF-8.
   */
  'key': (string);
  /**
   * UTF-8 JSON value, at most 1 MiB.
   */
  'value_json': (Buffer);
  /**
   * Increases on every write; starts at 1.
   */
  'revision': (string);
  /**
   * 0 = never expires.
   */
  'expires_at_ms': (string);
}
