// Original file: ../../proto/convotic/host/v1/host.proto


export interface ListConversationsRequest {
  /**
   * Filter by contact, may be empty.
   */
  'contact_id'?: (string);
  /**
   * Filter by status ("open" / "closed"), may be empty.
   */
  'status'?: (string);
  'page_size'?: (number);
  'page_token'?: (string);
}

export interface ListConversationsRequest__Output {
  /**
   * Filter by contact, may be empty.
   */
  'contact_id': (string);
  /**
   * Filter by status ("open" / "closed"), may be empty.
   */
  'status': (string);
  'page_size': (number);
  'page_token': (string);
}
