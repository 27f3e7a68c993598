//! Canary analysis: Istio's request metrics of the canary, read through `MetricsSource`, judged
//! against the thresholds of `rollout.analysis`.
//!
//! Decided up front: fewer requests than `minRequests` in an interval (or metrics that cannot
//! be read) HOLD the step instead of failing it; the machine rolls back with "no traffic" only
//! once the step has held longer than `progressDeadline`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::build::validate::{CanarySettings, NOT_TRAFFIC};
use crate::crd::{AnalysisResult, AnalysisStatus};

/// Whose figures the analysis reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsOrigin {
    /// The canary's sidecars (`istio_requests_total`, `reporter="destination"`).
    Istio,
    /// Without the mesh: the canary pods' own metrics (`http_requests_total`,
    /// `http_request_duration_seconds`, which every service exports), by pod name, as
    /// Prometheus' pod discovery labels them (`namespace`, `pod`). Probes and scrapes are left
    /// out, or the kubelet alone would make up `minRequests`.
    Service,
}

/// Which requests to measure: those the canary received in the last `window`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanaryQuery {
    pub prometheus_url: String,
    pub namespace: String,
    /// Kubernetes Service names (Istio's `destination_service_name`), as a regex: the
    /// service's, and for a blue/green preview also its preview Service's.
    pub service: String,
    /// Canary version (Istio's `destination_version`, from `app.kubernetes.io/version`).
    pub version: String,
    /// The canary Deployment (Istio's `destination_workload`): what tells canary requests from
    /// stable ones when both run the same version under different images.
    pub workload: String,
    pub window: Duration,
    /// `rollout.analysis.metrics` as (name, PromQL with its placeholders filled in).
    pub custom: Vec<(String, String)>,
    /// The business checks as (name, PromQL over the canary pods, over the stable pods).
    pub business: Vec<(String, String, String)>,
    pub origin: MetricsOrigin,
}

/// Figures of the canary over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CanaryMetrics {
    pub requests: f64,
    /// Responses with a 5xx code.
    pub errors: f64,
    /// 99th percentile latency in milliseconds; `None` without samples.
    pub p99_ms: Option<f64>,
    /// Each custom query's first sample, by name; `None` for an empty result.
    pub custom: Vec<(String, Option<f64>)>,
    /// Each business check's figure on the canary and on the stable pods, by name.
    pub business: Vec<(String, Option<f64>, Option<f64>)>,
}

/// Why metrics could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum MetricsError {
    #[error(
        "Prometheus at {url} did not answer within {timeout:?}; check rollout.analysis.prometheusUrl"
    )]
    Timeout { url: String, timeout: Duration },
    #[error("Prometheus at {url} is unreachable: {message}; check rollout.analysis.prometheusUrl")]
    Unreachable { url: String, message: String },
    #[error("Prometheus at {url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("Prometheus at {url} answered something that is not a query result: {message}")]
    Malformed { url: String, message: String },
}

/// Where canary metrics come from.
#[async_trait]
pub trait MetricsSource: Send + Sync {
    async fn canary_metrics(&self, query: &CanaryQuery) -> Result<CanaryMetrics, MetricsError>;
}

/// What an analysis concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Passed,
    /// A check failed; the message names it and the figures.
    Failed(String),
    /// Too little traffic or no metrics; the message says which.
    Held(String),
}

