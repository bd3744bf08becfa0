// Original file: ../../proto/convotic/host/v1/host.proto


export interface GetMessageRequest {
  'id'?: (string);
}

export interface GetMessageRequest__Output {
  'id': (string);
}
