// Original file: ../../proto/convotic/host/v1/host.proto


export interface ListContactsRequest {
  /**
   * 1-500, 0 = 50.
   */
  'page_size'?: (number);
  /**
   * From the previous page's `next_page_token`; empty for the first page.
   */
  'page_token'?: (string);
}

export interface ListContactsRequest__Output {
  /**
   * 1-500, 0 = 50.
   */
  'page_size': (number);
  /**
   * From the previous page's `next_page_token`; empty for the first page.
   */
  'page_token': (string);
}
