// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkflowRun {
  'id'?: (string);
  'workflow_id'?: (string);
  'payload_json'?: (Buffer | Uint8Array | string);
  /**
   * "queued", "running", "succeeded", "failed".
   */
  'status'?: (string);
  'created_at_ms'?: (number | string | Long);
}

export interface WorkflowRun__Output {
  'id': (string);
  'workflow_id': (string);
  'payload_json': (Buffer);
  /**
   * "queued", "running", "succeeded", "failed".
   */
  'status': (string);
  'created_at_ms': (string);
}
