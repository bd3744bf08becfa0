// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Contact as _convotic_host_v1_Contact, Contact__Output as _convotic_host_v1_Contact__Output } from '../../../convotic/host/v1/Contact.js';
import type { CreateContactRequest as _convotic_host_v1_CreateContactRequest, CreateContactRequest__Output as _convotic_host_v1_CreateContactRequest__Output } from '../../../convotic/host/v1/CreateContactRequest.js';
import type { DeleteContactRequest as _convotic_host_v1_DeleteContactRequest, DeleteContactRequest__Output as _convotic_host_v1_DeleteContactRequest__Output } from '../../../convotic/host/v1/DeleteContactRequest.js';
import type { DeleteContactResponse as _convotic_host_v1_DeleteContactResponse, DeleteContactResponse__Output as _convotic_host_v1_DeleteContactResponse__Output } from '../../../convotic/host/v1/DeleteContactResponse.js';
import type { FindByExternalIdRequest as _convotic_host_v1_FindByExternalIdRequest, FindByExternalIdRequest__Output as _convotic_host_v1_FindByExternalIdRequest__Output } from '../../../convotic/host/v1/FindByExternalIdRequest.js';
import type { GetContactRequest as _convotic_host_v1_GetContactRequest, GetContactRequest__Output as _convotic_host_v1_GetContactRequest__Output } from '../../../convotic/host/v1/GetContactRequest.js';
import type { ListContactsRequest as _convotic_host_v1_ListContactsRequest, ListContactsRequest__Output as _convotic_host_v1_ListContactsRequest__Output } from '../../../convotic/host/v1/ListContactsRequest.js';
import type { ListContactsResponse as _convotic_host_v1_ListContactsResponse, ListContactsResponse__Output as _convotic_host_v1_ListContactsResponse__Output } from '../../../convotic/host/v1/ListContactsResponse.js';
import type { UpdateContactRequest as _convotic_host_v1_UpdateContactRequest, UpdateContactRequest__Output as _convotic_host_v1_UpdateContactRequest__Output } from '../../../convotic/host/v1/UpdateContactRequest.js';

export interface ContactsClient extends grpc.Client {
  Create(argument: _convotic_host_v1_CreateContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Create(argument: _convotic_host_v1_CreateContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Create(argument: _convotic_host_v1_CreateContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Create(argument: _convotic_host_v1_CreateContactRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  create(argument: _convotic_host_v1_CreateContactRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  
  Delete(argument: _convotic_host_v1_DeleteContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _convotic_host_v1_DeleteContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _convotic_host_v1_DeleteContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _convotic_host_v1_DeleteContactRequest, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_DeleteContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_DeleteContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_DeleteContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_DeleteContactRequest, callback: grpc.requestCallback<_convotic_host_v1_DeleteContactResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * NOT_FOUND when no contact has this external id.
   */
  FindByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  FindByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  FindByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  FindByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  /**
   * NOT_FOUND when no contact has this external id.
   */
  findByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  findByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  findByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  findByExternalId(argument: _convotic_host_v1_FindByExternalIdRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  
  Get(argument: _convotic_host_v1_GetContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_GetContactRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_GetContactRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  
  List(argument: _convotic_host_v1_ListContactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_ListContactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_ListContactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_ListContactsRequest, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListContactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListContactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListContactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_ListContactsRequest, callback: grpc.requestCallback<_convotic_host_v1_ListContactsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Attributes are merged: keys in the update replace existing keys, a null value removes one.
   */
  Update(argument: _convotic_host_v1_UpdateContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Update(argument: _convotic_host_v1_UpdateContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Update(argument: _convotic_host_v1_UpdateContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  Update(argument: _convotic_host_v1_UpdateContactRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  /**
   * Attributes are merged: keys in the update replace existing keys, a null value removes one.
   */
  update(argument: _convotic_host_v1_UpdateContactRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateContactRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateContactRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  update(argument: _convotic_host_v1_UpdateContactRequest, callback: grpc.requestCallback<_convotic_host_v1_Contact__Output>): grpc.ClientUnaryCall;
  
}

export interface ContactsHandlers extends grpc.UntypedServiceImplementation {
  Create: grpc.handleUnaryCall<_convotic_host_v1_CreateContactRequest__Output, _convotic_host_v1_Contact>;
  
  Delete: grpc.handleUnaryCall<_convotic_host_v1_DeleteContactRequest__Output, _convotic_host_v1_DeleteContactResponse>;
  
  /**
   * NOT_FOUND when no contact has this external id.
   */
  FindByExternalId: grpc.handleUnaryCall<_convotic_host_v1_FindByExternalIdRequest__Output, _convotic_host_v1_Contact>;
  
  Get: grpc.handleUnaryCall<_convotic_host_v1_GetContactRequest__Output, _convotic_host_v1_Contact>;
  
  List: grpc.handleUnaryCall<_convotic_host_v1_ListContactsRequest__Output, _convotic_host_v1_ListContactsResponse>;
  
  /**
   * Attributes are merged: keys in the update replace existing keys, a null value removes one.
   */
  Update: grpc.handleUnaryCall<_convotic_host_v1_UpdateContactRequest__Output, _convotic_host_v1_Contact>;
  
}

export interface ContactsDefinition extends grpc.ServiceDefinition {
  Create: MethodDefinition<_convotic_host_v1_CreateContactRequest, _convotic_host_v1_Contact, _convotic_host_v1_CreateContactRequest__Output, _convotic_host_v1_Contact__Output>
  Delete: MethodDefinition<_convotic_host_v1_DeleteContactRequest, _convotic_host_v1_DeleteContactResponse, _convotic_host_v1_DeleteContactRequest__Output, _convotic_host_v1_DeleteContactResponse__Output>
  FindByExternalId: MethodDefinition<_convotic_host_v1_FindByExternalIdRequest, _convotic_host_v1_Contact, _convotic_host_v1_FindByExternalIdRequest__Output, _convotic_host_v1_Contact__Output>
  Get: MethodDefinition<_convotic_host_v1_GetContactRequest, _convotic_host_v1_Contact, _convotic_host_v1_GetContactRequest__Output, _convotic_host_v1_Contact__Output>
  List: MethodDefinition<_convotic_host_v1_ListContactsRequest, _convotic_host_v1_ListContactsResponse, _convotic_host_v1_ListContactsRequest__Output, _convotic_host_v1_ListContactsResponse__Output>
  Update: MethodDefinition<_convotic_host_v1_UpdateContactRequest, _convotic_host_v1_Contact, _convotic_host_v1_UpdateContactRequest__Output, _convotic_host_v1_Contact__Output>
}
