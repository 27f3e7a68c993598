//! Validation and defaults of the mesh (`spec.mesh.istio`) and tracing (`spec.tracing.jaeger`).
//!
//! Invariant: a `MeshPlan` holds only checked durations (as Istio duration strings) and known
//! service names; a `TracingPlan` always knows the OTLP/HTTP endpoint the services export to.

use std::collections::BTreeMap;

use super::ValidationError;
use super::service::duration;
use crate::build::component::Component;
use crate::crd::{EcommercePlatform, FaultSpec, JaegerMode, MtlsMode};

/// Default provider name in `meshConfig.extensionProviders` (see `istio/`).
pub const DEFAULT_MESH_PROVIDER: &str = "storefront-jaeger";

/// The Istio ingress entry.
#[derive(Clone, Debug, PartialEq)]
pub struct IngressPlan {
    pub hosts: Vec<String>,
    pub tls_secret_name: Option<String>,
    pub gateway_namespace: String,
    pub gateway_service_account: String,
}

/// Checked, defaulted mesh settings.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshPlan {
    pub mtls: MtlsMode,
    pub ingress: Option<IngressPlan>,
    pub consecutive_5xx_errors: i32,
    pub outlier_interval: String,
    pub base_ejection_time: String,
    pub max_ejection_percent: i32,
    pub retry_attempts: i32,
    pub per_try_timeout: String,
    pub timeout: String,
    /// (requests per second, burst)
    pub rate_limit: Option<(i32, i32)>,
    pub trust_domain: String,
    pub faults: BTreeMap<Component, FaultSpec>,
}

/// Who runs Jaeger.
#[derive(Clone, Debug, PartialEq)]
pub enum JaegerPlan {
    /// The operator runs Jaeger v2 with in-memory storage holding at most `max_traces`.
    Managed {
        max_traces: i32,
    },
    External,
}

/// Trace export settings for the services and the mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct TracingPlan {
    /// OTLP/HTTP endpoint the services export to.
    pub endpoint: Option<String>,
    /// Sampling ratio in 0..=1.
    pub sampling_ratio: f64,
    /// Sampling in percent (Telemetry randomSamplingPercentage).
    pub sampling_percentage: f64,
    pub jaeger: JaegerPlan,
    /// Extension provider the Telemetry resource selects.
    pub mesh_provider: String,
}

pub(super) fn mesh_plan(platform: &EcommercePlatform) -> Result<Option<MeshPlan>, ValidationError> {
    let Some(istio) = platform.spec.mesh.as_ref().and_then(|m| m.istio.as_ref()) else {
        return Ok(None);
    };
    let base = "spec.mesh.istio";
    let text = istio_duration;
    let outlier = istio.outlier_detection.as_ref();
    let interval = duration(
        outlier.and_then(|o| o.interval.as_ref()),
        "10s",
        &format!("{base}.outlierDetection.interval"),
    )?;
    let ejection = duration(
        outlier.and_then(|o| o.base_ejection_time.as_ref()),
        "30s",
        &format!("{base}.outlierDetection.baseEjectionTime"),
    )?;
    let per_try = duration(
        istio
            .retries
            .as_ref()
            .and_then(|r| r.per_try_timeout.as_ref()),
        "2s",
        &format!("{base}.retries.perTryTimeout"),
    )?;
    let timeout = duration(istio.timeout.as_ref(), "15s", &format!("{base}.timeout"))?;
    let mut faults = BTreeMap::new();
    for (name, fault) in &istio.fault_injection {
        let Some(c) = Component::SERVICES.iter().find(|c| c.name() == name) else {
            return Err(ValidationError::UnknownService {
                field: format!("{base}.faultInjection.{name}"),
            });
        };
        duration(
            fault.delay.as_ref(),
            "0s",
            &format!("{base}.faultInjection.{name}.delay"),
        )?;
        faults.insert(*c, fault.clone());
    }
    if istio.ingress.as_ref().is_some_and(|i| i.hosts.is_empty()) {
        return Err(ValidationError::IngressWithoutHosts);
    }
    let ingress = istio.ingress.as_ref().map(|i| IngressPlan {
        hosts: i.hosts.clone(),
        tls_secret_name: i.tls_secret_name.clone(),
        gateway_namespace: i
            .gateway_namespace
            .clone()
            .unwrap_or_else(|| "istio-system".to_owned()),
        gateway_service_account: i
            .gateway_service_account
            .clone()
            .unwrap_or_else(|| "istio-ingressgateway-service-account".to_owned()),
    });
    Ok(Some(MeshPlan {
        mtls: istio.mtls,
        ingress,
        consecutive_5xx_errors: outlier.and_then(|o| o.consecutive5xx_errors).unwrap_or(5),
        outlier_interval: text(interval),
        base_ejection_time: text(ejection),
        max_ejection_percent: outlier.and_then(|o| o.max_ejection_percent).unwrap_or(50),
        retry_attempts: istio.retries.as_ref().and_then(|r| r.attempts).unwrap_or(2),
        per_try_timeout: text(per_try),
        timeout: text(timeout),
        rate_limit: istio.rate_limit.as_ref().map(|r| {
            (
                r.requests_per_second,
                r.burst.unwrap_or(r.requests_per_second),
            )
        }),
        trust_domain: istio
            .trust_domain
            .clone()
            .unwrap_or_else(|| "cluster.local".to_owned()),
        faults,
    }))
}

pub(super) fn tracing_plan(
    platform: &EcommercePlatform,
    instance: &str,
) -> Result<Option<TracingPlan>, ValidationError> {
    let Some(jaeger) = platform
        .spec
        .tracing
        .as_ref()
        .and_then(|t| t.jaeger.as_ref())
    else {
        return Ok(None);
    };
    let (endpoint, plan) = match jaeger.mode {
        JaegerMode::External => match &jaeger.endpoint {
            None => return Err(ValidationError::TracingWithoutEndpoint),
            Some(e) => (e.clone(), JaegerPlan::External),
        },
        JaegerMode::Managed => (
            format!(
                "http://{}:{}",
                crate::build::tracing::collector_service(instance),
                crate::build::tracing::OTLP_HTTP_PORT
            ),
            JaegerPlan::Managed {
                max_traces: jaeger.max_traces.unwrap_or(50_000),
            },
        ),
    };
    let percentage = jaeger.sampling_percentage.unwrap_or(10.0).clamp(0.0, 100.0);
    Ok(Some(TracingPlan {
        endpoint: Some(endpoint),
        sampling_ratio: percentage / 100.0,
        sampling_percentage: percentage,
        jaeger: plan,
        mesh_provider: jaeger
            .mesh_provider
            .clone()
            .unwrap_or_else(|| DEFAULT_MESH_PROVIDER.to_owned()),
    }))
}

/// A duration as Istio writes it: whole seconds as `2s`, anything finer in milliseconds.
pub fn istio_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
