// Original file: ../../proto/convotic/host/v1/host.proto

import type { StorageEntry as _convotic_host_v1_StorageEntry, StorageEntry__Output as _convotic_host_v1_StorageEntry__Output } from '../../../convotic/host/v1/StorageEntry.js';

export interface StorageListResponse {
  'entries'?: (_convotic_host_v1_StorageEntry)[];
  'next_page_token'?: (string);
}

export interface StorageListResponse__Output {
  'entries': (_convotic_host_v1_StorageEntry__Output)[];
  'next_page_token': (string);
}
