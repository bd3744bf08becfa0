// Original file: ../../proto/convotic/host/v1/host.proto


export interface FindByExternalIdRequest {
  'external_id'?: (string);
}

export interface FindByExternalIdRequest__Output {
  'external_id': (string);
}
