// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface HostReply {
  /**
   * The call's id.
   */
  'id'?: (number | string | Long);
  /**
   * The gRPC status code the unary call would have answered (0 = OK), and its message.
   */
  'code'?: (number);
  'message'?: (string);
  /**
   * The method's response message, protobuf-encoded, when `code` is 0.
   */
  'response'?: (Buffer | Uint8Array | string);
}

export interface HostReply__Output {
  /**
   * The call's id.
   */
  'id': (string);
  /**
   * The gRPC status code the unary call would have answered (0 = OK), and its message.
   */
  'code': (number);
  'message': (string);
  /**
   * The method's response message, protobuf-encoded, when `code` is 0.
   */
  'response': (Buffer);
}
