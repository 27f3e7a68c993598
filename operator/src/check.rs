//! `storefront-operator check`: the chart's `helm test` probe, run from the operator's own
//! image (FROM scratch: no shell, no curl). It asks a running operator's `/readyz` and, when
//! given a CRD name, whether the API server has established that CRD.
//!
//! Invariant: each check retries until its deadline and then fails with a message that says
//! what was asked and what answered, so a failed `helm test` explains itself in the pod's log.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;

/// Pause between two attempts of a check.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Longest wait for one HTTP answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(
        "GET {url} answered {status} (the operator is not ready: not connected to the API server, or shutting down)"
    )]
    NotReady { url: String, status: u16 },
    #[error(
        "GET {url} failed: {message} (is the operator running and its metrics Service reachable?)"
    )]
    Unreachable { url: String, message: String },
    #[error("CustomResourceDefinition {name}: {message}")]
    Crd { name: String, message: String },
}

/// `url` answers 2xx, retried until `deadline` has passed.
pub async fn ready(url: &str, within: Duration) -> Result<(), CheckError> {
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| unreachable(url, &e))?;
    retry(within, || async {
        match client.get(url).send().await {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => Err(CheckError::NotReady {
                url: url.to_owned(),
                status: answer.status().as_u16(),
            }),
            Err(error) => Err(unreachable(url, &error)),
        }
    })
    .await
}

fn unreachable(url: &str, error: &reqwest::Error) -> CheckError {
    CheckError::Unreachable {
        url: url.to_owned(),
        message: error.to_string(),
    }
}

/// The CRD `name` exists and its `Established` condition is True, retried until `within`.
pub async fn crd_established(
    client: kube::Client,
    name: &str,
    within: Duration,
) -> Result<(), CheckError> {
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    retry(within, || async {
        let crd = crds.get_opt(name).await.map_err(|e| CheckError::Crd {
            name: name.to_owned(),
            message: format!("could not read it: {e}"),
        })?;
        let crd = crd.ok_or_else(|| CheckError::Crd {
            name: name.to_owned(),
            message: "not installed (helm installs it from the chart's crds/ unless --skip-crds)"
                .to_owned(),
        })?;
        if is_established(&crd) {
            Ok(())
        } else {
            Err(CheckError::Crd {
                name: name.to_owned(),
                message: "exists but is not Established yet (the API server does not serve it)"
                    .to_owned(),
            })
        }
    })
    .await
}

/// Whether the API server reports the CRD as served.
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Established" && c.status == "True")
}

/// Runs `attempt` until it succeeds or `within` has passed; the last error is the answer.
async fn retry<F, Fut>(within: Duration, mut attempt: F) -> Result<(), CheckError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), CheckError>>,
{
    let started = Instant::now();
    loop {
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() + RETRY_EVERY > within => return Err(error),
            Err(error) => {
                tracing::info!(%error, "not yet; retrying");
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinitionCondition, CustomResourceDefinitionStatus,
    };

    fn crd(conditions: &[(&str, &str)]) -> CustomResourceDefinition {
        CustomResourceDefinition {
            status: Some(CustomResourceDefinitionStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| CustomResourceDefinitionCondition {
                            type_: (*t).to_owned(),
                            status: (*s).to_owned(),
                            ..CustomResourceDefinitionCondition::default()
                        })
                        .collect(),
                ),
                ..CustomResourceDefinitionStatus::default()
            }),
            ..CustomResourceDefinition::default()
        }
    }

    #[test]
    fn only_an_established_true_condition_counts() {
        assert!(is_established(&crd(&[
            ("NamesAccepted", "True"),
            ("Established", "True")
        ])));
        assert!(!is_established(&crd(&[("Established", "False")])));
        assert!(!is_established(&crd(&[("NamesAccepted", "True")])));
        assert!(!is_established(&CustomResourceDefinition::default()));
    }
}
