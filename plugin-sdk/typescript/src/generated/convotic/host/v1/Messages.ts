// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetMessageRequest as _convotic_host_v1_GetMessageRequest, GetMessageRequest__Output as _convotic_host_v1_GetMessageRequest__Output } from '../../../convotic/host/v1/GetMessageRequest.js';
import type { OutboundMessage as _convotic_host_v1_OutboundMessage, OutboundMessage__Output as _convotic_host_v1_OutboundMessage__Output } from '../../../convotic/host/v1/OutboundMessage.js';
import type { SendMessageRequest as _convotic_host_v1_SendMessageRequest, SendMessageRequest__Output as _convotic_host_v1_SendMessageRequest__Output } from '../../../convotic/host/v1/SendMessageRequest.js';

export interface MessagesClient extends grpc.Client {
  Get(argument: _convotic_host_v1_GetMessageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetMessageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetMessageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetMessageRequest, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetMessageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetMessageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetMessageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetMessageRequest, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  
  /**
   * Queues a message in the outbox; it is visible through the API with its status.
   */
  Send(argument: _convotic_host_v1_SendMessageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  Send(argument: _convotic_host_v1_SendMessageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  Send(argument: _convotic_host_v1_SendMessageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  Send(argument: _convotic_host_v1_SendMessageRequest, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  /**
   * Queues a message in the outbox; it is visible through the API with its status.
   */
  send(argument: _convotic_host_v1_SendMessageRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  send(argument: _convotic_host_v1_SendMessageRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  send(argument: _convotic_host_v1_SendMessageRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  send(argument: _convotic_host_v1_SendMessageRequest, callback: grpc.requestCallback<_convotic_host_v1_OutboundMessage__Output>): grpc.ClientUnaryCall;
  
}

export interface MessagesHandlers extends grpc.UntypedServiceImplementation {
  Get: grpc.handleUnaryCall<_convotic_host_v1_GetMessageRequest__Output, _convotic_host_v1_OutboundMessage>;
  
  /**
   * Queues a message in the outbox; it is visible through the API with its status.
   */
  Send: grpc.handleUnaryCall<_convotic_host_v1_SendMessageRequest__Output, _convotic_host_v1_OutboundMessage>;
  
}

export interface MessagesDefinition extends grpc.ServiceDefinition {
  Get: MethodDefinition<_convotic_host_v1_GetMessageRequest, _convotic_host_v1_OutboundMessage, _convotic_host_v1_GetMessageRequest__Output, _convotic_host_v1_OutboundMessage__Output>
  Send: MethodDefinition<_convotic_host_v1_SendMessageRequest, _convotic_host_v1_OutboundMessage, _convotic_host_v1_SendMessageRequest__Output, _convotic_host_v1_OutboundMessage__Output>
}
