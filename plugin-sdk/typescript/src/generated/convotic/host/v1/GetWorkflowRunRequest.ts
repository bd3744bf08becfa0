// Original file: ../../proto/convotic/host/v1/host.proto


export interface GetWorkflowRunRequest {
  'id'?: (string);
}

export interface GetWorkflowRunRequest__Output {
  'id': (string);
}
