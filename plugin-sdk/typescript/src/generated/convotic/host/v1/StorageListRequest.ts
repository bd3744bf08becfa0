// Original file: ../../proto/convotic/host/v1/host.proto


export interface StorageListRequest {
  'prefix'?: (string);
  'page_size'?: (number);
  'page_token'?: (string);
}

export interface StorageListRequest__Output {
  'prefix': (string);
  'page_size': (number);
  'page_token': (string);
}
