//! `rollout.analysis.metrics`: named PromQL queries with a lower and/or upper bound, checked at
//! every analysis beside the built-in success rate and latency.
//!
//! A query is a template: `{{ namespace }}`, `{{ service }}` (the Kubernetes Service),
//! `{{ workload }}` (the canary Deployment), `{{ version }}` (the canary's) and
//! `{{ interval }}` (the analysis interval as a PromQL range, e.g. `60s`). Any other
//! placeholder, or a brace pair left open, is refused when the spec is validated, not at the
//! first analysis.

use std::collections::BTreeSet;

use super::entry_names::check_entry_name;
use crate::crd::MetricCheckSpec;

/// A value a query template can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placeholder {
    Namespace,
    Service,
    Workload,
    Version,
    Interval,
}

impl Placeholder {
    const ALL: [(&'static str, Self); 5] = [
        ("namespace", Self::Namespace),
        ("service", Self::Service),
        ("workload", Self::Workload),
        ("version", Self::Version),
        ("interval", Self::Interval),
    ];
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(Placeholder),
}

/// A parsed query template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryTemplate(Vec<Part>);

/// The values of one analysis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryValues<'a> {
    pub namespace: &'a str,
    pub service: &'a str,
    pub workload: &'a str,
    pub version: &'a str,
    /// Already a PromQL range, e.g. `60s`.
    pub interval: &'a str,
}

impl QueryTemplate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| "a `{{` is not closed by `}}`".to_owned())?;
            let name = after[..close].trim();
            let value = Placeholder::ALL
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    format!(
                        "unknown placeholder `{{{{ {name} }}}}`; use namespace, service, workload, version or interval"
                    )
                })?;
            parts.push(Part::Value(value));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err("a `}}` has no `{{` before it".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self(parts))
    }

    pub fn render(&self, values: &QueryValues<'_>) -> String {
        self.0
            .iter()
            .map(|part| match part {
                Part::Text(t) => t.as_str(),
                Part::Value(Placeholder::Namespace) => values.namespace,
                Part::Value(Placeholder::Service) => values.service,
                Part::Value(Placeholder::Workload) => values.workload,
                Part::Value(Placeholder::Version) => values.version,
                Part::Value(Placeholder::Interval) => values.interval,
            })
            .collect()
    }
}

/// One checked metric.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricCheck {
    pub name: String,
    pub query: QueryTemplate,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Check every `rollout.analysis.metrics` entry; the error says which entry and why.
pub fn metric_checks(specs: &[MetricCheckSpec]) -> Result<Vec<MetricCheck>, String> {
    let mut names = BTreeSet::new();
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let at = format!("metrics[{i}] ({})", spec.name);
            check_entry_name(&at, &spec.name, &mut names)?;
            if spec.query.trim().is_empty() {
                return Err(format!("{at}: query is empty"));
            }
            let query = QueryTemplate::parse(&spec.query).map_err(|e| format!("{at}: {e}"))?;
            match (spec.min, spec.max) {
                (None, None) => return Err(format!("{at}: give min, max or both")),
                (Some(min), Some(max)) if min > max => {
                    return Err(format!("{at}: min {min} is above max {max}"));
                }
                (min, max)
                    if !min.is_none_or(f64::is_finite) || !max.is_none_or(f64::is_finite) =>
                {
                    return Err(format!("{at}: min and max must be finite numbers"));
                }
                _ => {}
            }
            Ok(MetricCheck {
                name: spec.name.clone(),
                query,
                min: spec.min,
                max: spec.max,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, query: &str, min: Option<f64>, max: Option<f64>) -> MetricCheckSpec {
        MetricCheckSpec {
            name: name.into(),
            query: query.into(),
            min,
            max,
        }
    }

    const VALUES: QueryValues<'static> = QueryValues {
        namespace: "shop",
        service: "shop-orders",
        workload: "shop-orders-canary",
        version: "0.2.0",
        interval: "60s",
    };

    #[test]
    fn every_placeholder_renders_with_or_without_spaces() {
        let t = QueryTemplate::parse(
            "sum(rate(x{namespace=\"{{ namespace }}\",pod=~\"{{workload}}-.*\",svc=\"{{ service}}\",v=\"{{version }}\"}[{{ interval }}]))",
        )
        .unwrap();
        assert_eq!(
            t.render(&VALUES),
            "sum(rate(x{namespace=\"shop\",pod=~\"shop-orders-canary-.*\",svc=\"shop-orders\",v=\"0.2.0\"}[60s]))"
        );
        assert_eq!(QueryTemplate::parse("up").unwrap().render(&VALUES), "up");
    }

    #[test]
    fn unknown_or_unbalanced_placeholders_are_refused() {
        let e = QueryTemplate::parse("x{ns=\"{{ namespaces }}\"}").unwrap_err();
        assert!(
            e.contains("`{{ namespaces }}`") && e.contains("use namespace"),
            "{e}"
        );
        assert!(QueryTemplate::parse("x[{{ interval ]").is_err());
        assert!(QueryTemplate::parse("x}}").is_err());
    }

    #[test]
    fn a_check_needs_a_name_a_query_and_a_bound() {
        let ok = metric_checks(&[spec("paid-ratio", "a", Some(0.9), None)]).unwrap();
        assert_eq!((ok[0].min, ok[0].max), (Some(0.9), None));
        for (bad, why) in [
            (spec("Paid", "a", Some(1.0), None), "lowercase"),
            (spec("x", " ", Some(1.0), None), "query is empty"),
            (spec("x", "a", None, None), "give min, max or both"),
            (spec("x", "a", Some(2.0), Some(1.0)), "min 2 is above max 1"),
            (spec("x", "a", Some(f64::NAN), None), "finite"),
            (
                spec("x", "{{ pod }}", Some(1.0), None),
                "unknown placeholder",
            ),
        ] {
            let e = metric_checks(&[bad]).unwrap_err();
            assert!(e.contains(why), "{e}");
            assert!(e.starts_with("metrics[0]"), "{e}");
        }
        let twice = [
            spec("x", "a", Some(1.0), None),
            spec("x", "b", None, Some(2.0)),
        ];
        assert!(
            metric_checks(&twice)
                .unwrap_err()
                .contains("metrics[1] (x): the name is used twice")
        );
    }
}
