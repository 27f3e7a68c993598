//! Logs and traces. Logs are JSON lines on stdout; every line inside a request carries that
//! request's id, trace id and span id. Traces use OpenTelemetry with W3C `traceparent`: spans are
//! always created (so context propagates through every hop) and exported over OTLP, HTTP or
//! gRPC, plain or TLS, only when an OTLP endpoint is set. The standard `OTEL_*` variables are
//! honoured as the OpenTelemetry specification describes them ([`Settings`]).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithTonicConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{ProcessEnv, Source};

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes spans still buffered.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// How spans reach a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`, the default: POST to `<endpoint>/v1/traces`, or to the traces endpoint
    /// as given.
    HttpProtobuf,
    /// `grpc`: the collector's OTLP gRPC port (4317).
    Grpc,
}

/// Which traces started here are recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Root {
    On,
    Off,
    Ratio(f64),
}

/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerChoice {
    /// Follow the caller's decision (the `traceparent` flag) when there is one.
    pub parent_based: bool,
    pub root: Root,
}

impl SamplerChoice {
    fn to_sdk(self) -> Sampler {
        let root = match self.root {
            Root::On => Sampler::AlwaysOn,
            Root::Off => Sampler::AlwaysOff,
            Root::Ratio(r) => Sampler::TraceIdRatioBased(r),
        };
        if self.parent_based {
            Sampler::ParentBased(Box::new(root))
        } else {
            root
        }
    }
}

