//! `convotic.host.v1.Storage`: key-value storage of the calling module in its workspace.

use convotic_proto::host::v1 as pb;
use convotic_proto::host::v1::storage_server::Storage;
use tonic::{Request, Response, Status};

use super::scope::{json_bytes, page_token, parse_json, Scope};
use crate::store::{StorageEntry, StoreError};

const FIELDS: &[(&str, &str)] = &[("value", "value_json")];

/// The Storage service of one instance.
pub struct HostStorage {
    scope: Scope,
}

impl HostStorage {
    /// Storage of `scope`'s module in `scope`'s workspace.
    pub fn new(scope: Scope) -> Self {
        Self { scope }
    }

    fn reply(
        &self,
        result: Result<StorageEntry, StoreError>,
    ) -> Result<Response<pb::StorageEntry>, Status> {
        result
            .map(|e| Response::new(to_proto(e)))
            .map_err(|e| self.scope.status(e, FIELDS))
    }
}

fn to_proto(e: StorageEntry) -> pb::StorageEntry {
    pb::StorageEntry {
        value_json: json_bytes(&e.value),
        key: e.key,
        revision: e.revision,
        expires_at_ms: e.expires_at_ms,
    }
}

#[tonic::async_trait]
impl Storage for HostStorage {
    async fn get(
        &self,
        request: Request<pb::StorageGetRequest>,
    ) -> Result<Response<pb::StorageEntry>, Status> {
        let key = request.into_inner().key;
        let s = &self.scope;
        self.reply(s.store.kv_get(s.workspace(), s.module(), &key).await)
    }

    async fn set(
        &self,
        request: Request<pb::StorageSetRequest>,
    ) -> Result<Response<pb::StorageEntry>, Status> {
        let r = request.into_inner();
        let value = parse_json("value_json", &r.value_json)?;
        let s = &self.scope;
        self.reply(
            s.store
                .kv_set(s.workspace(), s.module(), &r.key, value, r.ttl_ms)
                .await,
        )
    }

    async fn delete(
        &self,
        request: Request<pb::StorageDeleteRequest>,
    ) -> Result<Response<pb::StorageDeleteResponse>, Status> {
        let key = request.into_inner().key;
        let s = &self.scope;
        s.store
            .kv_delete(s.workspace(), s.module(), &key)
            .await
            .map(|deleted| Response::new(pb::StorageDeleteResponse { deleted }))
            .map_err(|e| s.status(e, FIELDS))
    }

    async fn list(
        &self,
        request: Request<pb::StorageListRequest>,
    ) -> Result<Response<pb::StorageListResponse>, Status> {
        let r = request.into_inner();
        let s = &self.scope;
        let page = s
            .store
            .kv_list(
                s.workspace(),
                s.module(),
                &r.prefix,
                r.page_size,
                &r.page_token,
            )
            .await
            .map_err(|e| s.status(e, FIELDS))?;
        Ok(Response::new(pb::StorageListResponse {
            entries: page.items.into_iter().map(to_proto).collect(),
            next_page_token: page_token(page.next_page_token),
        }))
    }

    async fn compare_and_set(
        &self,
        request: Request<pb::StorageCompareAndSetRequest>,
    ) -> Result<Response<pb::StorageEntry>, Status> {
        let r = request.into_inner();
        let value = parse_json("value_json", &r.value_json)?;
        let s = &self.scope;
        self.reply(
            s.store
                .kv_compare_and_set(
                    s.workspace(),
                    s.module(),
                    &r.key,
                    value,
                    r.expected_revision,
                    r.ttl_ms,
                )
                .await,
        )
    }
}
