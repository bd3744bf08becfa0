//! `ctx.storage()`: key-value storage scoped to the module in its workspace, with revisions
//! for compare-and-set and optional expiry.

use std::time::Duration;

use convotic_proto::host::v1 as pb;
use pb::storage_client::StorageClient;
use serde_json::Value;

use super::host::MAX_MESSAGE_BYTES;
use super::{decode_json, encode_json, next_token, optional, Context};
use crate::error::HostError;

/// A stored key with its value and revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorageEntry {
    /// The key.
    pub key: String,
    /// The JSON value.
    pub value: Value,
    /// Increases on every write; starts at 1.
    pub revision: u64,
    /// When the key expires, ms since the Unix epoch; 0 = never.
    pub expires_at_ms: u64,
}

impl StorageEntry {
    fn from_proto(call: &'static str, e: pb::StorageEntry) -> Result<Self, HostError> {
        Ok(StorageEntry {
            value: decode_json(call, &e.value_json)?,
            key: e.key,
            revision: e.revision,
            expires_at_ms: e.expires_at_ms,
        })
    }
}

/// One page of storage entries.
#[derive(Debug, Clone, Default)]
pub struct StoragePage {
    /// The entries.
    pub entries: Vec<StorageEntry>,
    /// Token of the next page, `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Client of the Storage service; see [`Context::storage`].
#[derive(Debug, Clone)]
pub struct Storage {
    ctx: Context,
}

fn client(channel: super::HostChannel) -> StorageClient<super::HostChannel> {
    StorageClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

fn ttl_ms(ttl: Option<Duration>) -> u64 {
    ttl.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1))
        .unwrap_or(0)
}

impl Storage {
    pub(crate) fn new(ctx: Context) -> Self {
        Storage { ctx }
    }

    /// The value of `key`, or `None` when it is absent or expired.
    pub async fn get(&self, key: &str) -> Result<Option<Value>, HostError> {
        Ok(self.get_entry(key).await?.map(|entry| entry.value))
    }

    /// The entry of `key` (value and revision), or `None` when it is absent or expired.
    pub async fn get_entry(&self, key: &str) -> Result<Option<StorageEntry>, HostError> {
        const CALL: &str = "storage.get";
        let request = pb::StorageGetRequest {
            key: key.to_string(),
        };
        let found = optional(
            self.ctx
                .call(
                    CALL,
                    request,
                    |ch, req| async move { client(ch).get(req).await },
                )
                .await,
        )?;
        found.map(|e| StorageEntry::from_proto(CALL, e)).transpose()
    }

    /// Stores a JSON value under `key`, without expiry.
    pub async fn set(
        &self,
        key: &str,
        value: impl serde::Serialize,
    ) -> Result<StorageEntry, HostError> {
        self.write(key, value, None).await
    }

    /// Stores a JSON value under `key` that expires after `ttl`.
    pub async fn set_with_ttl(
        &self,
        key: &str,
        value: impl serde::Serialize,
        ttl: Duration,
    ) -> Result<StorageEntry, HostError> {
        self.write(key, value, Some(ttl)).await
    }

    async fn write(
        &self,
        key: &str,
        value: impl serde::Serialize,
        ttl: Option<Duration>,
    ) -> Result<StorageEntry, HostError> {
        const CALL: &str = "storage.set";
        let request = pb::StorageSetRequest {
            key: key.to_string(),
            value_json: encode_json(CALL, value)?,
            ttl_ms: ttl_ms(ttl),
        };
        let entry = self
            .ctx
            .call(
                CALL,
                request,
                |ch, req| async move { client(ch).set(req).await },
            )
            .await?;
        StorageEntry::from_proto(CALL, entry)
    }

    /// Deletes `key`; `false` when it did not exist.
    pub async fn delete(&self, key: &str) -> Result<bool, HostError> {
        const CALL: &str = "storage.delete";
        let request = pb::StorageDeleteRequest {
            key: key.to_string(),
        };
        let response = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).delete(req).await
            })
            .await?;
        Ok(response.deleted)
    }

    /// Every entry whose key starts with `prefix` (all pages).
    pub async fn list(&self, prefix: &str) -> Result<Vec<StorageEntry>, HostError> {
        let mut entries = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(prefix, 0, token.as_deref()).await?;
            entries.extend(page.entries);
            match page.next_page_token {
                // A host answering the same token again would loop forever: stop.
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                _ => return Ok(entries),
            }
        }
    }

    /// One page of the entries whose key starts with `prefix`.
    pub async fn list_page(
        &self,
        prefix: &str,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<StoragePage, HostError> {
        const CALL: &str = "storage.list";
        let request = pb::StorageListRequest {
            prefix: prefix.to_string(),
            page_size,
            page_token: page_token.unwrap_or_default().to_string(),
        };
        let response = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).list(req).await
            })
            .await?;
        Ok(StoragePage {
            entries: response
                .entries
                .into_iter()
                .map(|e| StorageEntry::from_proto(CALL, e))
                .collect::<Result<_, _>>()?,
            next_page_token: next_token(response.next_page_token),
        })
    }

    /// Stores `value` only if the key's current revision is `expected_revision` (0 = the key
    /// must be absent). Returns the new entry, or `None` when the revision did not match.
    pub async fn compare_and_set(
        &self,
        key: &str,
        value: impl serde::Serialize,
        expected_revision: u64,
    ) -> Result<Option<StorageEntry>, HostError> {
        self.cas(key, value, expected_revision, None).await
    }

    /// Like [`Storage::compare_and_set`], with an expiry.
    pub async fn compare_and_set_with_ttl(
        &self,
        key: &str,
        value: impl serde::Serialize,
        expected_revision: u64,
        ttl: Duration,
    ) -> Result<Option<StorageEntry>, HostError> {
        self.cas(key, value, expected_revision, Some(ttl)).await
    }

    async fn cas(
        &self,
        key: &str,
        value: impl serde::Serialize,
        expected_revision: u64,
        ttl: Option<Duration>,
    ) -> Result<Option<StorageEntry>, HostError> {
        const CALL: &str = "storage.compare_and_set";
        let request = pb::StorageCompareAndSetRequest {
            key: key.to_string(),
            value_json: encode_json(CALL, value)?,
            expected_revision,
            ttl_ms: ttl_ms(ttl),
        };
        let result = self
            .ctx
            .call(CALL, request, |ch, req| async move {
                client(ch).compare_and_set(req).await
            })
            .await;
        match result {
            Ok(entry) => Ok(Some(StorageEntry::from_proto(CALL, entry)?)),
            Err(err) if err.is_conflict() => Ok(None),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_at_least_one_ms() {
        assert_eq!(ttl_ms(None), 0);
        assert_eq!(ttl_ms(Some(Duration::from_micros(10))), 1);
        assert_eq!(ttl_ms(Some(Duration::from_secs(2))), 2000);
    }
}
