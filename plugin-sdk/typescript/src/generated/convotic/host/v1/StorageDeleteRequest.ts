// Original file: ../../proto/convotic/host/v1/host.proto


export interface StorageDeleteRequest {
  'key'?: (string);
}

export interface StorageDeleteRequest__Output {
  'key': (string);
}
