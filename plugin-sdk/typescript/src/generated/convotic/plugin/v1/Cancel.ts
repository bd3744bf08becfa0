// Original file: ../../proto/convotic/plugin/v1/work.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Stops work on an invocation whose caller went away or whose deadline passed. The module still
 * answers the invocation (with CANCELLED if it had not finished), which returns its credit.
 */
export interface Cancel {
  'id'?: (number | string | Long);
  'reason'?: (string);
}

/**
 * Stops work on an invocation whose caller went away or whose deadline passed. The module still
 * answers the invocation (with CANCELLED if it had not finished), which returns its credit.
 */
export interface Cancel__Output {
  'id': (string);
  'reason': (string);
}
