// Original file: ../../proto/convotic/host/v1/host.proto


export interface GetContactRequest {
  'id'?: (string);
}

export interface GetContactRequest__Output {
  'id': (string);
}
