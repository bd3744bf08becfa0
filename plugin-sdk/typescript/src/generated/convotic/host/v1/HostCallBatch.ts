// Original file: ../../proto/convotic/host/v1/host.proto

import type { HostCall as _convotic_host_v1_HostCall, HostCall__Output as _convotic_host_v1_HostCall__Output } from '../../../convotic/host/v1/HostCall.js';

/**
 * Calls the module had ready at once.
 */
export interface HostCallBatch {
  'calls'?: (_convotic_host_v1_HostCall)[];
}

/**
 * Calls the module had ready at once.
 */
export interface HostCallBatch__Output {
  'calls': (_convotic_host_v1_HostCall__Output)[];
}
