//! Per-client-IP and per-user rate limits with GCRA in Redis. Both keys are checked and updated
//! by ONE Lua script (EVALSHA, falling back to EVAL when Redis lost its script cache), so
//! concurrent gateway replicas never over-admit and a denied request consumes nothing. Time comes
//! from Redis (`TIME`), not from the replicas' clocks.
//!
//! In front of Redis sits an in-process tier ([`denials`]): when the script refuses a key, this
//! replica refuses that key by itself, without calling Redis, until `sent + retry` (`sent`: the
//! replica's monotonic instant taken before the call; `retry`: that key's wait, in microseconds).
//!
//! Tolerance. Redis refuses a key while its time is before `tat - (burst - 1) * interval`, and
//! `tat` only grows (admissions push it; the key expires only after that moment), so a refused
//! key stays refused until then whatever any replica admits meanwhile; the script ran after
//! `sent`, so the local deadline comes no later. The tier never admits: every admission is still
//! Redis's, so replicas together admit no more than before. A local refusal outlives Redis's only
//! when Redis's clock runs faster than the replica's (NTP slews each by at most 500 ppm: 0.1 % of
//! the refusal, 50 µs at 20/s, 60 ms at 1/m), Redis's wall clock steps forward, or Redis loses
//! the key (flush, restart, failover); never by more than the refusal itself, which is at most
//! one emission interval (the last admission left `tat <= now + burst * interval`). It ends
//! earlier than Redis's by the call's trip to Redis, which costs only a call. A flooding key so
//! costs Redis about two calls per interval (the admission it earns, the refusal that follows).
//!
//! Redis down → the request is allowed and a warning logged (fail open): an outage of the limiter
//! must not take the shop down, and each backend still has its own timeouts and the breaker.

mod denials;

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use redis::ErrorKind;
use storefront_common::ids::UserId;
use storefront_common::redis_store::Redis;

use denials::{Denial, Denials};

/// IPs (and, apart, users) the in-process tier remembers at most.
pub const LOCAL_CAPACITY: usize = 16_384;

/// Returns `{allowed, limit, remaining, reset, retry}` for the whole request, then `{retry,
/// full}` per key: how long that key alone is still refused (0 when it is not) and how long until
/// its bucket is full. All durations in microseconds.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local allowed = 1
local remaining, limit, reset, retry = nil, 0, 0, 0
local tats = {}
local per_key = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  local left, full, wait
  if now < allow_at then
    allowed = 0
    left = 0
    full = tat - now
    wait = allow_at - now
    if wait > retry then retry = wait end
  else
    left = math.floor((now - allow_at) / interval)
    full = new_tat - now
    wait = 0
  end
  tats[i] = new_tat
  per_key[2 * i - 1] = wait
  per_key[2 * i] = full
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
local reply = {allowed, limit, remaining, reset, retry}
for _, v in ipairs(per_key) do reply[#reply + 1] = v end
return reply
";

/// Whole seconds for the headers, rounded up.
fn whole_seconds(d: Duration) -> u64 {
    d.as_micros().div_ceil(1_000_000) as u64
}

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

/// Which tier gave a verdict: the in-process table of recent denials, or the script in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Local,
    Redis,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Redis => "redis",
        }
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
    pub tier: Tier,
}

impl Decision {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
    }
}

/// The script's answer about one key.
#[derive(Debug, Clone, Copy)]
struct KeyAnswer {
    retry: Duration,
    full: Duration,
}

impl KeyAnswer {
    /// What the local tier may remember: a refusal from `sent` for as long as Redis said.
    fn denial(self, sent: Instant, limit: Limit) -> Option<Denial> {
        (!self.retry.is_zero()).then(|| Denial {
            until: sent + self.retry,
            full_at: sent + self.full,
            limit: u64::from(limit.burst),
        })
    }
}

struct Answer {
    decision: Decision,
    ip: KeyAnswer,
    user: Option<KeyAnswer>,
}

