//! The rate limiter's in-process first tier: the client IPs and users Redis has refused, each
//! until a moment at or before the one Redis gave (see the parent module for why that makes a
//! local refusal one Redis would also give). Entries come only from Redis denials, so this table
//! refuses and never admits. It holds at most `capacity` entries per kind of key: when full it
//! drops the expired ones (at most once per [`SWEEP_EVERY`]) and otherwise stores nothing new,
//! which costs Redis calls, never correctness.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use storefront_common::ids::UserId;

use super::{Decision, Tier, whole_seconds};

/// How often a full table may be swept: a flood of distinct keys must not make every insert
/// walk the whole table.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// One key Redis refused: refused until `until`, its bucket full again at `full_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    pub until: Instant,
    pub full_at: Instant,
    /// The burst of the key's limit, for the `RateLimit-Limit` header.
    pub limit: u64,
}

struct Table<K> {
    entries: HashMap<K, Denial>,
    next_sweep: Instant,
}

impl<K: Hash + Eq> Table<K> {
    fn new(now: Instant) -> Self {
        Self {
            entries: HashMap::new(),
            next_sweep: now,
        }
    }

    /// The key's denial while it lasts; an ended one is dropped on the way.
    fn live(&mut self, key: &K, now: Instant) -> Option<Denial> {
        let denial = *self.entries.get(key)?;
        if now < denial.until {
            return Some(denial);
        }
        self.entries.remove(key);
        None
    }

    fn insert(&mut self, key: K, denial: Denial, now: Instant, capacity: usize) {
        if let Some(known) = self.entries.get_mut(&key) {
            // Redis's deny-until for a key only moves forward, so the later answer is as true.
            if denial.until > known.until {
                *known = denial;
            }
            return;
        }
        if self.entries.len() >= capacity {
            if now < self.next_sweep {
                return;
            }
            self.entries.retain(|_, d| now < d.until);
            self.next_sweep = now + SWEEP_EVERY;
            if self.entries.len() >= capacity {
                return;
            }
        }
        self.entries.insert(key, denial);
    }
}

struct Tables {
    ip: Table<IpAddr>,
    user: Table<UserId>,
}

impl Tables {
    fn len(&self) -> usize {
        self.ip.entries.len() + self.user.entries.len()
    }
}

pub struct Denials {
    capacity: usize,
    /// Entries in both tables, kept under the lock; lets the common case, nobody refused, skip it.
    len: AtomicUsize,
    tables: Mutex<Tables>,
}

impl Denials {
    /// A table of at most `capacity` IPs and `capacity` users.
    pub fn new(capacity: usize) -> Self {
        let now = Instant::now();
        Self {
            capacity,
            len: AtomicUsize::new(0),
            tables: Mutex::new(Tables {
                ip: Table::new(now),
                user: Table::new(now),
            }),
        }
    }

    /// Entries held, ended ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // Every change to the tables is one map operation, so a panic elsewhere cannot have
        // left them half-updated.
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The refusal Redis would give now, when either key is still denied. Like the script, the
    /// headers describe the IP's limit when both are refused and Retry-After waits for both.
    pub fn refusal(&self, ip: IpAddr, user: Option<UserId>, now: Instant) -> Option<Decision> {
        if self.len() == 0 {
            return None;
        }
        let mut tables = self.tables();
        let ip_denial = tables.ip.live(&ip, now);
        let user_denial = user.and_then(|user| tables.user.live(&user, now));
        self.len.store(tables.len(), Ordering::Relaxed);
        drop(tables);
        let shown = ip_denial.or(user_denial)?;
        let until = ip_denial
            .into_iter()
            .chain(user_denial)
            .map(|d| d.until)
            .max()
            .unwrap_or(shown.until);
        Some(Decision {
            allowed: false,
            limit: shown.limit,
            remaining: 0,
            reset_secs: whole_seconds(shown.full_at.saturating_duration_since(now)),
            retry_after_secs: whole_seconds(until.saturating_duration_since(now)).max(1),
            tier: Tier::Local,
        })
    }

