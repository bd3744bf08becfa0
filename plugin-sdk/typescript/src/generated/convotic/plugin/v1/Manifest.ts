// Original file: ../../proto/convotic/plugin/v1/manifest.proto

import type { SdkInfo as _convotic_plugin_v1_SdkInfo, SdkInfo__Output as _convotic_plugin_v1_SdkInfo__Output } from '../../../convotic/plugin/v1/SdkInfo.js';
import type { RouteDef as _convotic_plugin_v1_RouteDef, RouteDef__Output as _convotic_plugin_v1_RouteDef__Output } from '../../../convotic/plugin/v1/RouteDef.js';
import type { WorkerDef as _convotic_plugin_v1_WorkerDef, WorkerDef__Output as _convotic_plugin_v1_WorkerDef__Output } from '../../../convotic/plugin/v1/WorkerDef.js';
import type { NodeDef as _convotic_plugin_v1_NodeDef, NodeDef__Output as _convotic_plugin_v1_NodeDef__Output } from '../../../convotic/plugin/v1/NodeDef.js';
import type { BlockDef as _convotic_plugin_v1_BlockDef, BlockDef__Output as _convotic_plugin_v1_BlockDef__Output } from '../../../convotic/plugin/v1/BlockDef.js';
import type { CronDef as _convotic_plugin_v1_CronDef, CronDef__Output as _convotic_plugin_v1_CronDef__Output } from '../../../convotic/plugin/v1/CronDef.js';

export interface Manifest {
  /**
   * Module name: 1-64 characters of [a-z0-9-], starting with a letter. Appears in route URLs
   * (/v1/modules/{name}/...) so it must match the name the operator configured.
   */
  'name'?: (string);
  /**
   * Module version, semver recommended ("1.0.0").
   */
  'version'?: (string);
  /**
   * The SDK that built the module, for diagnostics.
   */
  'sdk'?: (_convotic_plugin_v1_SdkInfo | null);
  /**
   * How many invocations the module accepts at once across all lanes (flow-control credit).
   * 0 means the default (64). The supervisor never has more than this many outstanding.
   */
  'max_in_flight'?: (number);
  'routes'?: (_convotic_plugin_v1_RouteDef)[];
  'workers'?: (_convotic_plugin_v1_WorkerDef)[];
  'nodes'?: (_convotic_plugin_v1_NodeDef)[];
  'blocks'?: (_convotic_plugin_v1_BlockDef)[];
  'crons'?: (_convotic_plugin_v1_CronDef)[];
}

export interface Manifest__Output {
  /**
   * Module name: 1-64 characters of [a-z0-9-], starting with a letter. Appears in route URLs
   * (/v1/modules/{name}/...) so it must match the name the operator configured.
   */
  'name': (string);
  /**
   * Module version, semver recommended ("1.0.0").
   */
  'version': (string);
  /**
   * The SDK that built the module, for diagnostics.
   */
  'sdk': (_convotic_plugin_v1_SdkInfo__Output | null);
  /**
   * How many invocations the module accepts at once across all lanes (flow-control credit).
   * 0 means the default (64). The supervisor never has more than this many outstanding.
   */
  'max_in_flight': (number);
  'routes': (_convotic_plugin_v1_RouteDef__Output)[];
  'workers': (_convotic_plugin_v1_WorkerDef__Output)[];
  'nodes': (_convotic_plugin_v1_NodeDef__Output)[];
  'blocks': (_convotic_plugin_v1_BlockDef__Output)[];
  'crons': (_convotic_plugin_v1_CronDef__Output)[];
}
