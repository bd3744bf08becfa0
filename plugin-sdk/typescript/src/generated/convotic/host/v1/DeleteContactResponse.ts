// Original file: ../../proto/convotic/host/v1/host.proto


export interface DeleteContactResponse {
  'deleted'?: (boolean);
}

export interface DeleteContactResponse__Output {
  'deleted': (boolean);
}
