// Original file: ../../proto/convotic/host/v1/host.proto


export interface SendMessageRequest {
  'contact_id'?: (string);
  /**
   * Conversation to attach to, may be empty.
   */
  'conversation_id'?: (string);
  'channel'?: (string);
  'text'?: (string);
  /**
   * Optional structured content (template id, media...), UTF-8 JSON.
   */
  'content_json'?: (Buffer | Uint8Array | string);
}

export interface SendMessageRequest__Output {
  'contact_id': (string);
  /**
   * Conversation to attach to, may be empty.
   */
  'conversation_id': (string);
  'channel': (string);
  'text': (string);
  /**
   * Optional structured content (template id, media...), UTF-8 JSON.
   */
  'content_json': (Buffer);
}
