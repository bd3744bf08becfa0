// Original file: ../../proto/convotic/host/v1/host.proto


export interface TriggerWorkflowRequest {
  /**
   * e.g. "wf_abc123".
   */
  'workflow_id'?: (string);
  /**
   * UTF-8 JSON payload.
   */
  'payload_json'?: (Buffer | Uint8Array | string);
  /**
   * Optional idempotency key: a second trigger with the same key returns the first run.
   */
  'idempotency_key'?: (string);
}

export interface TriggerWorkflowRequest__Output {
  /**
   * e.g. "wf_abc123".
   */
  'workflow_id': (string);
  /**
   * UTF-8 JSON payload.
   */
  'payload_json': (Buffer);
  /**
   * Optional idempotency key: a second trigger with the same key returns the first run.
   */
  'idempotency_key': (string);
}
