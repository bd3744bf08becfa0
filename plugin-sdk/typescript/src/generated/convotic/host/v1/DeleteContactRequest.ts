// Original file: ../../proto/convotic/host/v1/host.proto


export interface DeleteContactRequest {
  'id'?: (string);
}

export interface DeleteContactRequest__Output {
  'id': (string);
}
