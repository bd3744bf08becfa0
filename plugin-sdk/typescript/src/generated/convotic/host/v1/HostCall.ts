// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface HostCall {
  /**
   * Unique among this stream's calls in flight; never 0.
   */
  'id'?: (number | string | Long);
  /**
   * The unary method's full gRPC path, e.g. "/convotic.host.v1.Storage/Get".
   */
  'method'?: (string);
  /**
   * The method's request message, protobuf-encoded.
   */
  'request'?: (Buffer | Uint8Array | string);
  /**
   * Milliseconds the module waits for the answer; 0 = the supervisor's limit (30 s).
   */
  'timeout_ms'?: (number);
}

export interface HostCall__Output {
  /**
   * Unique among this stream's calls in flight; never 0.
   */
  'id': (string);
  /**
   * The unary method's full gRPC path, e.g. "/convotic.host.v1.Storage/Get".
   */
  'method': (string);
  /**
   * The method's request message, protobuf-encoded.
   */
  'request': (Buffer);
  /**
   * Milliseconds the module waits for the answer; 0 = the supervisor's limit (30 s).
   */
  'timeout_ms': (number);
}
