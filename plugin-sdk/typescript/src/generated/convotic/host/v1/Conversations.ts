// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CloseConversationRequest as _convotic_host_v1_CloseConversationRequest, CloseConversationRequest__Output as _convotic_host_v1_CloseConversationRequest__Output } from '../../../convotic/host/v1/CloseConversationRequest.js';
import type { Conversation as _convotic_host_v1_Conversation, Conversation__Output as _convotic_host_v1_Conversation__Output } from '../../../convotic/host/v1/Conversation.js';
import type { CreateConversationRequest as _convotic_host_v1_CreateConversationRequest, CreateConversationRequest__Output as _convotic_host_v1_CreateConversationRequest__Output } from '../../../convotic/host/v1/CreateConversationRequest.js';
import type { GetConversationRequest as _convotic_host_v1_GetConversationRequest, GetConversationRequest__Output as _convotic_host_v1_GetConversationRequest__Output } from '../../../convotic/host/v1/GetConversationRequest.js';
import type { ListConversationsRequest as _convotic_host_v1_ListConversationsRequest, ListConversationsRequest__Output as _convotic_host_v1_ListConversationsRequest__Output } from '../../../convotic/host/v1/ListConversationsRequest.js';
import type { ListConversationsResponse as _convotic_host_v1_ListConversationsResponse, ListConversationsResponse__Output as _convotic_host_v1_ListConversationsResponse__Output } from '../../../convotic/host/v1/ListConversationsResponse.js';
import type { UpdateConversationRequest as _convotic_host_v1_UpdateConversationRequest, UpdateConversationRequest__Output as _convotic_host_v1_UpdateConversationRequest__Output } from '../../../convotic/host/v1/UpdateConversationRequest.js';

export interface ConversationsClient extends grpc.Client {
  Close(argument: _convotic_host_v1_CloseConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Close(argument: _convotic_host_v1_CloseConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Close(argument: _convotic_host_v1_CloseConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Close(argument: _convotic_host_v1_CloseConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  
  Create(argument: _convotic_host_v1_CreateConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Create(argument: _convotic_host_v1_CreateConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Create(argument: _convotic_host_v1_CreateConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Create(argument: _convotic_host_v1_CreateConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  
  Get(argument: _convotic_host_v1_GetConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  
  List(argument: _convotic_host_v1_ListConversationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_ListConversationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_ListConversationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_ListConversationsRequest, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListConversationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListConversationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListConversationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListConversationsRequest, callback: grpc.requestCallback<_convotic_host_v1_ListConversationsResponse__Output>): grpc.ClientUnaryCall;
  
  Update(argument: _convotic_host_v1_UpdateConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Update(argument: _convotic_host_v1_UpdateConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Update(argument: _convotic_host_v1_UpdateConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  Update(argument: _convotic_host_v1_UpdateConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateConversationRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateConversationRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateConversationRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateConversationRequest, callback: grpc.requestCallback<_convotic_host_v1_Conversation__Output>): grpc.ClientUnaryCall;
  
}

export interface ConversationsHandlers extends grpc.UntypedServiceImplementation {
  Close: grpc.handleUnaryCall<_convotic_host_v1_CloseConversationRequest__Output, _convotic_host_v1_Conversation>;
  
  Create: grpc.handleUnaryCall<_convotic_host_v1_CreateConversationRequest__Output, _convotic_host_v1_Conversation>;
  
  Get: grpc.handleUnaryCall<_convotic_host_v1_GetConversationRequest__Output, _convotic_host_v1_Conversation>;
  
  List: grpc.handleUnaryCall<_convotic_host_v1_ListConversationsRequest__Output, _convotic_host_v1_ListConversationsResponse>;
  
  Update: grpc.handleUnaryCall<_convotic_host_v1_UpdateConversationRequest__Output, _convotic_host_v1_Conversation>;
  
}

export interface ConversationsDefinition extends grpc.ServiceDefinition {
  Close: MethodDefinition<_convotic_host_v1_CloseConversationRequest, _convotic_host_v1_Conversation, _convotic_host_v1_CloseConversationRequest__Output, _convotic_host_v1_Conversation__Output>
  Create: MethodDefinition<_convotic_host_v1_CreateConversationRequest, _convotic_host_v1_Conversation, _convotic_host_v1_CreateConversationRequest__Output, _convotic_host_v1_Conversation__Output>
  Get: MethodDefinition<_convotic_host_v1_GetConversationRequest, _convotic_host_v1_Conversation, _convotic_host_v1_GetConversationRequest__Output, _convotic_host_v1_Conversation__Output>
  List: MethodDefinition<_convotic_host_v1_ListConversationsRequest, _convotic_host_v1_ListConversationsResponse, _convotic_host_v1_ListConversationsRequest__Output, _convotic_host_v1_ListConversationsResponse__Output>
  Update: MethodDefinition<_convotic_host_v1_UpdateConversationRequest, _convotic_host_v1_Conversation, _convotic_host_v1_UpdateConversationRequest__Output, _convotic_host_v1_Conversation__Output>
}