#[derive(Clone)]
pub struct RateLimiter {
    redis: Redis,
    sha: String,
    per_ip: Limit,
    per_user: Limit,
    /// Redis down can mean calls that hang rather than fail; the limiter waits no longer.
    budget: Duration,
    denials: Arc<Denials>,
}

impl RateLimiter {
    pub fn new(redis: Redis, per_ip: Limit, per_user: Limit, budget: Duration) -> Self {
        Self::with_local_capacity(redis, per_ip, per_user, budget, LOCAL_CAPACITY)
    }

    /// As [`RateLimiter::new`], remembering at most `capacity` denied IPs and as many users.
    pub fn with_local_capacity(
        redis: Redis,
        per_ip: Limit,
        per_user: Limit,
        budget: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            redis,
            budget,
            sha: sha1_smol::Sha1::from(SCRIPT).digest().to_string(),
            per_ip,
            per_user,
            denials: Arc::new(Denials::new(capacity)),
        }
    }

    /// Keys the in-process tier holds (IPs and users; ended entries not yet dropped included).
    pub fn local_entries(&self) -> usize {
        self.denials.len()
    }

    /// Checks and counts one request; `None` when Redis could not answer (fail open).
    pub async fn check(&self, ip: IpAddr, user: Option<UserId>) -> Option<Decision> {
        if let Some(refusal) = self.denials.refusal(ip, user, Instant::now()) {
            return Some(refusal);
        }
        let sent = Instant::now();
        match tokio::time::timeout(self.budget, self.run(ip, user)).await {
            Ok(Ok(answer)) => {
                if !answer.decision.allowed {
                    self.denials.deny(
                        answer.ip.denial(sent, self.per_ip).map(|d| (ip, d)),
                        user.zip(answer.user.and_then(|a| a.denial(sent, self.per_user))),
                        Instant::now(),
                    );
                }
                Some(answer.decision)
            }
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

    async fn run(&self, ip: IpAddr, user: Option<UserId>) -> Result<Answer, redis::RedisError> {
        let ip_key = format!("storefront:gateway:rl:ip:{ip}");
        let user_key = user.map(|user| format!("storefront:gateway:rl:user:{user}"));
        let invoke = |command: &str, first: &str| {
            let mut cmd = redis::cmd(command);
            cmd.arg(first)
                .arg(1 + usize::from(user_key.is_some()))
                .arg(&ip_key);
            if let Some(user_key) = &user_key {
                cmd.arg(user_key);
            }
            cmd.arg(self.per_ip.interval_micros())
                .arg(self.per_ip.burst);
            if user_key.is_some() {
                cmd.arg(self.per_user.interval_micros())
                    .arg(self.per_user.burst);
            }
            cmd
        };
        let mut conn = self.redis.conn();
        let reply: Vec<i64> = match invoke("EVALSHA", &self.sha).query_async(&mut conn).await {
            Err(e) if e.kind() == ErrorKind::NoScriptError => {
                // EVAL also puts the script back into Redis's cache for the next EVALSHA.
                invoke("EVAL", SCRIPT).query_async(&mut conn).await?
            }
            other => other?,
        };
        let field = |i: usize| reply.get(i).copied().unwrap_or(0).max(0) as u64;
        let micros = |i: usize| Duration::from_micros(field(i));
        let key = |i: usize| KeyAnswer {
            retry: micros(5 + 2 * i),
            full: micros(6 + 2 * i),
        };
        let allowed = field(0) == 1;
        Ok(Answer {
            decision: Decision {
                allowed,
                limit: field(1),
                remaining: field(2),
                reset_secs: whole_seconds(micros(3)),
                retry_after_secs: whole_seconds(micros(4)).max(u64::from(!allowed)),
                tier: Tier::Redis,
            },
            ip: key(0),
            user: user_key.is_some().then(|| key(1)),
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
