// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { GetWorkflowRunRequest as _convotic_host_v1_GetWorkflowRunRequest, GetWorkflowRunRequest__Output as _convotic_host_v1_GetWorkflowRunRequest__Output } from '../../../convotic/host/v1/GetWorkflowRunRequest.js';
import type { TriggerWorkflowRequest as _convotic_host_v1_TriggerWorkflowRequest, TriggerWorkflowRequest__Output as _convotic_host_v1_TriggerWorkflowRequest__Output } from '../../../convotic/host/v1/TriggerWorkflowRequest.js';
import type { WorkflowRun as _convotic_host_v1_WorkflowRun, WorkflowRun__Output as _convotic_host_v1_WorkflowRun__Output } from '../../../convotic/host/v1/WorkflowRun.js';

export interface WorkflowsClient extends grpc.Client {
  /**
   * A run of the caller's workspace, with its status as the workflow engine reported it;
   * NOT_FOUND for an unknown id (or another workspace's run).
   */
  Get(argument: _convotic_host_v1_GetWorkflowRunRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetWorkflowRunRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetWorkflowRunRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetWorkflowRunRequest, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  /**
   * A run of the caller's workspace, with its status as the workflow engine reported it;
   * NOT_FOUND for an unknown id (or another workspace's run).
   */
  get(argument: _convotic_host_v1_GetWorkflowRunRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetWorkflowRunRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetWorkflowRunRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetWorkflowRunRequest, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  
  Trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  Trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  Trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  Trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  trigger(argument: _convotic_host_v1_TriggerWorkflowRequest, callback: grpc.requestCallback<_convotic_host_v1_WorkflowRun__Output>): grpc.ClientUnaryCall;
  
}

export interface WorkflowsHandlers extends grpc.UntypedServiceImplementation {
  /**
   * A run of the caller's workspace, with its status as the workflow engine reported it;
   * NOT_FOUND for an unknown id (or another workspace's run).
   */
  Get: grpc.handleUnaryCall<_convotic_host_v1_GetWorkflowRunRequest__Output, _convotic_host_v1_WorkflowRun>;
  
  Trigger: grpc.handleUnaryCall<_convotic_host_v1_TriggerWorkflowRequest__Output, _convotic_host_v1_WorkflowRun>;
  
}

export interface WorkflowsDefinition extends grpc.ServiceDefinition {
  Get: MethodDefinition<_convotic_host_v1_GetWorkflowRunRequest, _convotic_host_v1_WorkflowRun, _convotic_host_v1_GetWorkflowRunRequest__Output, _convotic_host_v1_WorkflowRun__Output>
  Trigger: MethodDefinition<_convotic_host_v1_TriggerWorkflowRequest, _convotic_host_v1_WorkflowRun, _convotic_host_v1_TriggerWorkflowRequest__Output, _convotic_host_v1_WorkflowRun__Output>
}
