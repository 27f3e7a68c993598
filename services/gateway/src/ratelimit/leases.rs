//! The rate limiter's in-process admissions: tokens a replica took from Redis ahead of time for
//! one client (its IP, and its user when it sent a token) and spends without calling Redis. The
//! script charged every leased token to the keys when it granted them, exactly as if that many
//! requests had come at once, so the replicas together still spend no more than Redis granted.
//! A client has at most one lease per replica, and at most one call for a lease in flight (the
//! [`Claim`]; requests that meet a claim ask Redis for their own token alone), which bounds
//! what the replicas may spend beyond the limit (see the parent module); a lease ends after
//! [`super::LEASE_LIFE`] and its unspent tokens are dropped.
//! The table holds at most `capacity` clients; when full it drops the ended leases (at most once
//! per [`SWEEP_EVERY`]) and otherwise stores nothing new, which costs Redis calls, never limits.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use storefront_common::ids::UserId;

use super::denials::SWEEP_EVERY;
use super::{Decision, Tier, whole_seconds};

/// The client a lease was charged to: the same IP with another user (or none) was charged
/// differently and has a lease of its own.
pub type Client = (IpAddr, Option<UserId>);

/// Tokens taken from Redis for one client and not spent yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub tokens: u32,
    /// After this the unspent tokens are dropped.
    pub until: Instant,
    /// What Redis reported when it granted them, for the `RateLimit-*` headers.
    pub limit: u64,
    pub remaining: u64,
    pub full_at: Instant,
}

struct Table {
    entries: HashMap<Client, Lease>,
    /// Clients for whom a call for a lease is in flight.
    claimed: HashSet<Client>,
    next_sweep: Instant,
}

/// The right to ask Redis for a lease for one client; given back when dropped.
pub struct Claim<'a> {
    leases: &'a Leases,
    client: Client,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.leases.table().claimed.remove(&self.client);
    }
}

pub struct Leases {
    capacity: usize,
    /// Entries held, kept under the lock; lets the common case, no lease at all, skip it.
    len: AtomicUsize,
    table: Mutex<Table>,
}

