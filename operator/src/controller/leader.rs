//! Leader election on a `coordination.k8s.io/v1` Lease, so only one operator replica reconciles.
//!
//! As client-go does, expiry is judged by this process's own clock: a Lease is expired when
//! its record (holder, renew time, transitions) has not changed for `duration` since this
//! process first saw it, never by comparing the holder's `renewTime` with the local time (clock
//! skew between nodes would give two leaders). Every call has a timeout, the holder gives up
//! when it has not renewed within `renew_deadline` (shorter than the Lease), and writes carry
//! the Lease's resourceVersion, so two replicas racing for an expired Lease cannot both win.

use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use tracing::{info, warn};

/// Where and who.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// How long a Lease holds without renewal.
    pub duration: Duration,
    /// How often the holder renews, and a standby retries (well below `duration`).
    pub renew_every: Duration,
}

impl LeaseConfig {
    /// The holder stops leading when it has not renewed for this long: two thirds of the
    /// Lease, so it stops before any standby may take over.
    pub fn renew_deadline(&self) -> Duration {
        self.duration.mul_f64(2.0 / 3.0)
    }

    /// The longest one API call may take.
    pub fn call_timeout(&self) -> Duration {
        self.renew_every.max(Duration::from_secs(1))
    }
}

/// Why the Lease could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        name: String,
        namespace: String,
        source: kube::Error,
    },
    #[error("lease {namespace}/{name}: no answer within {timeout:?}")]
    Timeout {
        name: String,
        namespace: String,
        timeout: Duration,
    },
}

/// What to do with the Lease as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody holds it, or the holder let it expire: take it.
    Acquire,
    /// We hold it: renew it.
    Renew,
    /// Someone else holds a live Lease.
    Wait { holder: String },
}

/// The part of a Lease that changes on every renewal.
pub fn record(spec: &LeaseSpec) -> String {
    format!(
        "{}|{:?}|{:?}",
        spec.holder_identity.as_deref().unwrap_or(""),
        spec.renew_time.as_ref().map(|t| t.0),
        spec.lease_transitions
    )
}

/// Decide from the Lease spec, our identity and how long ago this process saw the Lease's
/// record last change (`unchanged_for`).
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, unchanged_for: Duration) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == identity {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::Acquire;
    }
    let seconds = u64::try_from(spec.lease_duration_seconds.unwrap_or(15)).unwrap_or(15);
    if unchanged_for > Duration::from_secs(seconds) {
        Decision::Acquire
    } else {
        Decision::Wait { holder }
    }
}

/// The Lease record this process saw last, and when it first saw it.
struct Observation {
    record: String,
    since: Instant,
}