/// Judge the canary's figures (or the error reading them) against its settings.
pub fn evaluate(
    result: &Result<CanaryMetrics, MetricsError>,
    settings: &CanarySettings,
    now: &Time,
) -> (Verdict, AnalysisStatus) {
    let m = match result {
        Ok(m) => m,
        Err(e) => {
            let status = AnalysisStatus {
                time: now.clone(),
                result: AnalysisResult::Error,
                requests: None,
                success_rate: None,
                p99_latency_ms: None,
                metrics: BTreeMap::new(),
            };
            return (Verdict::Held(format!("metrics unavailable ({e})")), status);
        }
    };
    let success = if m.requests > 0.0 {
        Some(round2((m.requests - m.errors) / m.requests * 100.0))
    } else {
        None
    };
    let mut status = AnalysisStatus {
        time: now.clone(),
        result: AnalysisResult::Passed, // set from the verdict below
        requests: Some(round2(m.requests)),
        success_rate: success,
        p99_latency_ms: m.p99_ms.map(round2),
        metrics: m
            .custom
            .iter()
            .filter_map(|(name, value)| Some((name.clone(), round4((*value)?))))
            .chain(m.business.iter().flat_map(|(name, canary, stable)| {
                [
                    canary.map(|v| (name.clone(), round4(v))),
                    stable.map(|v| (format!("{name}.stable"), round4(v))),
                ]
                .into_iter()
                .flatten()
            }))
            .collect(),
    };
    let verdict = if m.requests < settings.min_requests {
        Verdict::Held(format!(
            "{} requests in the interval, fewer than minRequests {}",
            round2(m.requests),
            settings.min_requests
        ))
    } else if let Some(rate) = success.filter(|r| *r < settings.min_success_rate) {
        Verdict::Failed(format!(
            "success rate {rate}% below minSuccessRate {}% ({} of {} requests failed)",
            settings.min_success_rate,
            round2(m.errors),
            round2(m.requests)
        ))
    } else if let Some(p99) = m.p99_ms.filter(|p| *p > settings.max_p99_latency_ms) {
        Verdict::Failed(format!(
            "p99 latency {}ms above maxP99Latency {}ms",
            round2(p99),
            settings.max_p99_latency_ms
        ))
    } else {
        match custom_verdict(m, settings) {
            Verdict::Passed => business_verdict(m, settings),
            other => other,
        }
    };
    status.result = match verdict {
        Verdict::Passed => AnalysisResult::Passed,
        Verdict::Failed(_) => AnalysisResult::Failed,
        Verdict::Held(_) => AnalysisResult::Held,
    };
    (verdict, status)
}

/// The analysis with the Rollout hooks' answer: a refusal fails the check whatever the metrics
/// said (a load or smoke test that fails is a failed check, even with too little traffic).
pub fn with_hooks(
    judged: (Verdict, AnalysisStatus),
    hooks: Option<Result<(), String>>,
) -> (Verdict, AnalysisStatus) {
    match hooks {
        Some(Err(reason)) => {
            let (_, mut status) = judged;
            status.result = AnalysisResult::Failed;
            (Verdict::Failed(format!("Rollout {reason}")), status)
        }
        _ => judged,
    }
}

/// The business checks, canary against stable: the first that fails fails the analysis; one
/// without figures on both tracks decides nothing (business events can be rare, and a quiet
/// interval is not the canary's fault).
fn business_verdict(m: &CanaryMetrics, settings: &CanarySettings) -> Verdict {
    for check in &settings.business {
        let figures = m.business.iter().find(|(name, _, _)| name == check.name);
        if let Some((_, Some(canary), Some(stable))) = figures
            && let Some(reason) = check.judge(*canary, *stable)
        {
            return Verdict::Failed(reason);
        }
    }
    Verdict::Passed
}