impl Leases {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            len: AtomicUsize::new(0),
            table: Mutex::new(Table {
                entries: HashMap::new(),
                claimed: HashSet::new(),
                next_sweep: Instant::now(),
            }),
        }
    }

    /// Clients held, ended leases not yet dropped included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every change is one map operation, so a panic elsewhere cannot leave it half-updated.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spends one of the client's tokens: the admission, or `None` when it has no live token.
    pub fn spend(&self, client: Client, now: Instant) -> Option<Decision> {
        if self.len() == 0 {
            return None;
        }
        let mut table = self.table();
        let lease = table.entries.get_mut(&client)?;
        if now >= lease.until || lease.tokens == 0 {
            table.entries.remove(&client);
            self.len.store(table.entries.len(), Ordering::Relaxed);
            return None;
        }
        lease.tokens -= 1;
        let left = lease.tokens;
        let decision = Decision {
            allowed: true,
            limit: lease.limit,
            // The client's own unspent tokens are still its to use.
            remaining: lease.remaining + u64::from(left),
            reset_secs: whole_seconds(lease.full_at.saturating_duration_since(now)),
            retry_after_secs: 0,
            tier: Tier::Local,
        };
        if left == 0 {
            table.entries.remove(&client);
            self.len.store(table.entries.len(), Ordering::Relaxed);
        }
        Some(decision)
    }

    /// The right to ask for a lease for `client`, unless another call holds it: without it the
    /// caller asks for one token, so that two leases granted at once never replace each other's
    /// unspent tokens.
    pub fn claim(&self, client: Client) -> Option<Claim<'_>> {
        // The claim is made only once the lock is given back: dropping one releases it.
        let claimed = self.table().claimed.insert(client);
        claimed.then(|| Claim {
            leases: self,
            client,
        })
    }

    /// Keeps `lease` for `client`, replacing what it had (whose tokens are the older grant).
    pub fn store(&self, client: Client, lease: Lease, now: Instant) {
        if lease.tokens == 0 || now >= lease.until {
            return;
        }
        let mut table = self.table();
        if table.entries.len() >= self.capacity && !table.entries.contains_key(&client) {
            if now < table.next_sweep {
                return;
            }
            table.entries.retain(|_, l| now < l.until && l.tokens > 0);
            table.next_sweep = now + SWEEP_EVERY;
            if table.entries.len() >= self.capacity {
                self.len.store(table.entries.len(), Ordering::Relaxed);
                return;
            }
        }
        table.entries.insert(client, lease);
        self.len.store(table.entries.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn client(n: u32) -> Client {
        (IpAddr::from(n.to_be_bytes()), None)
    }

    fn lease(now: Instant, tokens: u32, for_ms: u64) -> Lease {
        Lease {
            tokens,
            until: now + Duration::from_millis(for_ms),
            limit: 40,
            remaining: 10,
            full_at: now + Duration::from_millis(2500),
        }
    }

    #[test]
    fn a_lease_admits_exactly_its_tokens_then_the_client_goes_back_to_redis() {
        let leases = Leases::new(16);
        let now = Instant::now();
        leases.store(client(1), lease(now, 3, 1000), now);
        let mut remaining = Vec::new();
        while let Some(decision) = leases.spend(client(1), now) {
            assert!(decision.allowed);
            assert_eq!(decision.tier, Tier::Local);
            assert_eq!((decision.limit, decision.reset_secs), (40, 3));
            remaining.push(decision.remaining);
        }
        assert_eq!(
            remaining,
            [12, 11, 10],
            "Redis's remaining plus the tokens left"
        );
        assert_eq!(leases.len(), 0, "the spent lease is gone");
        assert!(
            leases.spend(client(2), now).is_none(),
            "another client has none"
        );
    }

    #[test]
    fn one_call_for_a_lease_at_a_time_per_client() {
        let leases = Leases::new(16);
        let first = leases.claim(client(1)).unwrap();
        assert!(leases.claim(client(1)).is_none(), "already claimed");
        assert!(leases.claim(client(2)).is_some(), "another client's own");
        drop(first);
        assert!(leases.claim(client(1)).is_some(), "given back when dropped");
    }

    #[test]
    fn an_ended_lease_admits_nothing() {
        let leases = Leases::new(16);
        let now = Instant::now();
        leases.store(client(1), lease(now, 5, 10), now);
        assert!(
            leases
                .spend(client(1), now + Duration::from_millis(9))
                .is_some()
        );
        assert!(
            leases
                .spend(client(1), now + Duration::from_millis(10))
                .is_none()
        );
        assert_eq!(leases.len(), 0);
    }

    #[test]
    fn a_lease_belongs_to_the_ip_and_user_it_was_charged_to() {
        let leases = Leases::new(16);
        let now = Instant::now();
        let ip = IpAddr::from([10, 0, 0, 1]);
        let user = UserId::new();
        leases.store((ip, Some(user)), lease(now, 2, 1000), now);
        assert!(leases.spend((ip, None), now).is_none());
        assert!(leases.spend((ip, Some(UserId::new())), now).is_none());
        assert!(leases.spend((ip, Some(user)), now).is_some());
    }

    #[test]
    fn a_full_table_drops_ended_leases_and_otherwise_stores_nothing_new() {
        let leases = Leases::new(2);
        let now = Instant::now();
        leases.store(client(1), lease(now, 5, 10), now);
        leases.store(client(2), lease(now, 5, 10_000), now);
        leases.store(client(3), lease(now, 5, 10_000), now);
        assert_eq!(leases.len(), 2);
        assert!(leases.spend(client(3), now).is_none(), "full: not stored");
        let later = now + SWEEP_EVERY;
        leases.store(client(3), lease(later, 5, 10_000), later);
        assert!(
            leases.spend(client(3), later).is_some(),
            "client 1 was swept"
        );
        assert!(leases.spend(client(2), later).is_some());
    }
}
