// Original file: ../../proto/convotic/host/v1/host.proto

import type { Long } from '@grpc/proto-loader';

export interface WorkflowRun {
  'id'?: (string);
  'workflow_id'?: (string);
  'payload_json'?: (Buffer | Uint8Array | string);
  /**
   * "queued", "sending", "delivered", "running", "succeeded", "failed".
   */
  'status'?: (string);
  'created_at_ms'?: (number | string | Long);
  /**
   * The engine's output once it succeeded (UTF-8 JSON), empty otherwise.
   */
  'output_json'?: (Buffer | Uint8Array | string);
  /**
   * The engine's error once it failed, or why handing it over failed.
   */
  'error'?: (string);
}

export interface WorkflowRun__Output {
  'id': (string);
  'workflow_id': (string);
  'payload_json': (Buffer);
  /**
   * "queued", "sending", "delivered", "running", "succeeded", "failed".
   */
  'status': (string);
  'created_at_ms': (string);
  /**
   * The engine's output once it succeeded (UTF-8 JSON), empty otherwise.
   */
  'output_json': (Buffer);
  /**
   * The engine's error once it failed, or why handing it over failed.
   */
  'error': (string);
}
