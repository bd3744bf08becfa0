// Original file: ../../proto/convotic/host/v1/host.proto


export interface StorageGetRequest {
  'key'?: (string);
}

export interface StorageGetRequest__Output {
  'key': (string);
}
