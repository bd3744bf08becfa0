// Original file: ../../proto/convotic/host/v1/host.proto


export interface UpdateConversationRequest {
  'id'?: (string);
  'subject'?: (string);
  /**
   * Merged like contact attributes.
   */
  'attributes_json'?: (Buffer | Uint8Array | string);
  '_subject'?: "subject";
}

export interface UpdateConversationRequest__Output {
  'id': (string);
  'subject'?: (string);
  /**
   * Merged like contact attributes.
   */
  'attributes_json': (Buffer);
  '_subject'?: "subject";
}
