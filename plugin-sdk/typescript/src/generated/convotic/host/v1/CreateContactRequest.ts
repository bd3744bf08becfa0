// Original file: ../../proto/convotic/host/v1/host.proto


export interface CreateContactRequest {
  'external_id'?: (string);
  'name'?: (string);
  'email'?: (string);
  'phone'?: (string);
  'attributes_json'?: (Buffer | Uint8Array | string);
}

export interface CreateContactRequest__Output {
  'external_id': (string);
  'name': (string);
  'email': (string);
  'phone': (string);
  'attributes_json': (Buffer);
}
