// Original file: ../../proto/convotic/host/v1/host.proto

import type { HostReply as _convotic_host_v1_HostReply, HostReply__Output as _convotic_host_v1_HostReply__Output } from '../../../convotic/host/v1/HostReply.js';

/**
 * Replies ready at once. The supervisor's first frame on a stream carries no reply and sets
 * `credits`: how many calls the module may have in flight on the stream. A call beyond them is
 * answered RESOURCE_EXHAUSTED at once.
 */
export interface HostReplyBatch {
  'replies'?: (_convotic_host_v1_HostReply)[];
  /**
   * Calls the module may have in flight; 0 = unchanged.
   */
  'credits'?: (number);
}

/**
 * Replies ready at once. The supervisor's first frame on a stream carries no reply and sets
 * `credits`: how many calls the module may have in flight on the stream. A call beyond them is
 * answered RESOURCE_EXHAUSTED at once.
 */
export interface HostReplyBatch__Output {
  'replies': (_convotic_host_v1_HostReply__Output)[];
  /**
   * Calls the module may have in flight; 0 = unchanged.
   */
  'credits': (number);
}
