// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { RouteRequest as _convotic_plugin_v1_RouteRequest, RouteRequest__Output as _convotic_plugin_v1_RouteRequest__Output } from '../../../convotic/plugin/v1/RouteRequest.js';
import type { WorkerMessage as _convotic_plugin_v1_WorkerMessage, WorkerMessage__Output as _convotic_plugin_v1_WorkerMessage__Output } from '../../../convotic/plugin/v1/WorkerMessage.js';
import type { NodeInvocation as _convotic_plugin_v1_NodeInvocation, NodeInvocation__Output as _convotic_plugin_v1_NodeInvocation__Output } from '../../../convotic/plugin/v1/NodeInvocation.js';
import type { BlockTestConnection as _convotic_plugin_v1_BlockTestConnection, BlockTestConnection__Output as _convotic_plugin_v1_BlockTestConnection__Output } from '../../../convotic/plugin/v1/BlockTestConnection.js';
import type { BlockActionCall as _convotic_plugin_v1_BlockActionCall, BlockActionCall__Output as _convotic_plugin_v1_BlockActionCall__Output } from '../../../convotic/plugin/v1/BlockActionCall.js';
import type { CronTick as _convotic_plugin_v1_CronTick, CronTick__Output as _convotic_plugin_v1_CronTick__Output } from '../../../convotic/plugin/v1/CronTick.js';
import type { Long } from '@grpc/proto-loader';

/**
 * One unit of work. Answered by exactly one `Outcome` with the same `id`.
 */
export interface Invocation {
  /**
   * Unique among the invocations of one module instance (across all lanes); never 0.
   */
  'id'?: (number | string | Long);
  /**
   * Milliseconds the caller waits, counted from when the module receives the frame. The module
   * should stop working and answer DEADLINE_EXCEEDED when it passes. 0 = no deadline.
   */
  'timeout_ms'?: (number | string | Long);
  /**
   * Request id of the call (X-Request-Id for HTTP), for logs.
   */
  'request_id'?: (string);
  /**
   * W3C trace context of the caller, may be empty.
   */
  'traceparent'?: (string);
  'route'?: (_convotic_plugin_v1_RouteRequest | null);
  'message'?: (_convotic_plugin_v1_WorkerMessage | null);
  'node'?: (_convotic_plugin_v1_NodeInvocation | null);
  'block_test'?: (_convotic_plugin_v1_BlockTestConnection | null);
  'block_action'?: (_convotic_plugin_v1_BlockActionCall | null);
  'cron'?: (_convotic_plugin_v1_CronTick | null);
  'kind'?: "route"|"message"|"node"|"block_test"|"block_action"|"cron";
}

/**
 * One unit of work. Answered by exactly one `Outcome` with the same `id`.
 */
export interface Invocation__Output {
  /**
   * Unique among the invocations of one module instance (across all lanes); never 0.
   */
  'id': (string);
  /**
   * Milliseconds the caller waits, counted from when the module receives the frame. The module
   * should stop working and answer DEADLINE_EXCEEDED when it passes. 0 = no deadline.
   */
  'timeout_ms': (string);
  /**
   * Request id of the call (X-Request-Id for HTTP), for logs.
   */
  'request_id': (string);
  /**
   * W3C trace context of the caller, may be empty.
   */
  'traceparent': (string);
  'route'?: (_convotic_plugin_v1_RouteRequest__Output | null);
  'message'?: (_convotic_plugin_v1_WorkerMessage__Output | null);
  'node'?: (_convotic_plugin_v1_NodeInvocation__Output | null);
  'block_test'?: (_convotic_plugin_v1_BlockTestConnection__Output | null);
  'block_action'?: (_convotic_plugin_v1_BlockActionCall__Output | null);
  'cron'?: (_convotic_plugin_v1_CronTick__Output | null);
  'kind'?: "route"|"message"|"node"|"block_test"|"block_action"|"cron";
}
