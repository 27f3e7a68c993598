//! Per-client-IP and per-user rate limits with GCRA in Redis. Both keys are checked and updated
//! by ONE Lua script (EVALSHA, falling back to EVAL when Redis lost its script cache), so
//! concurrent gateway replicas never over-admit and a denied request consumes nothing. Time comes
//! from Redis (`TIME`), not from the replicas' clocks.
//!
//! Two in-process tiers sit in front of Redis, so that Redis is asked only near a limit's
//! boundary:
//!
//! * [`leases`]: a busy client takes up to [`lease_size`] tokens in one script call (fewer when
//!   fewer are left) and this replica spends the rest without calling Redis. The script charged
//!   them all at once, as if that many requests had come together, so no replica can spend a
//!   token Redis did not grant.
//! * [`denials`]: when the script refuses a key, this replica refuses that key by itself, without
//!   calling Redis, until `sent + retry` (`sent`: the replica's monotonic instant taken before the
//!   call; `retry`: that key's wait, in microseconds).
//!
//! Tolerance of the leases. GCRA grants at most `burst + rate * T` tokens in any window `T`.
//! Every request admitted in a window spent a token that was either granted inside the window or
//! already held by a replica when it began, and a replica holds at most one lease per client, of
//! at most `lease_size - 1` tokens (one call for a lease per client at a time; the others ask
//! for their own token only). So `R` replicas together admit at most
//! `burst + rate * T + R * (lease_size - 1)` in any window: the excess is a few tokens per
//! replica, [`lease_size`] being an eighth of the burst (at most [`MAX_LEASE`]), and with a burst
//! under 16 nothing is leased and the limit is exact. Leases end after
//! [`LEASE_LIFE`], so the `RateLimit-*` figures they report are never older than that. The other
//! way, a client whose requests land on several replicas may be refused by one while another
//! still holds tokens charged to it, at most one lease per replica.
//!
//! Tolerance of the denials. Redis refuses a key while its time is before
//! `tat - (burst - 1) * interval`, and `tat` only grows (admissions push it; the key expires only
//! after that moment), so a refused key stays refused until then whatever any replica admits
//! meanwhile; the script ran after `sent`, so the local deadline comes no later. The denials tier
//! never admits. A local refusal outlives Redis's only when Redis's clock runs faster than the
//! replica's (NTP slews each by at most 500 ppm: 0.1 % of the refusal, 50 µs at 20/s, 60 ms at
//! 1/m), Redis's wall clock steps forward, or Redis loses the key (flush, restart, failover);
//! never by more than the refusal itself, which is at most one emission interval (the last
//! admission left `tat <= now + burst * interval`). It ends earlier than Redis's by the call's
//! trip to Redis, which costs only a call. A flooding key so costs Redis about two calls per
//! interval (the admission it earns, the refusal that follows).
//!
//! Redis down → the request is allowed and a warning logged (fail open): an outage of the limiter
//! must not take the shop down, and each backend still has its own timeouts and the breaker.

mod denials;
mod leases;

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use redis::ErrorKind;
use storefront_common::ids::UserId;
use storefront_common::redis_store::Redis;

use denials::{Denial, Denials};
use leases::{Lease, Leases};

/// IPs (and, apart, users) the in-process tier remembers at most.
pub const LOCAL_CAPACITY: usize = 16_384;

/// The largest lease: past it a busy client costs Redis one call per this many requests, which is
/// already next to nothing.
pub const MAX_LEASE: u32 = 256;

/// How long leased tokens may wait before they are dropped.
pub const LEASE_LIFE: Duration = Duration::from_secs(1);

/// How many tokens a client takes from Redis at a time under `limit`: an eighth of the burst (so
/// a lease never holds more than a small part of what the client may send at once), at least 1
/// (no lease: every request asks Redis) and at most [`MAX_LEASE`].
pub fn lease_size(limit: Limit) -> u32 {
    (limit.burst / 8).clamp(1, MAX_LEASE)
}

/// Takes up to `ARGV[last]` tokens from every key at once: as many as the scarcest key has, at
/// least one, or none. Returns `{granted, limit, remaining, reset, retry}` for the whole request,
/// then `{retry, full}` per key: how long that key alone is still refused (0 when it is not) and
/// how long until its bucket is full. All durations in microseconds.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local grant = tonumber(ARGV[#ARGV])
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  tats[i] = tat
  local available = math.floor((now - tat) / interval) + burst
  if available < grant then grant = available end
