// Original file: ../../proto/convotic/host/v1/host.proto


export interface UpdateContactRequest {
  'id'?: (string);
  /**
   * Fields left unset are not changed.
   */
  'external_id'?: (string);
  'name'?: (string);
  'email'?: (string);
  'phone'?: (string);
  /**
   * Merged into the existing attributes (JSON object); empty = unchanged.
   */
  'attributes_json'?: (Buffer | Uint8Array | string);
  '_external_id'?: "external_id";
  '_name'?: "name";
  '_email'?: "email";
  '_phone'?: "phone";
}

export interface UpdateContactRequest__Output {
  'id': (string);
  /**
   * Fields left unset are not changed.
   */
  'external_id'?: (string);
  'name'?: (string);
  'email'?: (string);
  'phone'?: (string);
  /**
   * Merged into the existing attributes (JSON object); empty = unchanged.
   */
  'attributes_json': (Buffer);
  '_external_id'?: "external_id";
  '_name'?: "name";
  '_email'?: "email";
  '_phone'?: "phone";
}
