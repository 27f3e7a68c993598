//! Cache-aside in Redis for catalog reads. Every key embeds the catalog generation, a counter
//! that each write increments: one INCR makes every cached page, category list and product stale
//! at once, and a reader that loaded old rows before a write can only store them under the old
//! generation, where nobody looks any more. Redis trouble never fails a read: it is logged and the
//! read goes to PostgreSQL. Each read is counted by how the cache answered it
//! (`catalog_cache_lookups_total{result="hit|miss|unavailable"}`), the figure a canary of
//! catalog is compared on: a new version whose hits collapse hammers PostgreSQL.

use std::future::Future;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde::de::DeserializeOwned;
use storefront_common::ids::ProductId;
use storefront_common::redis_store::Redis;

use crate::listing::ListQuery;

pub const GENERATION_KEY: &str = "catalog:generation";

/// A cache call slower than this is abandoned: a slow Redis must not make reads slow.
const OP_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
enum CacheError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {OP_TIMEOUT:?}")]
    Timeout,
    #[error("cached value is not readable: {0}")]
    Decode(#[from] serde_json::Error),
}

/// What a cached value is; each turns into a key under the current generation.
pub enum Entry<'a> {
    Product(ProductId),
    Page(&'a ListQuery),
    Categories,
}

impl Entry<'_> {
    pub fn key(&self, generation: i64) -> String {
        match self {
            Entry::Product(id) => format!("catalog:v{generation}:product:{id}"),
            // The normalised query serialised as JSON is unambiguous whatever `q` contains.
            Entry::Page(query) => format!(
                "catalog:v{generation}:page:{}",
                serde_json::to_string(query).unwrap_or_default()
            ),
            Entry::Categories => format!("catalog:v{generation}:categories"),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    result: &'static str,
}

/// How the cache answered one read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    Hit,
    Miss,
    /// Redis failed or timed out: read from PostgreSQL.
    Unavailable,
}

impl Lookup {
    const ALL: [Lookup; 3] = [Lookup::Hit, Lookup::Miss, Lookup::Unavailable];

    fn label(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::Unavailable => "unavailable",
        }
    }
}

#[derive(Clone)]
pub struct Cache {
    redis: Redis,
    ttl: Duration,
    lookups: Family<LookupLabels, Counter>,
}

impl Cache {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        let lookups = Family::<LookupLabels, Counter>::default();
        // Every series exists from the start, so a ratio has a denominator from the first read.
        for lookup in Lookup::ALL {
            let _ = lookups.get_or_create(&LookupLabels {
                result: lookup.label(),
            });
        }
        Self {
            redis,
            ttl,
            lookups,
        }
    }

    /// Adds `catalog_cache_lookups_total` to the service's registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "catalog_cache_lookups",
            "Catalog reads by how the cache answered them: hit, miss, or unavailable (Redis \
             failed, the read went to PostgreSQL)",
            self.lookups.clone(),
        );
    }

    fn count(&self, lookup: Lookup) {
        self.lookups
            .get_or_create(&LookupLabels {
                result: lookup.label(),
            })
            .inc();
    }

    /// Answers from the cache, or runs `load` and caches what it returns (including "not found",
    /// which is safe because creating the product bumps the generation).
    pub async fn read_through<T, E, F, Fut>(&self, entry: Entry<'_>, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let key = match self.generation().await {
            Ok(generation) => Some(entry.key(generation)),
            Err(e) => {
                tracing::warn!(error = %e, "catalog cache unavailable; reading from PostgreSQL");
                None
            }
        };
        match &key {
            Some(key) => match self.get::<T>(key).await {
                Ok(Some(hit)) => {
                    self.count(Lookup::Hit);
                    return Ok(hit);
                }
                Ok(None) => self.count(Lookup::Miss),
                Err(e) => {
                    self.count(Lookup::Unavailable);
                    tracing::warn!(error = %e, key, "catalog cache read failed");
                }
            },
            None => self.count(Lookup::Unavailable),
        }
        let value = load().await?;
        if let Some(key) = &key
            && let Err(e) = self.put(key, &value).await
        {
            tracing::warn!(error = %e, key, "catalog cache write failed");
        }
        Ok(value)
    }

    /// Makes every cached entry stale. Called after each committed write; if Redis is down the
    /// cached entries expire on their own within the TTL.
    pub async fn invalidate_all(&self) {
        let mut incr = redis::cmd("INCR");
        incr.arg(GENERATION_KEY);
        if let Err(e) = self.run::<i64>(incr).await {
            tracing::warn!(
                error = %e,
                "catalog cache invalidation failed; cached reads may be stale until their TTL"
            );
        }
    }

    async fn generation(&self) -> Result<i64, CacheError> {
        let mut get = redis::cmd("GET");
        get.arg(GENERATION_KEY);
        Ok(self.run::<Option<i64>>(get).await?.unwrap_or(0))
    }

    async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let mut get = redis::cmd("GET");
        get.arg(key);
        let raw = self.run::<Option<String>>(get).await?;
        Ok(raw.map(|s| serde_json::from_str(&s)).transpose()?)
    }

    async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), CacheError> {
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut set = redis::cmd("SET");
        set.arg(key)
            .arg(serde_json::to_string(value)?)
            .arg("PX")
            .arg(ttl_ms);
        self.run::<()>(set).await
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, CacheError> {
        let mut conn = self.redis.conn();
        tokio::time::timeout(OP_TIMEOUT, cmd.query_async::<T>(&mut conn))
            .await
            .map_err(|_| CacheError::Timeout)?
            .map_err(CacheError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::RawListQuery;

    fn query(raw: RawListQuery) -> ListQuery {
        ListQuery::try_from(raw).unwrap()
    }

    #[test]
    fn keys_change_with_the_generation() {
        let id = ProductId::new();
        assert_ne!(Entry::Product(id).key(1), Entry::Product(id).key(2));
        assert_ne!(Entry::Categories.key(1), Entry::Categories.key(2));
    }

    #[test]
    fn equivalent_queries_share_a_page_key_and_different_ones_do_not() {
        let a = query(RawListQuery {
            category: Some("Books".into()),
            ..Default::default()
        });
        let b = query(RawListQuery {
            category: Some("books".into()),
            page: Some(1),
            ..Default::default()
        });
        let c = query(RawListQuery {
            category: Some("books".into()),
            page: Some(2),
            ..Default::default()
        });
        assert_eq!(Entry::Page(&a).key(0), Entry::Page(&b).key(0));
        assert_ne!(Entry::Page(&a).key(0), Entry::Page(&c).key(0));
    }
}