/// What the `OTEL_*` environment asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the
    /// binary's own name. The other resource attributes are read by the SDK itself.
    pub service_name: String,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`; `None` (or
    /// `OTEL_TRACES_EXPORTER=none`) exports nothing.
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: Protocol,
    pub sampler: SamplerChoice,
}

const SAMPLERS: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                        parentbased_always_off or parentbased_traceidratio";

impl Settings {
    pub fn from_source(src: &dyn Source, binary: &str) -> Result<Self, TelemetryError> {
        let service_name = src
            .get("OTEL_SERVICE_NAME")
            .or_else(|| {
                src.get("OTEL_RESOURCE_ATTRIBUTES")
                    .and_then(|attrs| resource_attribute(&attrs, "service.name"))
            })
            .unwrap_or_else(|| binary.to_string());
        let exporter = src.get("OTEL_TRACES_EXPORTER");
        let endpoint = match exporter.as_deref() {
            None | Some("otlp") => [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ]
            .into_iter()
            .find_map(|name| src.get(name).map(|value| (name, value))),
            Some("none") => None,
            Some(other) => {
                return Err(TelemetryError::Invalid {
                    name: "OTEL_TRACES_EXPORTER",
                    value: other.to_string(),
                    reason: "this service exports traces with otlp, or not at all (none)".into(),
                });
            }
        };
        if let Some((name, e)) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(TelemetryError::Invalid {
                name,
                value: e.clone(),
                reason: "must start with http:// or https://".into(),
            });
        }
        let endpoint = endpoint.map(|(_, value)| value);
        let (protocol_name, protocol_value) = match src.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
            Some(v) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", Some(v)),
            None => (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                src.get("OTEL_EXPORTER_OTLP_PROTOCOL"),
            ),
        };
        let protocol = match protocol_value.as_deref() {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some(other) => {
                return Err(TelemetryError::Invalid {
                    name: protocol_name,
                    value: other.to_string(),
                    reason: "expected grpc or http/protobuf".into(),
                });
            }
        };
        let sampler = sampler(src, endpoint.is_some())?;
        Ok(Self {
            service_name,
            endpoint,
            protocol,
            sampler,
        })
    }
}

/// Without `OTEL_TRACES_SAMPLER`: the caller's decision (the mesh's samplingPercentage sets the
/// `traceparent` flag) is followed, and traces started here are recorded only when someone
/// receives them: `OTEL_TRACES_SAMPLER_ARG` of them (default all) when exporting, none
/// otherwise. Unrecorded spans still carry ids, so the context propagates either way.
fn sampler(src: &dyn Source, exporting: bool) -> Result<SamplerChoice, TelemetryError> {
    let ratio = || -> Result<f64, TelemetryError> {
        match src.get("OTEL_TRACES_SAMPLER_ARG") {
            None => Ok(1.0),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| TelemetryError::Invalid {
                    name: "OTEL_TRACES_SAMPLER_ARG",
                    value: v,
                    reason: "expected a ratio from 0 to 1, such as 0.25".into(),
                }),
        }
    };
    let choice = |parent_based, root| SamplerChoice { parent_based, root };
    Ok(match src.get("OTEL_TRACES_SAMPLER").as_deref() {
        None if exporting => choice(true, Root::Ratio(ratio()?)),
        None => choice(true, Root::Ratio(0.0)),
        Some("always_on") => choice(false, Root::On),
        Some("always_off") => choice(false, Root::Off),
        Some("traceidratio") => choice(false, Root::Ratio(ratio()?)),
        Some("parentbased_always_on") => choice(true, Root::On),
        Some("parentbased_always_off") => choice(true, Root::Off),
        Some("parentbased_traceidratio") => choice(true, Root::Ratio(ratio()?)),
        Some(other) => {
            return Err(TelemetryError::Invalid {
                name: "OTEL_TRACES_SAMPLER",
                value: other.to_string(),
                reason: format!("expected {SAMPLERS}"),
            });
        }
    })
}

/// One attribute of a `key=value,key=value` list (values percent-encoded, as the spec says).
fn resource_attribute(list: &str, key: &str) -> Option<String> {
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| percent_decode(v.trim()))
        .filter(|v| !v.is_empty())
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match (bytes[i], hex().and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn exporter(
    settings: &Settings,
    endpoint: &str,
) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let built = match settings.protocol {
        Protocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build(),
        Protocol::Grpc => {
            let mut builder = opentelemetry_otlp::SpanExporter::builder().with_tonic();
            if endpoint.starts_with("https://") {
                // The images carry no CA bundle: the roots are compiled in (webpki-roots).
                let tls = opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new()
                    .with_webpki_roots();
                builder = builder.with_tls_config(tls);
            }
            builder.build()
        }
    };
    built.map_err(|e| TelemetryError::Exporter {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })
}

/// Installs the global subscriber and propagator. Safe to call more than once (tests do): later
/// calls keep the first subscriber.
pub fn init(service_name: &str) -> Result<Telemetry, TelemetryError> {
    let settings = Settings::from_source(&ProcessEnv, service_name)?;
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .build();
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(settings.sampler.to_sdk());
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_batch_exporter(exporter(&settings, endpoint)?);
    }
    let provider = builder.build();
    let tracer = provider.tracer(service_name.to_string());
    opentelemetry::global::set_tracer_provider(provider.clone());

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false);
    let _already_set = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
    if let Some(endpoint) = &settings.endpoint {
        tracing::info!(
            service = %settings.service_name,
            endpoint = %endpoint,
            protocol = ?settings.protocol,
            "exporting traces over OTLP"
        );
    }
    Ok(Telemetry { provider })
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "flushing traces at shutdown failed");
        }
    }
}

/// The W3C `traceparent` of the current span, to carry a trace across a message bus; `None`
/// outside any span (or before [`init`]).
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = tracing::Span::current().context();
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace `traceparent` names (a consumer continuing the producer's
/// trace). A missing or malformed value leaves `span` a root.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    use opentelemetry::propagation::TextMapPropagator;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier =
        std::collections::HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}

/// The trace id and span id of `span` as lowercase hex, as logs and Jaeger show them; `None`
/// before [`init`] (no OpenTelemetry layer).
pub fn ids_of(span: &tracing::Span) -> Option<(String, String)> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    ids.is_valid()
        .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, TelemetryError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_source(&env, "orders")
    }

    #[test]
    fn without_otel_settings_nothing_is_exported_and_only_callers_decide() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.service_name, "orders");
        assert_eq!(s.endpoint, None);
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            s.sampler,
            SamplerChoice {
                parent_based: true,
                root: Root::Ratio(0.0)
            }
        );
    }

    #[test]
    fn the_service_name_comes_from_otel_service_name_then_the_resource_attributes() {
        let s = settings(&[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=shop,service.name=orders%2Deu",
        )]);
        assert_eq!(s.unwrap().service_name, "orders-eu");
        let s = settings(&[
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored"),
        ]);
        assert_eq!(s.unwrap().service_name, "checkout");
        let s = settings(&[("OTEL_RESOURCE_ATTRIBUTES", "team=shop")]);
        assert_eq!(s.unwrap().service_name, "orders");
    }

    #[test]
    fn the_traces_endpoint_and_protocol_win_over_the_general_ones() {
        let s = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example:4317",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
        ])
        .unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://traces.example:4317"));
        assert_eq!(s.protocol, Protocol::Grpc);
        assert_eq!(
            s.sampler,
            SamplerChoice {
                parent_based: true,
                root: Root::Ratio(1.0)
            },
            "exporting records every trace started here by default"
        );
        let none = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ]);
        assert_eq!(none.unwrap().endpoint, None);
    }

    #[test]
    fn every_standard_sampler_is_understood() {
        for (name, parent_based, root) in [
            ("always_on", false, Root::On),
            ("always_off", false, Root::Off),
            ("traceidratio", false, Root::Ratio(0.25)),
            ("parentbased_always_on", true, Root::On),
            ("parentbased_always_off", true, Root::Off),
            ("parentbased_traceidratio", true, Root::Ratio(0.25)),
        ] {
            let s = settings(&[
                ("OTEL_TRACES_SAMPLER", name),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ])
            .unwrap();
            assert_eq!(s.sampler, SamplerChoice { parent_based, root }, "{name}");
        }
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_expected() {
        for (pairs, variable) in [
            (
                vec![("OTEL_TRACES_SAMPLER", "sometimes")],
                "OTEL_TRACES_SAMPLER",
            ),
            (
                vec![
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "2"),
                ],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318")],
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ),
            (
                vec![("OTEL_TRACES_EXPORTER", "zipkin")],
                "OTEL_TRACES_EXPORTER",
            ),
        ] {
            let err = settings(&pairs).unwrap_err().to_string();
            assert!(err.contains(variable), "{err}");
        }
    }
}
