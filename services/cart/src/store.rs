//! The carts in Redis: one hash `cart:{userId}` of productId → quantity, expiring 30 days after
//! the last write. Changes that must respect the limits run as Lua scripts, so check and write
//! are one atomic step however many requests race.

use std::collections::HashMap;
use std::time::Duration;

use storefront_common::ApiError;
use storefront_common::ids::{ProductId, UserId};
use storefront_common::redis_store::Redis;

use crate::quantity::{MAX_LINES, MAX_QUANTITY, QuantityError};

/// KEYS[1] cart; ARGV: product, units to add, max per line, max lines, ttl ms.
/// Returns {0, new quantity} | {1, quantity in cart} over the line limit | {2, 0} cart full.
const ADD: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local adding = tonumber(ARGV[2])
if current + adding > tonumber(ARGV[3]) then return {1, current} end
if current == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {2, 0} end
local new = redis.call('HINCRBY', KEYS[1], ARGV[1], adding)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {0, new}
";

/// KEYS[1] cart; ARGV: product, quantity (0 removes), max lines, ttl ms.
/// Returns 0 done | 2 cart full.
const SET: &str = r"
local quantity = tonumber(ARGV[2])
if quantity == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0
     and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
    return 2
  end
  redis.call('HSET', KEYS[1], ARGV[1], quantity)
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 0
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the cart store (Redis) is unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Limit(#[from] QuantityError),
    #[error("the cart script answered {0:?}, which this version does not understand")]
    Script(Vec<i64>),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Limit(e) => e.into(),
            StoreError::Redis(e) => {
                tracing::error!(error = %e, "redis unavailable");
                ApiError::unavailable("the cart store is unavailable; try again shortly")
            }
            other => ApiError::internal(other),
        }
    }
}

pub fn cart_key(user: UserId) -> String {
    format!("cart:{user}")
}

#[derive(Clone)]
pub struct CartStore {
    redis: Redis,
    ttl: Duration,
}

impl CartStore {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Adds units to a line, refusing to pass the per-line or lines-per-cart limit.
    pub async fn add(
        &self,
        user: UserId,
        product: ProductId,
        adding: u32,
    ) -> Result<u32, StoreError> {
        let mut conn = self.redis.conn();
        let answer: Vec<i64> = redis::cmd("EVAL")
            .arg(ADD)
            .arg(1)
            .arg(cart_key(user))
            .arg(product.to_string())
            .arg(adding)
            .arg(MAX_QUANTITY)
            .arg(MAX_LINES)
            .arg(self.ttl_ms())
            .query_async(&mut conn)
            .await?;
        match answer[..] {
            [0, new] => Ok(u32::try_from(new).unwrap_or(MAX_QUANTITY)),
            [1, in_cart] => Err(QuantityError::OverLineLimit {
                product,
                in_cart: u32::try_from(in_cart).unwrap_or(MAX_QUANTITY),
                adding,
            }
            .into()),
            [2, _] => Err(QuantityError::CartFull.into()),
            _ => Err(StoreError::Script(answer)),
        }
    }

    /// Sets a line's quantity; 0 removes it.
    pub async fn set(
        &self,
        user: UserId,
        product: ProductId,
        quantity: u32,
    ) -> Result<(), StoreError> {
        let mut conn = self.redis.conn();
        let answer: i64 = redis::cmd("EVAL")
            .arg(SET)
            .arg(1)
            .arg(cart_key(user))
            .arg(product.to_string())
            .arg(quantity)
            .arg(MAX_LINES)
            .arg(self.ttl_ms())
            .query_async(&mut conn)
            .await?;
        match answer {
            0 => Ok(()),
            2 => Err(QuantityError::CartFull.into()),
            other => Err(StoreError::Script(vec![other])),
        }
    }

    /// The lines of a cart, in no particular order. Entries that are not a product id and a
    /// positive quantity (never written by this service) are skipped.
    pub async fn lines(&self, user: UserId) -> Result<Vec<(ProductId, u32)>, StoreError> {
        let mut conn = self.redis.conn();
        let raw: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(cart_key(user))
            .query_async(&mut conn)
            .await?;
        Ok(raw
            .into_iter()
            .filter_map(|(product, quantity)| {
                let parsed = product.parse().ok().zip(u32::try_from(quantity).ok());
                if parsed.is_none() {
                    tracing::warn!(%user, product, quantity, "skipping an unreadable cart entry");
                }
                parsed.filter(|(_, q)| *q > 0)
            })
            .collect())
    }

    /// Drops lines of products the catalog no longer has.
    pub async fn drop_products(
        &self,
        user: UserId,
        products: &[ProductId],
    ) -> Result<(), StoreError> {
        if products.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.conn();
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(cart_key(user));
        for product in products {
            cmd.arg(product.to_string());
        }
        let _: i64 = cmd.query_async(&mut conn).await?;
        Ok(())
    }

    pub async fn clear(&self, user: UserId) -> Result<(), StoreError> {
        let mut conn = self.redis.conn();
        let _: i64 = redis::cmd("DEL")
            .arg(cart_key(user))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}