/// The custom checks, in the order of the spec: the first out of bounds fails the analysis;
/// otherwise one without data holds it.
fn custom_verdict(m: &CanaryMetrics, settings: &CanarySettings) -> Verdict {
    let mut empty = None;
    for check in &settings.metrics {
        let value = m
            .custom
            .iter()
            .find(|(name, _)| *name == check.name)
            .and_then(|(_, v)| *v);
        let Some(value) = value else {
            empty.get_or_insert_with(|| check.name.clone());
            continue;
        };
        let shown = round4(value);
        if let Some(min) = check.min.filter(|min| value < *min) {
            return Verdict::Failed(format!("metric {} = {shown} below min {min}", check.name));
        }
        if let Some(max) = check.max.filter(|max| value > *max) {
            return Verdict::Failed(format!("metric {} = {shown} above max {max}", check.name));
        }
    }
    match empty {
        Some(name) => Verdict::Held(format!("metric {name}: the query returned no data")),
        None => Verdict::Passed,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// An analysis window as a PromQL range, in whole seconds (at least 1s).
pub fn range(window: Duration) -> String {
    format!("{}s", window.as_secs().max(1))
}

/// The PromQL of each figure.
pub fn promql(q: &CanaryQuery) -> [String; 3] {
    let window = range(q.window);
    if q.origin == MetricsOrigin::Service {
        let selector = format!(
            "namespace=\"{}\",pod=~\"{}-.*\",route!~\"{NOT_TRAFFIC}\"",
            q.namespace, q.workload
        );
        return [
            format!("sum(increase(http_requests_total{{{selector}}}[{window}]))"),
            format!("sum(increase(http_requests_total{{{selector},status=~\"5..\"}}[{window}]))"),
            format!(
                "1000 * histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}[{window}])))"
            ),
        ];
    }
    let selector = format!(
        "reporter=\"destination\",destination_service_namespace=\"{}\",destination_service_name=~\"{}\",destination_workload=\"{}\",destination_version=\"{}\"",
        q.namespace, q.service, q.workload, q.version
    );
    [
        format!("sum(increase(istio_requests_total{{{selector}}}[{window}]))"),
        format!(
            "sum(increase(istio_requests_total{{{selector},response_code=~\"5..\"}}[{window}]))"
        ),
        format!(
            "histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{{{selector}}}[{window}])))"
        ),
    ]
}

/// `MetricsSource` over Prometheus' HTTP query API (`/api/v1/query`).
pub struct Prometheus {
    client: reqwest::Client,
    timeout: Duration,
}

impl Prometheus {
    pub fn new(timeout: Duration) -> Self {
        Self {
            client: reqwest::Client::new(),
            timeout,
        }
    }

    /// The first sample of an instant query; `None` for an empty result or NaN.
    async fn scalar(&self, base: &str, query: &str) -> Result<Option<f64>, MetricsError> {
        let url = format!("{}/api/v1/query", base.trim_end_matches('/'));
        let response = self
            .client
            .get(&url)
            .query(&[("query", query)])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    MetricsError::Timeout {
                        url: base.to_owned(),
                        timeout: self.timeout,
                    }
                } else {
                    MetricsError::Unreachable {
                        url: base.to_owned(),
                        message: e.to_string(),
                    }
                }
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| MetricsError::Unreachable {
                url: base.to_owned(),
                message: e.to_string(),
            })?;
        if !status.is_success() {
            return Err(MetricsError::Status {
                url: base.to_owned(),
                status: status.as_u16(),
                body: body.chars().take(200).collect(),
            });
        }
        parse_instant(&body).map_err(|message| MetricsError::Malformed {
            url: base.to_owned(),
            message,
        })
    }
}

/// The value of the first sample of an instant-query answer.
pub fn parse_instant(body: &str) -> Result<Option<f64>, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if v["status"] != "success" {
        return Err(format!("status {}", v["status"]));
    }
    let result = v["data"]["result"]
        .as_array()
        .ok_or_else(|| "no data.result array".to_owned())?;
    let Some(first) = result.first() else {
        return Ok(None);
    };
    let text = first["value"][1]
        .as_str()
        .ok_or_else(|| "sample without a value".to_owned())?;
    let x: f64 = text.parse().map_err(|_| format!("value `{text}`"))?;
    Ok(x.is_finite().then_some(x))
}

#[async_trait]
impl MetricsSource for Prometheus {
    async fn canary_metrics(&self, query: &CanaryQuery) -> Result<CanaryMetrics, MetricsError> {
        let [requests, errors, p99] = promql(query);
        let base = &query.prometheus_url;
        let mut custom = Vec::with_capacity(query.custom.len());
        for (name, promql) in &query.custom {
            custom.push((name.clone(), self.scalar(base, promql).await?));
        }
        let mut business = Vec::with_capacity(query.business.len());
        for (name, canary, stable) in &query.business {
            business.push((
                name.clone(),
                self.scalar(base, canary).await?,
                self.scalar(base, stable).await?,
            ));
        }
        Ok(CanaryMetrics {
            requests: self.scalar(base, &requests).await?.unwrap_or(0.0),
            errors: self.scalar(base, &errors).await?.unwrap_or(0.0),
            p99_ms: self.scalar(base, &p99).await?,
            custom,
            business,
        })
    }
}

/// A scripted `MetricsSource` for tests: answers in order, then repeats the last answer.
#[derive(Default)]
pub struct ScriptedMetrics {
    pub answers: std::sync::Mutex<std::collections::VecDeque<Result<CanaryMetrics, MetricsError>>>,
    pub queries: std::sync::Mutex<Vec<CanaryQuery>>,
}

