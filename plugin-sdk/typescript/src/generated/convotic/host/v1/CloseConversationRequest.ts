// Original file: ../../proto/convotic/host/v1/host.proto


export interface CloseConversationRequest {
  'id'?: (string);
}

export interface CloseConversationRequest__Output {
  'id': (string);
}
