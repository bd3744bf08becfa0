// Original file: ../../proto/convotic/host/v1/host.proto

import type { Contact as _convotic_host_v1_Contact, Contact__Output as _convotic_host_v1_Contact__Output } from '../../../convotic/host/v1/Contact.js';

export interface ListContactsResponse {
  'contacts'?: (_convotic_host_v1_Contact)[];
  /**
   * Empty on the last page.
   */
  'next_page_token'?: (string);
}

export interface ListContactsResponse__Output {
  'contacts': (_convotic_host_v1_Contact__Output)[];
  /**
   * Empty on the last page.
   */
  'next_page_token': (string);
}
