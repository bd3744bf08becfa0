// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { HostCallBatch as _convotic_host_v1_HostCallBatch, HostCallBatch__Output as _convotic_host_v1_HostCallBatch__Output } from '../../../convotic/host/v1/HostCallBatch.js';
import type { HostReplyBatch as _convotic_host_v1_HostReplyBatch, HostReplyBatch__Output as _convotic_host_v1_HostReplyBatch__Output } from '../../../convotic/host/v1/HostReplyBatch.js';

/**
 * Every unary call above, carried on one bidirectional stream instead of one HTTP/2 stream per
 * call: the module sends `HostCall`s with ids of its choosing, the supervisor answers each with
 * exactly one `HostReply` of the same id, in any order. The stream carries the token metadata
 * once, when it opens. Offered by the supervisor in `DescribeRequest.features`; a module that
 * does not use it makes unary calls as before.
 */
export interface HostStreamClient extends grpc.Client {
  Calls(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_host_v1_HostCallBatch, _convotic_host_v1_HostReplyBatch__Output>;
  Calls(options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_host_v1_HostCallBatch, _convotic_host_v1_HostReplyBatch__Output>;
  calls(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_host_v1_HostCallBatch, _convotic_host_v1_HostReplyBatch__Output>;
  calls(options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_host_v1_HostCallBatch, _convotic_host_v1_HostReplyBatch__Output>;
  
}

/**
 * Every unary call above, carried on one bidirectional stream instead of one HTTP/2 stream per
 * call: the module sends `HostCall`s with ids of its choosing, the supervisor answers each with
 * exactly one `HostReply` of the same id, in any order. The stream carries the token metadata
 * once, when it opens. Offered by the supervisor in `DescribeRequest.features`; a module that
 * does not use it makes unary calls as before.
 */
export interface HostStreamHandlers extends grpc.UntypedServiceImplementation {
  Calls: grpc.handleBidiStreamingCall<_convotic_host_v1_HostCallBatch__Output, _convotic_host_v1_HostReplyBatch>;
  
}

export interface HostStreamDefinition extends grpc.ServiceDefinition {
  Calls: MethodDefinition<_convotic_host_v1_HostCallBatch, _convotic_host_v1_HostReplyBatch, _convotic_host_v1_HostCallBatch__Output, _convotic_host_v1_HostReplyBatch__Output>
}