/// A Lease elector.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Mutex<Option<Observation>>,
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: Mutex::new(None),
        }
    }

    fn error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Api {
            name: self.config.name.clone(),
            namespace: self.config.namespace.clone(),
            source,
        }
    }

    /// Runs one API call with the call timeout.
    async fn timed<T>(
        &self,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, LeaseError> {
        let timeout = self.config.call_timeout();
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(_) => Err(LeaseError::Timeout {
                name: self.config.name.clone(),
                namespace: self.config.namespace.clone(),
                timeout,
            }),
        }
    }

    /// How long the Lease's record has stood unchanged, by this process's clock.
    fn unchanged_for(&self, spec: Option<&LeaseSpec>) -> Duration {
        let record = spec.map(record).unwrap_or_default();
        let Ok(mut observed) = self.observed.lock() else {
            return Duration::ZERO;
        };
        match observed.as_ref() {
            Some(o) if o.record == record => o.since.elapsed(),
            _ => {
                *observed = Some(Observation {
                    record,
                    since: Instant::now(),
                });
                Duration::ZERO
            }
        }
    }

    /// One round: returns whether we hold the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaseError> {
        let now = Timestamp::now();
        let current = self.timed(self.api.get_opt(&self.config.name)).await?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let decision = decide(spec, &self.config.identity, self.unchanged_for(spec));
        let transitions = current
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0);
        let spec = |acquire_time: Option<MicroTime>, transitions: i32| LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.config.duration.as_secs()).unwrap_or(15),
            ),
            acquire_time,
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        };
        let result = match (current, decision) {
            (_, Decision::Wait { .. }) => return Ok(false),
            (None, _) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        namespace: Some(self.config.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec(Some(MicroTime(now)), 0)),
                };
                self.timed(self.api.create(&PostParams::default(), &lease))
                    .await
            }
            (Some(mut lease), decision) => {
                let acquire_time = match decision {
                    Decision::Renew => lease.spec.as_ref().and_then(|s| s.acquire_time.clone()),
                    _ => Some(MicroTime(now)),
                };
                let transitions = match decision {
                    Decision::Renew => transitions,
                    _ => transitions.saturating_add(1),
                };
                lease.spec = Some(spec(acquire_time, transitions));
                // resourceVersion stays set: a concurrent writer makes this a 409.
                self.timed(
                    self.api
                        .replace(&self.config.name, &PostParams::default(), &lease),
                )
                .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(LeaseError::Api {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Wait until we hold the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(identity = %self.config.identity, "acquired leadership");
                    return;
                }
                Ok(false) => {}
                Err(error) => warn!(%error, "leader election"),
            }
            tokio::time::sleep(self.config.renew_every).await;
        }
    }

    /// Renew until another replica holds the Lease or no renewal succeeded within the renew
    /// deadline; then return (leadership lost).
    pub async fn keep(&self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_every).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    warn!("another replica holds the lease");
                    return;
                }
                Err(error) => warn!(%error, "could not renew the lease"),
            }
            if last_renewal.elapsed() > self.config.renew_deadline() {
                warn!(
                    deadline = ?self.config.renew_deadline(),
                    "no renewal within the renew deadline; giving up leadership"
                );
                return;
            }
        }
    }

    /// Give the Lease up on shutdown so a standby takes over at once (best effort).
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.timed(self.api.get_opt(&self.config.name)).await else {
            return;
        };
        let ours = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref())
            == Some(self.config.identity.as_str());
        if !ours {
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = None;
        }
        if let Err(error) = self
            .timed(
                self.api
                    .replace(&self.config.name, &PostParams::default(), &lease),
            )
            .await
        {
            warn!(%error, "could not release the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration;

    fn lease(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        let now = Timestamp::from_second(1_000_000).unwrap();
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
            ..LeaseSpec::default()
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_missing_or_released_lease_is_acquired() {
        assert_eq!(decide(None, "me", S(0)), Decision::Acquire);
        assert_eq!(decide(Some(&lease("", 1)), "me", S(0)), Decision::Acquire);
    }

    #[test]
    fn our_own_lease_is_renewed() {
        assert_eq!(decide(Some(&lease("me", 1)), "me", S(0)), Decision::Renew);
    }

    #[test]
    fn a_live_lease_of_another_replica_is_respected_until_it_stands_still_for_its_duration() {
        let other = Decision::Wait {
            holder: "other".into(),
        };
        assert_eq!(decide(Some(&lease("other", 5)), "me", S(5)), other);
        assert_eq!(
            decide(Some(&lease("other", 5)), "me", S(16)),
            Decision::Acquire
        );
    }

    #[test]
    fn a_holder_whose_clock_is_behind_ours_is_not_taken_over_while_it_renews() {
        // Its renewTime reads an hour old by our clock, but the record just changed.
        let skewed = lease("other", 3600);
        assert_eq!(
            decide(Some(&skewed), "me", S(1)),
            Decision::Wait {
                holder: "other".into()
            }
        );
    }

    #[test]
    fn a_renewal_changes_the_record_so_the_standby_restarts_its_count() {
        let a = lease("other", 10);
        let b = lease("other", 5);
        assert_ne!(record(&a), record(&b));
        assert_eq!(record(&a), record(&a.clone()));
    }

    #[test]
    fn the_holder_gives_up_before_any_standby_may_take_over() {
        let config = LeaseConfig {
            name: "l".into(),
            namespace: "n".into(),
            identity: "me".into(),
            duration: S(15),
            renew_every: S(5),
        };
        assert!(config.renew_deadline() < config.duration);
        assert!(config.call_timeout() < config.renew_deadline());
    }
}
