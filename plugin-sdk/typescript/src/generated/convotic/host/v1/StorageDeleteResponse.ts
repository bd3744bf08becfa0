// Original file: ../../proto/convotic/host/v1/host.proto


export interface StorageDeleteResponse {
  'deleted'?: (boolean);
}

export interface StorageDeleteResponse__Output {
  'deleted': (boolean);
}