    pub fn deny(&self, ip: Option<(IpAddr, Denial)>, user: Option<(UserId, Denial)>, now: Instant) {
        if ip.is_none() && user.is_none() {
            return;
        }
        let mut tables = self.tables();
        if let Some((key, denial)) = ip {
            tables.ip.insert(key, denial, now, self.capacity);
        }
        if let Some((key, denial)) = user {
            tables.user.insert(key, denial, now, self.capacity);
        }
        self.len.store(tables.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    fn denial(now: Instant, for_ms: u64) -> Denial {
        Denial {
            until: now + Duration::from_millis(for_ms),
            full_at: now + Duration::from_millis(2 * for_ms),
            limit: 5,
        }
    }

    #[test]
    fn a_denied_ip_is_refused_until_its_deadline_and_then_forgotten() {
        let denials = Denials::new(16);
        let now = Instant::now();
        denials.deny(Some((ip(1), denial(now, 1500))), None, now);
        let refusal = denials.refusal(ip(1), None, now).unwrap();
        assert!(!refusal.allowed);
        assert_eq!(refusal.tier, Tier::Local);
        assert_eq!((refusal.limit, refusal.remaining), (5, 0));
        assert_eq!(refusal.retry_after_secs, 2, "1.5 s rounds up");
        assert_eq!(refusal.reset_secs, 3);
        assert!(denials.refusal(ip(2), None, now).is_none());
        let later = now + Duration::from_millis(1500);
        assert!(denials.refusal(ip(1), None, later).is_none());
        assert_eq!(denials.len(), 0, "the ended entry was dropped");
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        let denials = Denials::new(16);
        let now = Instant::now();
        denials.deny(Some((ip(1), denial(now, 3))), None, now);
        assert_eq!(
            denials.refusal(ip(1), None, now).unwrap().retry_after_secs,
            1
        );
    }

    #[test]
    fn a_denied_user_is_refused_from_any_ip_and_retry_waits_for_both_keys() {
        let denials = Denials::new(16);
        let now = Instant::now();
        let user = UserId::new();
        let mut user_denial = denial(now, 4200);
        user_denial.limit = 9;
        denials.deny(None, Some((user, user_denial)), now);
        let refusal = denials.refusal(ip(7), Some(user), now).unwrap();
        assert_eq!((refusal.limit, refusal.retry_after_secs), (9, 5));
        assert!(denials.refusal(ip(7), None, now).is_none());
        assert!(denials.refusal(ip(7), Some(UserId::new()), now).is_none());

        denials.deny(Some((ip(7), denial(now, 1000))), None, now);
        let both = denials.refusal(ip(7), Some(user), now).unwrap();
        assert_eq!(both.limit, 5, "the IP's limit is shown, as the script does");
        assert_eq!(
            both.retry_after_secs, 5,
            "but the client must wait for both"
        );
    }

    #[test]
    fn an_earlier_deadline_never_shortens_a_later_one() {
        let denials = Denials::new(16);
        let now = Instant::now();
        denials.deny(Some((ip(1), denial(now, 3000))), None, now);
        denials.deny(Some((ip(1), denial(now, 1000))), None, now);
        let at = now + Duration::from_millis(2000);
        assert!(denials.refusal(ip(1), None, at).is_some());
    }

    #[test]
    fn a_full_table_sweeps_ended_entries_then_stops_growing() {
        let capacity = 8;
        let denials = Denials::new(capacity);
        let now = Instant::now();
        for n in 0..capacity as u32 {
            denials.deny(Some((ip(n), denial(now, 10))), None, now);
        }
        assert_eq!(denials.len(), capacity);
        // Full, and every entry still live: a new key is not stored.
        denials.deny(Some((ip(100), denial(now, 10))), None, now);
        assert_eq!(denials.len(), capacity);
        assert!(denials.refusal(ip(100), None, now).is_none());
        // Once they have ended, the next insert past the sweep period drops them.
        let later = now + SWEEP_EVERY;
        for n in 100..100 + 3 * capacity as u32 {
            denials.deny(Some((ip(n), denial(later, 10))), None, later);
            assert!(denials.len() <= capacity);
        }
        assert!(denials.refusal(ip(100), None, later).is_some());
    }

    #[test]
    fn a_full_table_sweeps_at_most_once_per_period() {
        let denials = Denials::new(2);
        let now = Instant::now();
        denials.deny(Some((ip(1), denial(now, 10))), None, now);
        denials.deny(Some((ip(2), denial(now, 10_000))), None, now);
        let at = now + Duration::from_millis(20);
        denials.deny(Some((ip(3), denial(at, 1))), None, at);
        assert!(denials.refusal(ip(3), None, at).is_some(), "ip 1 was swept");
        // ip 3 has ended too, but the table swept a moment ago.
        let soon = at + Duration::from_millis(5);
        denials.deny(Some((ip(4), denial(soon, 10_000))), None, soon);
        assert!(denials.refusal(ip(4), None, soon).is_none());
        let next = at + SWEEP_EVERY;
        denials.deny(Some((ip(4), denial(next, 10_000))), None, next);
        assert!(denials.refusal(ip(4), None, next).is_some());
    }
}
