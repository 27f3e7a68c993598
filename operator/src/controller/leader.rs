//! Leader election on a `coordination.k8s.io/v1` Lease, so only one operator replica reconciles.
//!
//! The decision (acquire, renew or wait) is a pure function of the Lease and the clock; writes
//! use the Lease's resourceVersion, so two replicas racing for an expired Lease cannot both win
//! (the loser gets a 409 and waits).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};
use tracing::{info, warn};

/// Where and who.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub name: String,
    pub namespace: String,
    pub identity: String,
    /// How long a Lease holds without renewal.
    pub duration: Duration,
    /// How often the holder renews (well below `duration`).
    pub renew_every: Duration,
}

/// Why the Lease could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("lease {namespace}/{name}: {source}")]
pub struct LeaseError {
    name: String,
    namespace: String,
    source: kube::Error,
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

/// Decide from the Lease spec, our identity and the time.
pub fn decide(spec: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
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
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let expired = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .is_none_or(|t| t.0 + SignedDuration::from_secs(seconds) < now);
    if expired {
        Decision::Acquire
    } else {
        Decision::Wait { holder }
    }
}

/// A Lease elector.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
}

impl Elector {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &config.namespace),
            config,
        }
    }

    fn error(&self, source: kube::Error) -> LeaseError {
        LeaseError {
            name: self.config.name.clone(),
            namespace: self.config.namespace.clone(),
            source,
        }
    }

    /// One round: returns whether we hold the Lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaseError> {
        let now = Timestamp::now();
        let current = self
            .api
            .get_opt(&self.config.name)
            .await
            .map_err(|e| self.error(e))?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.config.identity,
            now,
        );
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
                self.api.create(&PostParams::default(), &lease).await
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
                self.api
                    .replace(&self.config.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.error(e)),
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

    /// Renew until a renewal fails for longer than the Lease lasts; then return (leadership lost).
    pub async fn keep(&self) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.config.renew_every).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!("another replica holds the lease");
                    return;
                }
                Err(error) => warn!(%error, "could not renew the lease"),
            }
            if last_renewal.elapsed() > self.config.duration {
                warn!("lease expired without renewal");
                return;
            }
        }
    }

    /// Give the Lease up on shutdown so a standby takes over at once (best effort).
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
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
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            warn!(%error, "could not release the lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        let now = Timestamp::from_second(1_000_000).unwrap();
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(now - SignedDuration::from_secs(renewed_secs_ago))),
            ..LeaseSpec::default()
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_000_000).unwrap()
    }

    #[test]
    fn a_missing_or_released_lease_is_acquired() {
        assert_eq!(decide(None, "me", now()), Decision::Acquire);
        assert_eq!(decide(Some(&lease("", 1)), "me", now()), Decision::Acquire);
    }

    #[test]
    fn our_own_lease_is_renewed() {
        assert_eq!(decide(Some(&lease("me", 1)), "me", now()), Decision::Renew);
    }

    #[test]
    fn a_live_lease_of_another_replica_is_respected_until_it_expires() {
        assert_eq!(
            decide(Some(&lease("other", 5)), "me", now()),
            Decision::Wait {
                holder: "other".into()
            }
        );
        assert_eq!(
            decide(Some(&lease("other", 16)), "me", now()),
            Decision::Acquire
        );
    }
}
