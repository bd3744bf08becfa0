// Original file: ../../proto/convotic/host/v1/host.proto


export interface GetConversationRequest {
  'id'?: (string);
}

export interface GetConversationRequest__Output {
  'id': (string);
}
