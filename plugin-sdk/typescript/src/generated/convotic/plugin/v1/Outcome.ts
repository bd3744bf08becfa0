// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { RouteResponse as _convotic_plugin_v1_RouteResponse, RouteResponse__Output as _convotic_plugin_v1_RouteResponse__Output } from '../../../convotic/plugin/v1/RouteResponse.js';
import type { WorkerResult as _convotic_plugin_v1_WorkerResult, WorkerResult__Output as _convotic_plugin_v1_WorkerResult__Output } from '../../../convotic/plugin/v1/WorkerResult.js';
import type { NodeResult as _convotic_plugin_v1_NodeResult, NodeResult__Output as _convotic_plugin_v1_NodeResult__Output } from '../../../convotic/plugin/v1/NodeResult.js';
import type { BlockTestResult as _convotic_plugin_v1_BlockTestResult, BlockTestResult__Output as _convotic_plugin_v1_BlockTestResult__Output } from '../../../convotic/plugin/v1/BlockTestResult.js';
import type { BlockActionResult as _convotic_plugin_v1_BlockActionResult, BlockActionResult__Output as _convotic_plugin_v1_BlockActionResult__Output } from '../../../convotic/plugin/v1/BlockActionResult.js';
import type { CronResult as _convotic_plugin_v1_CronResult, CronResult__Output as _convotic_plugin_v1_CronResult__Output } from '../../../convotic/plugin/v1/CronResult.js';
import type { Error as _convotic_plugin_v1_Error, Error__Output as _convotic_plugin_v1_Error__Output } from '../../../convotic/plugin/v1/Error.js';
import type { Long } from '@grpc/proto-loader';

/**
 * The answer to one invocation.
 */
export interface Outcome {
  /**
   * The invocation's id.
   */
  'id'?: (number | string | Long);
  'route'?: (_convotic_plugin_v1_RouteResponse | null);
  'message'?: (_convotic_plugin_v1_WorkerResult | null);
  'node'?: (_convotic_plugin_v1_NodeResult | null);
  'block_test'?: (_convotic_plugin_v1_BlockTestResult | null);
  'block_action'?: (_convotic_plugin_v1_BlockActionResult | null);
  'cron'?: (_convotic_plugin_v1_CronResult | null);
  /**
   * The invocation failed; valid for every kind.
   */
  'error'?: (_convotic_plugin_v1_Error | null);
  'result'?: "route"|"message"|"node"|"block_test"|"block_action"|"cron"|"error";
}

/**
 * The answer to one invocation.
 */
export interface Outcome__Output {
  /**
   * The invocation's id.
   */
  'id': (string);
  'route'?: (_convotic_plugin_v1_RouteResponse__Output | null);
  'message'?: (_convotic_plugin_v1_WorkerResult__Output | null);
  'node'?: (_convotic_plugin_v1_NodeResult__Output | null);
  'block_test'?: (_convotic_plugin_v1_BlockTestResult__Output | null);
  'block_action'?: (_convotic_plugin_v1_BlockActionResult__Output | null);
  'cron'?: (_convotic_plugin_v1_CronResult__Output | null);
  /**
   * The invocation failed; valid for every kind.
   */
  'error'?: (_convotic_plugin_v1_Error__Output | null);
  'result'?: "route"|"message"|"node"|"block_test"|"block_action"|"cron"|"error";
}