impl ScriptedMetrics {
    pub fn new(answers: Vec<Result<CanaryMetrics, MetricsError>>) -> Self {
        Self {
            answers: std::sync::Mutex::new(answers.into()),
            queries: std::sync::Mutex::default(),
        }
    }
}

#[async_trait]
impl MetricsSource for ScriptedMetrics {
    async fn canary_metrics(&self, query: &CanaryQuery) -> Result<CanaryMetrics, MetricsError> {
        if let Ok(mut q) = self.queries.lock() {
            q.push(query.clone());
        }
        let mut answers = match self.answers.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        let answer = if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        };
        answer.unwrap_or(Ok(CanaryMetrics::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_answers() {
        let ok = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.7e9,"123.5"]}]}}"#;
        assert_eq!(parse_instant(ok), Ok(Some(123.5)));
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(parse_instant(empty), Ok(None));
        let nan = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}"#;
        assert_eq!(parse_instant(nan), Ok(None));
        assert!(parse_instant(r#"{"status":"error","error":"bad"}"#).is_err());
        assert!(parse_instant("<html>").is_err());
    }

    #[test]
    fn queries_name_the_destination_service_canary_workload_and_version() {
        let q = CanaryQuery {
            prometheus_url: "http://p:9090".into(),
            namespace: "shop".into(),
            service: "shop-catalog".into(),
            version: "0.2.0".into(),
            workload: "shop-catalog-canary".into(),
            window: Duration::from_secs(60),
            custom: Vec::new(),
            business: Vec::new(),
            origin: MetricsOrigin::Istio,
        };
        let [requests, errors, p99] = promql(&q);
        assert!(requests.contains("destination_service_name=~\"shop-catalog\""));
        for query in [&requests, &errors, &p99] {
            assert!(
                query.contains("destination_workload=\"shop-catalog-canary\""),
                "a same-version stable must not count: {query}"
            );
        }
        assert!(requests.contains("destination_version=\"0.2.0\"") && requests.contains("[60s]"));
        assert!(errors.contains("response_code=~\"5..\""));
        assert!(
            p99.starts_with("histogram_quantile(0.99")
                && p99.contains("istio_request_duration_milliseconds_bucket")
        );
    }

    #[test]
    fn without_the_mesh_queries_read_the_canary_pods_own_metrics_without_probes() {
        let q = CanaryQuery {
            prometheus_url: "http://p:9090".into(),
            namespace: "shop".into(),
            service: "shop-catalog".into(),
            version: "0.2.0".into(),
            workload: "shop-catalog-canary".into(),
            window: Duration::from_secs(30),
            custom: Vec::new(),
            business: Vec::new(),
            origin: MetricsOrigin::Service,
        };
        let [requests, errors, p99] = promql(&q);
        for query in [&requests, &errors, &p99] {
            assert!(
                query.contains("namespace=\"shop\",pod=~\"shop-catalog-canary-.*\"")
                    && query.contains("route!~\"/healthz|/readyz|/metrics\"")
                    && query.contains("[30s]"),
                "{query}"
            );
            assert!(!query.contains("istio"), "{query}");
        }
        assert!(requests.starts_with("sum(increase(http_requests_total{"));
        assert!(errors.contains(",status=~\"5..\"}"));
        assert!(
            p99.starts_with("1000 * histogram_quantile(0.99")
                && p99.contains("http_request_duration_seconds_bucket"),
            "seconds become milliseconds: {p99}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_prometheus_is_a_clear_error() {
        let p = Prometheus::new(Duration::from_millis(500));
        let q = CanaryQuery {
            prometheus_url: "http://127.0.0.1:1".into(),
            namespace: "shop".into(),
            service: "shop-catalog".into(),
            version: "0.2.0".into(),
            workload: "shop-catalog-canary".into(),
            window: Duration::from_secs(60),
            custom: Vec::new(),
            business: Vec::new(),
            origin: MetricsOrigin::Istio,
        };
        let e = p.canary_metrics(&q).await.unwrap_err();
        assert!(e.to_string().contains("prometheusUrl"), "{e}");
    }
}
