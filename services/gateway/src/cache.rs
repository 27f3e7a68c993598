//! A short-lived Redis cache of catalog reads (`GET /api/products...` answered 200). The key is
//! the path plus the query with its parameters sorted, so `?a=1&b=2` and `?b=2&a=1` share an
//! entry. The stored value is the content type, a newline, and the body bytes exactly as the
//! catalog sent them: a hit is one Redis GET and no JSON parsing. Only the router decides what is
//! cacheable ([`crate::routing::Target::cacheable`]); personal data never reaches this module.
//! Redis down → the cache is bypassed.

use std::time::Duration;

use bytes::Bytes;
use storefront_common::redis_store::Redis;

/// A cached answer: always a 200.
pub struct Cached {
    pub content_type: Option<String>,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct ResponseCache {
    redis: Redis,
    ttl: Duration,
    /// The longest a lookup may take before the cache is bypassed.
    budget: Duration,
}

impl ResponseCache {
    pub fn new(redis: Redis, ttl: Duration, budget: Duration) -> Self {
        Self { redis, ttl, budget }
    }

    pub fn key(path: &str, query: Option<&str>) -> String {
        let mut pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        pairs.sort();
        let normalised = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("storefront:gateway:cache:{path}?{normalised}")
    }

    pub async fn get(&self, key: &str) -> Option<Cached> {
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
        let newline = value.iter().position(|b| *b == b'\n')?;
        let content_type = std::str::from_utf8(&value[..newline])
            .ok()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Some(Cached {
            content_type,
            body: value.slice(newline + 1..),
        })
    }

    /// Stores in the background: the client should not wait for the cache.
    pub fn put(&self, key: String, content_type: Option<&str>, body: &Bytes) {
        let content_type = content_type.unwrap_or_default();
        // A newline in the content type would break the framing; such an answer is not cached.
        if content_type.contains('\n') {
            return;
        }
        let mut value = Vec::with_capacity(content_type.len() + 1 + body.len());
        value.extend_from_slice(content_type.as_bytes());
        value.push(b'\n');
        value.extend_from_slice(body);
        let redis = self.redis.clone();
        let ttl_ms = self.ttl.as_millis().max(1) as u64;
        let budget = self.budget;
        tokio::spawn(async move {
            let mut conn = redis.conn();
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(value).arg("PX").arg(ttl_ms);
            let stored = tokio::time::timeout(budget, set.query_async::<()>(&mut conn)).await;
            if !matches!(stored, Ok(Ok(()))) {
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