end
if grant < 0 then grant = 0 end
local remaining, limit, reset, retry = nil, 0, 0, 0
local per_key = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tats[i]
  local left, full, wait
  if grant >= 1 then
    local new_tat = tat + grant * interval
    left = math.floor((now - (new_tat - burst * interval)) / interval)
    full = new_tat - now
    wait = 0
    tats[i] = new_tat
  else
    left = 0
    full = tat - now
    wait = tat + interval - burst * interval - now
    if wait < 0 then wait = 0 end
    if wait > retry then retry = wait end
  end
  per_key[2 * i - 1] = wait
  per_key[2 * i] = full
  if remaining == nil or left < remaining then
    remaining = left
    limit = burst
    reset = full
  end
end
if grant >= 1 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  end
end
local reply = {grant, limit, remaining, reset, retry}
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
    /// Tokens Redis charged: the request's own plus those leased to this replica.
    granted: u32,
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
    leases: Arc<Leases>,
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
            leases: Arc::new(Leases::new(capacity)),
        }
    }

    /// Keys the in-process denials hold (IPs and users; ended entries not yet dropped included).
    pub fn local_entries(&self) -> usize {
        self.denials.len()
    }

    /// Clients holding leased tokens (ended leases not yet dropped included).
    pub fn leased_clients(&self) -> usize {
        self.leases.len()
    }

    /// Tokens one script call takes for a request from `ip` (and `user`): the smaller lease of
    /// the keys it is charged to.
    fn lease_for(&self, user: Option<UserId>) -> u32 {
        let ip = lease_size(self.per_ip);
        user.map_or(ip, |_| ip.min(lease_size(self.per_user)))
    }

    /// Checks and counts one request; `None` when Redis could not answer (fail open).
    pub async fn check(&self, ip: IpAddr, user: Option<UserId>) -> Option<Decision> {
        let now = Instant::now();
        if let Some(refusal) = self.denials.refusal(ip, user, now) {
            return Some(refusal);
        }
        if let Some(admission) = self.leases.spend((ip, user), now) {
            return Some(admission);
        }
        let lease = self.lease_for(user);
        // Held to the end of the check, so the lease is stored before another call may ask.
        let claim = (lease > 1).then(|| self.leases.claim((ip, user))).flatten();
        let want = if claim.is_some() { lease } else { 1 };
        let sent = Instant::now();
        match tokio::time::timeout(self.budget, self.run(ip, user, want)).await {
            Ok(Ok(answer)) => {
                if !answer.decision.allowed {
                    self.denials.deny(
                        answer.ip.denial(sent, self.per_ip).map(|d| (ip, d)),
                        user.zip(answer.user.and_then(|a| a.denial(sent, self.per_user))),
                        Instant::now(),
                    );
                } else if answer.granted > 1 {
                    // Timed from before the call, like the denials: the grant happened after.
                    let lease = Lease {
                        tokens: answer.granted - 1,
                        until: sent + LEASE_LIFE,
                        limit: answer.decision.limit,
                        remaining: answer.decision.remaining,
                        full_at: sent + Duration::from_secs(answer.decision.reset_secs),
                    };
                    self.leases.store((ip, user), lease, Instant::now());
                }
                let mut decision = answer.decision;
                // The tokens this replica now holds for the client are still the client's.
                decision.remaining += u64::from(answer.granted.saturating_sub(1));
                Some(decision)
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

    async fn run(
        &self,
        ip: IpAddr,
        user: Option<UserId>,
        want: u32,
    ) -> Result<Answer, redis::RedisError> {
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
            cmd.arg(want);
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
        let granted = u32::try_from(field(0)).unwrap_or(u32::MAX).min(want);
        let allowed = granted >= 1;
        Ok(Answer {
            granted,
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
    fn a_lease_is_an_eighth_of_the_burst_between_one_and_the_cap() {
        let burst = |burst| Limit {
            rate: "20/s".parse().unwrap(),
            burst,
        };
        assert_eq!(lease_size(burst(1)), 1);
        assert_eq!(lease_size(burst(15)), 1);
        assert_eq!(lease_size(burst(40)), 5);
        assert_eq!(lease_size(burst(10_000_000)), MAX_LEASE);
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
