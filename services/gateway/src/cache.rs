//! A short-lived cache of catalog reads (`GET /api/products...` answered 200), in two levels:
//! Redis, shared by every gateway replica, and in front of it a small in-process map that holds
//! hot entries for at most [`LOCAL_TTL`] and never past their Redis expiry (the expiry travels in
//! the stored value), so a hit usually costs no Redis round trip and staleness stays bounded by
//! the configured TTL. The key is the path plus the query with its parameters sorted, so
//! `?a=1&b=2` and `?b=2&a=1` share an entry. The stored value is the expiry (Unix ms), the content
//! type and the body bytes exactly as the catalog sent them, newline-separated: no JSON parsing.
//! Only the router decides what is cacheable ([`crate::routing::Target::cacheable`]); personal
//! data never reaches this module. Redis down → the cache is bypassed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use bytes::Bytes;
use storefront_common::redis_store::Redis;

/// How long an entry may live in the in-process level.
pub const LOCAL_TTL: Duration = Duration::from_secs(1);
/// Entries the in-process level holds at most; past that it drops expired entries, then all.
const LOCAL_CAPACITY: usize = 4096;

/// A cached answer: always a 200. Both parts clone without copying (reference counts), so a
/// local hit allocates nothing but the response around them.
#[derive(Clone)]
pub struct Cached {
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct ResponseCache {
    redis: Redis,
    ttl: Duration,
    /// The longest a lookup may take before the cache is bypassed.
    budget: Duration,
    local: Local,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

type Local = Arc<RwLock<HashMap<String, (Instant, Cached)>>>;

/// Keeps `cached` locally until `expires_unix_ms` or for [`LOCAL_TTL`], whichever is sooner.
fn local_put(local: &Local, key: &str, cached: &Cached, expires_unix_ms: u64) {
    let left = Duration::from_millis(expires_unix_ms.saturating_sub(unix_ms())).min(LOCAL_TTL);
    if left.is_zero() {
        return;
    }
    if let Ok(mut map) = local.write() {
        if map.len() >= LOCAL_CAPACITY {
            let now = Instant::now();
            map.retain(|_, (expires, _)| *expires > now);
            if map.len() >= LOCAL_CAPACITY {
                map.clear();
            }
        }
        map.insert(key.to_string(), (Instant::now() + left, cached.clone()));
    }
}

impl ResponseCache {
    pub fn new(redis: Redis, ttl: Duration, budget: Duration) -> Self {
        Self {
            redis,
            ttl,
            budget,
            local: Arc::default(),
        }
    }

    fn local_get(&self, key: &str) -> Option<Cached> {
        let map = self.local.read().ok()?;
        let (expires, cached) = map.get(key)?;
        (Instant::now() < *expires).then(|| cached.clone())
    }

    fn local_put(&self, key: &str, cached: &Cached, expires_unix_ms: u64) {
        local_put(&self.local, key, cached, expires_unix_ms);
    }

    pub fn key(path: &str, query: Option<&str>) -> String {
        const PREFIX: &str = "storefront:gateway:cache:";
        let query = query.unwrap_or_default();
        if query.is_empty() {
            // The common listing: nothing to sort or re-encode.
            let mut key = String::with_capacity(PREFIX.len() + path.len() + 1);
            key.push_str(PREFIX);
            key.push_str(path);
            key.push('?');
            return key;
        }
        let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        pairs.sort();
        let normalised = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{PREFIX}{path}?{normalised}")
    }

    pub async fn get(&self, key: &str) -> Option<Cached> {
        if let Some(hit) = self.local_get(key) {
            return Some(hit);
        }
        let mut conn = self.redis.conn();
        let mut get = redis::cmd("GET");
        get.arg(key);
        let lookup = get.query_async(&mut conn);
        let value: Option<Vec<u8>> = match tokio::time::timeout(self.budget, lookup).await {
            Ok(Ok(value)) => value,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "response cache unavailable; bypassing it");
                return None;
            }
            Err(_) => {
                tracing::warn!("response cache did not answer in time; bypassing it");
                return None;
            }
        };
        let value = Bytes::from(value?);
        let first = value.iter().position(|b| *b == b'\n')?;
        let expires: u64 = std::str::from_utf8(&value[..first]).ok()?.parse().ok()?;
        let rest = value.slice(first + 1..);
        let second = rest.iter().position(|b| *b == b'\n')?;
        let content_type = Some(&rest[..second])
            .filter(|s| !s.is_empty())
            .and_then(|s| HeaderValue::from_bytes(s).ok());
        let cached = Cached {
            content_type,
            body: rest.slice(second + 1..),
        };
        self.local_put(key, &cached, expires);
        Some(cached)
    }

    /// Stores in the background: the client should not wait for the cache.
    pub fn put(&self, key: String, content_type: Option<&str>, body: &Bytes) {
        let content_type = content_type.unwrap_or_default();
        // A newline in the content type would break the framing; such an answer is not cached.
        if content_type.contains('\n') {
            return;
        }
        let ttl_ms = self.ttl.as_millis().max(1) as u64;
        let expires = unix_ms() + ttl_ms;
        let cached = Cached {
            content_type: Some(content_type)
                .filter(|c| !c.is_empty())
                .and_then(|c| HeaderValue::from_str(c).ok()),
            body: body.clone(),
        };
        let expires_text = expires.to_string();
        let mut value =
            Vec::with_capacity(expires_text.len() + content_type.len() + 2 + body.len());
        value.extend_from_slice(expires_text.as_bytes());
        value.push(b'\n');
        value.extend_from_slice(content_type.as_bytes());
        value.push(b'\n');
        value.extend_from_slice(body);
        let redis = self.redis.clone();
        let budget = self.budget;
        let local = self.local.clone();
        tokio::spawn(async move {
            let mut conn = redis.conn();
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value).arg("PX").arg(ttl_ms);
            let stored = tokio::time::timeout(budget, set.query_async::<()>(&mut conn)).await;
            if matches!(stored, Ok(Ok(()))) {
                // Only what Redis holds is kept locally: with Redis down the cache is bypassed.
                local_put(&local, &key, &cached, expires);
            } else {
                tracing::warn!("storing a cached response failed or timed out");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ignores_parameter_order_and_encoding_differences() {
        assert_eq!(
            ResponseCache::key("/api/products", Some("q=red+shoe&page=2")),
            ResponseCache::key("/api/products", Some("page=2&q=red%20shoe"))
        );
        assert_ne!(
            ResponseCache::key("/api/products", Some("page=2")),
            ResponseCache::key("/api/products", Some("page=3"))
        );
        assert_eq!(
            ResponseCache::key("/api/products", None),
            ResponseCache::key("/api/products", Some(""))
        );
        assert_ne!(
            ResponseCache::key("/api/products", None),
            ResponseCache::key("/api/products/categories", None)
        );
    }
}
