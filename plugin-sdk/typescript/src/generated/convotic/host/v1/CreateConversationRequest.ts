// Original file: ../../proto/convotic/host/v1/host.proto


export interface CreateConversationRequest {
  'contact_id'?: (string);
  'channel'?: (string);
  'subject'?: (string);
  'attributes_json'?: (Buffer | Uint8Array | string);
}

export interface CreateConversationRequest__Output {
  'contact_id': (string);
  'channel': (string);
  'subject': (string);
  'attributes_json': (Buffer);
}
