//! Per-client-IP and per-user rate limits with GCRA in Redis. Both keys are checked and updated
//! by ONE Lua script (EVALSHA, falling back to EVAL when Redis lost its script cache), so
//! concurrent gateway replicas never over-admit and a denied request consumes nothing. Time comes
//! from Redis (`TIME`), not from the replicas' clocks.
//!
//! Redis down → the request is allowed and a warning logged (fail open): an outage of the limiter
//! must not take the shop down, and each backend still has its own timeouts and the breaker.

use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use redis::ErrorKind;
use storefront_common::redis_store::Redis;

const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed = 1
local remaining, limit, reset, retry = nil, 0, 0, 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  local left, full
  if now < allow_at then
    allowed = 0
    left = 0
    full = tat - now
    if allow_at - now > retry then retry = allow_at - now end
  else
    left = math.floor((now - allow_at) / interval)
    full = new_tat - now
  end
  tats[i] = new_tat
  if remaining == nil or left < remaining then
    remaining = left
    limit = burst
    reset = full
  end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  end
end
return {allowed, limit, remaining, math.ceil(reset / 1000), math.ceil(retry / 1000)}
";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RateError {
    #[error("expected a rate such as 20/s, 600/m or 1000/h")]
    Format,
    #[error("the rate must be at least 1 per period")]
    Zero,
}

/// A sustained rate, written `N/s`, `N/m` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, unit) = s.trim().split_once('/').ok_or(RateError::Format)?;
        let count: u32 = count.trim().parse().map_err(|_| RateError::Format)?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(RateError::Format),
        };
        if count == 0 {
            return Err(RateError::Zero);
        }
        Ok(Rate { count, per })
    }
}

/// A rate plus how many requests may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub rate: Rate,
    pub burst: u32,
}

impl Limit {
    /// Microseconds between two requests at the sustained rate (the GCRA emission interval).
    fn interval_micros(&self) -> u64 {
        (self.rate.per.as_micros() / u128::from(self.rate.count)).max(1) as u64
    }
}

/// The verdict, with what the `RateLimit-*` headers report (the tighter of the two limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until a denied request may be retried.
    pub retry_after_secs: u64,
}

impl Decision {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

#[derive(Clone)]
pub struct RateLimiter {
    redis: Redis,
    sha: String,
    per_ip: Limit,
    per_user: Limit,
    /// Redis down can mean calls that hang rather than fail; the limiter waits no longer.
    budget: Duration,
}

impl RateLimiter {
    pub fn new(redis: Redis, per_ip: Limit, per_user: Limit, budget: Duration) -> Self {
        Self {
            redis,
            budget,
            sha: sha1_smol::Sha1::from(SCRIPT).digest().to_string(),
            per_ip,
            per_user,
        }
    }

    /// Checks and counts one request; `None` when Redis could not answer (fail open).
    pub async fn check(&self, ip: &str, user: Option<&str>) -> Option<Decision> {
        let mut keys = vec![format!("storefront:gateway:rl:ip:{ip}")];
        let mut args = vec![self.per_ip.interval_micros(), u64::from(self.per_ip.burst)];
        if let Some(user) = user {
            keys.push(format!("storefront:gateway:rl:user:{user}"));
            args.push(self.per_user.interval_micros());
            args.push(u64::from(self.per_user.burst));
        }
        match tokio::time::timeout(self.budget, self.run(&keys, &args)).await {
            Ok(Ok(reply)) => Some(reply),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rate limiter unavailable; allowing the request");
                None
            }
            Err(_) => {
                tracing::warn!("rate limiter did not answer in time; allowing the request");
                None
            }
        }
    }

    async fn run(&self, keys: &[String], args: &[u64]) -> Result<Decision, redis::RedisError> {
        let mut conn = self.redis.conn();
        let invoke = |command: &str, first: &str| {
            let mut cmd = redis::cmd(command);
            cmd.arg(first).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        let reply: Vec<i64> = match invoke("EVALSHA", &self.sha).query_async(&mut conn).await {
            Err(e) if e.kind() == ErrorKind::NoScriptError => {
                // EVAL also puts the script back into Redis's cache for the next EVALSHA.
                invoke("EVAL", SCRIPT).query_async(&mut conn).await?
            }
            other => other?,
        };
        let field = |i: usize| reply.get(i).copied().unwrap_or(0).max(0) as u64;
        Ok(Decision {
            allowed: field(0) == 1,
            limit: field(1),
            remaining: field(2),
            reset_secs: field(3).div_ceil(1000),
            retry_after_secs: field(4).div_ceil(1000).max(u64::from(field(0) != 1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_units() {
        assert_eq!(
            "20/s".parse(),
            Ok(Rate {
                count: 20,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!(
            " 600 / m ".parse::<Rate>().map(|r| r.per),
            Ok(Duration::from_secs(60))
        );
        assert_eq!("20".parse::<Rate>(), Err(RateError::Format));
        assert_eq!("20/d".parse::<Rate>(), Err(RateError::Format));
        assert_eq!("0/s".parse::<Rate>(), Err(RateError::Zero));
    }

    #[test]
    fn interval_is_the_period_divided_by_the_count() {
        let limit = Limit {
            rate: "20/s".parse().unwrap(),
            burst: 40,
        };
        assert_eq!(limit.interval_micros(), 50_000);
    }
}
