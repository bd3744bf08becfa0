// Original file: ../../proto/convotic/plugin/v1/plugin.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { DescribeRequest as _convotic_plugin_v1_DescribeRequest, DescribeRequest__Output as _convotic_plugin_v1_DescribeRequest__Output } from '../../../convotic/plugin/v1/DescribeRequest.js';
import type { DescribeResponse as _convotic_plugin_v1_DescribeResponse, DescribeResponse__Output as _convotic_plugin_v1_DescribeResponse__Output } from '../../../convotic/plugin/v1/DescribeResponse.js';
import type { ModuleFrame as _convotic_plugin_v1_ModuleFrame, ModuleFrame__Output as _convotic_plugin_v1_ModuleFrame__Output } from '../../../convotic/plugin/v1/ModuleFrame.js';
import type { ShutdownRequest as _convotic_plugin_v1_ShutdownRequest, ShutdownRequest__Output as _convotic_plugin_v1_ShutdownRequest__Output } from '../../../convotic/plugin/v1/ShutdownRequest.js';
import type { ShutdownResponse as _convotic_plugin_v1_ShutdownResponse, ShutdownResponse__Output as _convotic_plugin_v1_ShutdownResponse__Output } from '../../../convotic/plugin/v1/ShutdownResponse.js';
import type { SupervisorFrame as _convotic_plugin_v1_SupervisorFrame, SupervisorFrame__Output as _convotic_plugin_v1_SupervisorFrame__Output } from '../../../convotic/plugin/v1/SupervisorFrame.js';

/**
 * The service every module serves on CONVOTIC_PLUGIN_SOCKET.
 */
export interface PluginClient extends grpc.Client {
  /**
   * Handshake: the protocol version the module speaks, its features and its manifest.
   * Called once per connection, after health reports SERVING, before any `Work` stream.
   */
  Describe(argument: _convotic_plugin_v1_DescribeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  Describe(argument: _convotic_plugin_v1_DescribeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  Describe(argument: _convotic_plugin_v1_DescribeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  Describe(argument: _convotic_plugin_v1_DescribeRequest, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Handshake: the protocol version the module speaks, its features and its manifest.
   * Called once per connection, after health reports SERVING, before any `Work` stream.
   */
  describe(argument: _convotic_plugin_v1_DescribeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _convotic_plugin_v1_DescribeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _convotic_plugin_v1_DescribeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  describe(argument: _convotic_plugin_v1_DescribeRequest, callback: grpc.requestCallback<_convotic_plugin_v1_DescribeResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Graceful stop: stop taking work, finish what is in flight within `grace_ms`, then answer.
   * The module exits by itself after answering (exit code 0).
   */
  Shutdown(argument: _convotic_plugin_v1_ShutdownRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  Shutdown(argument: _convotic_plugin_v1_ShutdownRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  Shutdown(argument: _convotic_plugin_v1_ShutdownRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  Shutdown(argument: _convotic_plugin_v1_ShutdownRequest, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Graceful stop: stop taking work, finish what is in flight within `grace_ms`, then answer.
   * The module exits by itself after answering (exit code 0).
   */
  shutdown(argument: _convotic_plugin_v1_ShutdownRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  shutdown(argument: _convotic_plugin_v1_ShutdownRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  shutdown(argument: _convotic_plugin_v1_ShutdownRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  shutdown(argument: _convotic_plugin_v1_ShutdownRequest, callback: grpc.requestCallback<_convotic_plugin_v1_ShutdownResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The multiplexed work stream. The supervisor may open several (lanes) at once.
   */
  Work(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_plugin_v1_SupervisorFrame, _convotic_plugin_v1_ModuleFrame__Output>;
  Work(options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_plugin_v1_SupervisorFrame, _convotic_plugin_v1_ModuleFrame__Output>;
  /**
   * The multiplexed work stream. The supervisor may open several (lanes) at once.
   */
  work(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_plugin_v1_SupervisorFrame, _convotic_plugin_v1_ModuleFrame__Output>;
  work(options?: grpc.CallOptions): grpc.ClientDuplexStream<_convotic_plugin_v1_SupervisorFrame, _convotic_plugin_v1_ModuleFrame__Output>;
  
}

/**
 * The service every module serves on CONVOTIC_PLUGIN_SOCKET.
 */
export interface PluginHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Handshake: the protocol version the module speaks, its features and its manifest.
   * Called once per connection, after health reports SERVING, before any `Work` stream.
   */
  Describe: grpc.handleUnaryCall<_convotic_plugin_v1_DescribeRequest__Output, _convotic_plugin_v1_DescribeResponse>;
  
  /**
   * Graceful stop: stop taking work, finish what is in flight within `grace_ms`, then answer.
   * The module exits by itself after answering (exit code 0).
   */
  Shutdown: grpc.handleUnaryCall<_convotic_plugin_v1_ShutdownRequest__Output, _convotic_plugin_v1_ShutdownResponse>;
  
  /**
   * The multiplexed work stream. The supervisor may open several (lanes) at once.
   */
  Work: grpc.handleBidiStreamingCall<_convotic_plugin_v1_SupervisorFrame__Output, _convotic_plugin_v1_ModuleFrame>;
  
}

export interface PluginDefinition extends grpc.ServiceDefinition {
  Describe: MethodDefinition<_convotic_plugin_v1_DescribeRequest, _convotic_plugin_v1_DescribeResponse, _convotic_plugin_v1_DescribeRequest__Output, _convotic_plugin_v1_DescribeResponse__Output>
  Shutdown: MethodDefinition<_convotic_plugin_v1_ShutdownRequest, _convotic_plugin_v1_ShutdownResponse, _convotic_plugin_v1_ShutdownRequest__Output, _convotic_plugin_v1_ShutdownResponse__Output>
  Work: MethodDefinition<_convotic_plugin_v1_SupervisorFrame, _convotic_plugin_v1_ModuleFrame, _convotic_plugin_v1_SupervisorFrame__Output, _convotic_plugin_v1_ModuleFrame__Output>
}
