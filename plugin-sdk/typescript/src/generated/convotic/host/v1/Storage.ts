// Original file: ../../proto/convotic/host/v1/host.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { StorageCompareAndSetRequest as _convotic_host_v1_StorageCompareAndSetRequest, StorageCompareAndSetRequest__Output as _convotic_host_v1_StorageCompareAndSetRequest__Output } from '../../../convotic/host/v1/StorageCompareAndSetRequest.js';
import type { StorageDeleteRequest as _convotic_host_v1_StorageDeleteRequest, StorageDeleteRequest__Output as _convotic_host_v1_StorageDeleteRequest__Output } from '../../../convotic/host/v1/StorageDeleteRequest.js';
import type { StorageDeleteResponse as _convotic_host_v1_StorageDeleteResponse, StorageDeleteResponse__Output as _convotic_host_v1_StorageDeleteResponse__Output } from '../../../convotic/host/v1/StorageDeleteResponse.js';
import type { StorageEntry as _convotic_host_v1_StorageEntry, StorageEntry__Output as _convotic_host_v1_StorageEntry__Output } from '../../../convotic/host/v1/StorageEntry.js';
import type { StorageGetRequest as _convotic_host_v1_StorageGetRequest, StorageGetRequest__Output as _convotic_host_v1_StorageGetRequest__Output } from '../../../convotic/host/v1/StorageGetRequest.js';
import type { StorageListRequest as _convotic_host_v1_StorageListRequest, StorageListRequest__Output as _convotic_host_v1_StorageListRequest__Output } from '../../../convotic/host/v1/StorageListRequest.js';
import type { StorageListResponse as _convotic_host_v1_StorageListResponse, StorageListResponse__Output as _convotic_host_v1_StorageListResponse__Output } from '../../../convotic/host/v1/StorageListResponse.js';
import type { StorageSetRequest as _convotic_host_v1_StorageSetRequest, StorageSetRequest__Output as _convotic_host_v1_StorageSetRequest__Output } from '../../../convotic/host/v1/StorageSetRequest.js';

/**
 * Key-value storage scoped to the calling module in its workspace.
 */
export interface StorageClient extends grpc.Client {
  /**
   * Sets `value_json` only if the current revision is `expected_revision` (0 = key absent);
   * FAILED_PRECONDITION otherwise.
   */
  CompareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  CompareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  CompareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  CompareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  /**
   * Sets `value_json` only if the current revision is `expected_revision` (0 = key absent);
   * FAILED_PRECONDITION otherwise.
   */
  compareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  compareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  compareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  compareAndSet(argument: _convotic_host_v1_StorageCompareAndSetRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  
  Delete(argument: _convotic_host_v1_StorageDeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _convotic_host_v1_StorageDeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _convotic_host_v1_StorageDeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _convotic_host_v1_StorageDeleteRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_StorageDeleteRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_StorageDeleteRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_StorageDeleteRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _convotic_host_v1_StorageDeleteRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageDeleteResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * NOT_FOUND when the key is absent or expired.
   */
  Get(argument: _convotic_host_v1_StorageGetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_StorageGetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_StorageGetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  Get(argument: _convotic_host_v1_StorageGetRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  /**
   * NOT_FOUND when the key is absent or expired.
   */
  get(argument: _convotic_host_v1_StorageGetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_StorageGetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_StorageGetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  get(argument: _convotic_host_v1_StorageGetRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  
  List(argument: _convotic_host_v1_StorageListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_StorageListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_StorageListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _convotic_host_v1_StorageListRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_StorageListRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_StorageListRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_StorageListRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _convotic_host_v1_StorageListRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageListResponse__Output>): grpc.ClientUnaryCall;
  
  Set(argument: _convotic_host_v1_StorageSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  Set(argument: _convotic_host_v1_StorageSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  Set(argument: _convotic_host_v1_StorageSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  Set(argument: _convotic_host_v1_StorageSetRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  set(argument: _convotic_host_v1_StorageSetRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  set(argument: _convotic_host_v1_StorageSetRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  set(argument: _convotic_host_v1_StorageSetRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  set(argument: _convotic_host_v1_StorageSetRequest, callback: grpc.requestCallback<_convotic_host_v1_StorageEntry__Output>): grpc.ClientUnaryCall;
  
}

/**
 * Key-value storage scoped to the calling module in its workspace.
 */
export interface StorageHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Sets `value_json` only if the current revision is `expected_revision` (0 = key absent);
   * FAILED_PRECONDITION otherwise.
   */
  CompareAndSet: grpc.handleUnaryCall<_convotic_host_v1_StorageCompareAndSetRequest__Output, _convotic_host_v1_StorageEntry>;
  
  Delete: grpc.handleUnaryCall<_convotic_host_v1_StorageDeleteRequest__Output, _convotic_host_v1_StorageDeleteResponse>;
  
  /**
   * NOT_FOUND when the key is absent or expired.
   */
  Get: grpc.handleUnaryCall<_convotic_host_v1_StorageGetRequest__Output, _convotic_host_v1_StorageEntry>;
  
  List: grpc.handleUnaryCall<_convotic_host_v1_StorageListRequest__Output, _convotic_host_v1_StorageListResponse>;
  
  Set: grpc.handleUnaryCall<_convotic_host_v1_StorageSetRequest__Output, _convotic_host_v1_StorageEntry>;
  
}

export interface StorageDefinition extends grpc.ServiceDefinition {
  CompareAndSet: MethodDefinition<_convotic_host_v1_StorageCompareAndSetRequest, _convotic_host_v1_StorageEntry, _convotic_host_v1_StorageCompareAndSetRequest__Output, _convotic_host_v1_StorageEntry__Output>
  Delete: MethodDefinition<_convotic_host_v1_StorageDeleteRequest, _convotic_host_v1_StorageDeleteResponse, _convotic_host_v1_StorageDeleteRequest__Output, _convotic_host_v1_StorageDeleteResponse__Output>
  Get: MethodDefinition<_convotic_host_v1_StorageGetRequest, _convotic_host_v1_StorageEntry, _convotic_host_v1_StorageGetRequest__Output, _convotic_host_v1_StorageEntry__Output>
  List: MethodDefinition<_convotic_host_v1_StorageListRequest, _convotic_host_v1_StorageListResponse, _convotic_host_v1_StorageListRequest__Output, _convotic_host_v1_StorageListResponse__Output>
  Set: MethodDefinition<_convotic_host_v1_StorageSetRequest, _convotic_host_v1_StorageEntry, _convotic_host_v1_StorageSetRequest__Output, _convotic_host_v1_StorageEntry__Output>
}
