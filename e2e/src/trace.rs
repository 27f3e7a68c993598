//! Reads one trace from Jaeger's query API and turns it into service-to-service edges.
//!
//! Istio sidecars report as `<service>.<namespace>`; both they and the services' own spans are
//! reduced to the service name, and a span whose parent is in the same service adds no edge.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// A caller → callee pair seen in a trace.
pub type Edge = (String, String);

fn service_of(process_name: &str) -> &str {
    process_name.split('.').next().unwrap_or(process_name)
}

/// Every caller → callee edge of the first trace in a Jaeger `/api/traces` answer.
pub fn service_edges(answer: &Value) -> BTreeSet<Edge> {
    let Some(trace) = answer.pointer("/data/0") else {
        return BTreeSet::new();
    };
    let processes: HashMap<&str, &str> = trace["processes"]
        .as_object()
        .map(|ps| {
            ps.iter()
                .filter_map(|(id, p)| Some((id.as_str(), p["serviceName"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let spans = trace["spans"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let service_of_span: HashMap<&str, &str> = spans
        .iter()
        .filter_map(|s| {
            let process = processes.get(s["processID"].as_str()?)?;
            Some((s["spanID"].as_str()?, service_of(process)))
        })
        .collect();
    let mut edges = BTreeSet::new();
    for span in spans {
        let Some(child) = span["spanID"]
            .as_str()
            .and_then(|id| service_of_span.get(id))
        else {
            continue;
        };
        let parents = span["references"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for reference in parents.iter().filter(|r| r["refType"] == "CHILD_OF") {
            if let Some(parent) = reference["spanID"]
                .as_str()
                .and_then(|id| service_of_span.get(id))
                && parent != child
            {
                edges.insert(((*parent).to_owned(), (*child).to_owned()));
            }
        }
    }
    edges
}

/// A W3C `traceparent` that asks every hop to sample, and its trace id (32 hex digits).
pub fn sampled_traceparent() -> (String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (format!("00-{trace_id}-{span_id}-01"), trace_id)
}

/// Jaeger's answer for one trace id (`/api/traces/{id}`), or why there is none yet.
pub async fn fetch(
    http: &reqwest::Client,
    jaeger_url: &str,
    trace_id: &str,
) -> anyhow::Result<Value> {
    let url = format!("{}/api/traces/{trace_id}", jaeger_url.trim_end_matches('/'));
    let answer = http.get(&url).send().await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "GET {url}: {}",
        answer.status()
    );
    Ok(answer.json().await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn span(id: &str, process: &str, parent: Option<&str>) -> Value {
        let references = parent
            .map(|p| vec![json!({"refType": "CHILD_OF", "traceID": "t", "spanID": p})])
            .unwrap_or_default();
        json!({"traceID": "t", "spanID": id, "processID": process, "references": references})
    }

    #[test]
    fn a_checkout_trace_has_the_saga_edges() {
        let answer = json!({"data": [{
            "traceID": "t",
            "processes": {
                "p1": {"serviceName": "istio-ingressgateway.istio-system"},
                "p2": {"serviceName": "gateway"},
                "p3": {"serviceName": "gateway.shop"},
                "p4": {"serviceName": "orders"},
                "p5": {"serviceName": "inventory"},
                "p6": {"serviceName": "payments"},
                "p7": {"serviceName": "catalog"}
            },
            "spans": [
                span("a", "p1", None),
                span("b", "p2", Some("a")),
                span("c", "p3", Some("b")),
                span("d", "p4", Some("c")),
                span("e", "p4", Some("d")),
                span("f", "p5", Some("e")),
                span("g", "p6", Some("d")),
                span("h", "p7", Some("d"))
            ]
        }]});
        let edges = service_edges(&answer);
        for (from, to) in [
            ("gateway", "orders"),
            ("orders", "inventory"),
            ("orders", "payments"),
            ("orders", "catalog"),
        ] {
            assert!(
                edges.contains(&(from.into(), to.into())),
                "{from} -> {to} missing from {edges:?}"
            );
        }
        assert!(edges.contains(&("istio-ingressgateway".into(), "gateway".into())));
        assert!(
            !edges.iter().any(|(a, b)| a == b),
            "no self edges: {edges:?}"
        );
    }

    #[test]
    fn an_empty_answer_has_no_edges() {
        assert!(service_edges(&json!({"data": []})).is_empty());
    }

    #[test]
    fn the_traceparent_is_sampled_and_carries_its_trace_id() {
        let (header, id) = sampled_traceparent();
        assert_eq!(id.len(), 32);
        assert!(header.starts_with(&format!("00-{id}-")));
        assert!(header.ends_with("-01"));
        assert_eq!(header.len(), 55);
    }
}
