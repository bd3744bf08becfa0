// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { LogRequest as _convotic_host_v1_LogRequest, LogRequest__Output as _convotic_host_v1_LogRequest__Output } from '../../../convotic/host/v1/LogRequest.js';
import type { LogResponse as _convotic_host_v1_LogResponse, LogResponse__Output as _convotic_host_v1_LogResponse__Output } from '../../../convotic/host/v1/LogResponse.js';

export interface LoggerClient extends grpc.Client {
  Log(argument: _convotic_host_v1_LogRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  Log(argument: _convotic_host_v1_LogRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  Log(argument: _convotic_host_v1_LogRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  Log(argument: _convotic_host_v1_LogRequest, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  log(argument: _convotic_host_v1_LogRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  log(argument: _convotic_host_v1_LogRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  log(argument: _convotic_host_v1_LogRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  log(argument: _convotic_host_v1_LogRequest, callback: grpc.requestCallback<_convotic_host_v1_LogResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface LoggerHandlers extends grpc.UntypedServiceImplementation {
  Log: grpc.handleUnaryCall<_convotic_host_v1_LogRequest__Output, _convotic_host_v1_LogResponse>;
  
}

export interface LoggerDefinition extends grpc.ServiceDefinition {
  Log: MethodDefinition<_convotic_host_v1_LogRequest, _convotic_host_v1_LogResponse, _convotic_host_v1_LogRequest__Output, _convotic_host_v1_LogResponse__Output>
}
