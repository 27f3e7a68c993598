//! The built-in business checks of a service's canary: figures from the service's own metrics,
//! compared between the canary's pods and the stable pods over the same interval. No other
//! canary tool knows what the application's numbers mean; Storefront wrote the application.
//!
//! Invariants: every figure is a ratio of two counters' increases over the interval, so a
//! canary with a tenth of the pods is compared per request, not per second; a figure without
//! data on either track (nothing to divide by) decides nothing; the table names only metrics
//! the services export (`services/*/src/metrics.rs`, `services/catalog/src/cache.rs`,
//! `services/common/src/metrics.rs`).

use crate::build::component::Component;

/// Routes that are not user traffic (probes, scrapes), left out of request counts.
pub const NOT_TRAFFIC: &str = "/healthz|/readyz|/metrics";

/// How the canary's figure must compare with the stable pods'.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// canary ≥ stable − `by` (a ratio that must not drop).
    NotBelow { by: f64 },
    /// canary ≤ stable + `by` (a ratio that must not rise).
    NotAbove { by: f64 },
    /// canary ≥ stable × `fraction` (a ratio that must not collapse).
    NotUnder { fraction: f64 },
}

/// One business check: `numerator / denominator` of counter increases, per track.
#[derive(Clone, Debug, PartialEq)]
pub struct BusinessCheck {
    /// Name in status and messages.
    pub name: &'static str,
    /// A counter and its label matchers (besides namespace and pod), e.g.
    /// `orders_checkouts_total{outcome="paid"}` as ("orders_checkouts_total", `outcome="paid"`).
    pub numerator: (&'static str, &'static str),
    pub denominator: (&'static str, &'static str),
    /// The numerator is multiplied by this (1000: per thousand requests).
    pub scale: f64,
    pub rule: Rule,
}

const fn check(
    name: &'static str,
    numerator: (&'static str, &'static str),
    denominator: (&'static str, &'static str),
    scale: f64,
    rule: Rule,
) -> BusinessCheck {
    BusinessCheck {
        name,
        numerator,
        denominator,
        scale,
        rule,
    }
}

/// The user requests a service served (its own HTTP metrics, probes and scrapes left out).
const REQUESTS: (&str, &str) = (
    "http_requests_total",
    "route!~\"/healthz|/readyz|/metrics\"",
);

/// The checks of `component`; empty for services whose numbers say nothing beyond success rate
/// and latency.
pub fn business_checks(component: Component) -> Vec<BusinessCheck> {
    match component {
        Component::Orders => vec![
            // Checkouts that end paid among those the card did not decline: a canary that
            // loses orders on the way shows here even when every answer is a 2xx.
            check(
                "paid-ratio",
                ("orders_checkouts_total", "outcome=\"paid\""),
                (
                    "orders_checkouts_total",
                    "outcome!~\"card_declined|insufficient_funds|replayed\"",
                ),
                1.0,
                Rule::NotBelow { by: 0.05 },
            ),
            // Saga steps taken back per checkout.
            check(
                "compensation-ratio",
                ("orders_compensations_total", ""),
                ("orders_checkouts_total", "outcome!=\"replayed\""),
                1.0,
                Rule::NotAbove { by: 0.05 },
            ),
            // Checkouts that ended in an error, the order left pending for the recovery
            // worker, counted on the pod that left it (the resolutions themselves,
            // `orders_recoveries_total`, are counted on whichever pod's worker claimed them).
            check(
                "left-to-recovery-ratio",
                ("orders_checkouts_total", "outcome=\"error\""),
                ("orders_checkouts_total", "outcome!=\"replayed\""),
                1.0,
                Rule::NotAbove { by: 0.02 },
            ),
        ],
        Component::Payments => vec![check(
            "unexpected-error-ratio",
            (
                "http_requests_total",
                "status=~\"5..\",route!~\"/healthz|/readyz|/metrics\"",
            ),
            REQUESTS,
            1.0,
            Rule::NotAbove { by: 0.01 },
        )],
        Component::Catalog => vec![check(
            "cache-hit-ratio",
            ("catalog_cache_lookups_total", "result=\"hit\""),
            ("catalog_cache_lookups_total", ""),
            1.0,
            Rule::NotUnder { fraction: 0.5 },
        )],
        Component::Gateway => vec![
            check(
                "rate-limited-ratio",
                ("gateway_rate_limited_total", ""),
                REQUESTS,
                1.0,
                Rule::NotAbove { by: 0.05 },
            ),
            check(
                "breaker-opens-per-1000",
                ("gateway_breaker_opens_total", ""),
                REQUESTS,
                1000.0,
                Rule::NotAbove { by: 1.0 },
            ),
        ],
        _ => Vec::new(),
    }
}

fn increase((metric, matchers): (&str, &str), namespace: &str, pods: &str, window: &str) -> String {
    let extra = if matchers.is_empty() {
        String::new()
    } else {
        format!(",{matchers}")
    };
    format!("sum(increase({metric}{{namespace=\"{namespace}\",pod=~\"{pods}\"{extra}}}[{window}]))")
}

impl BusinessCheck {
    /// The PromQL of this check for the pods matching `pods` (a regex on the pod name).
    pub fn promql(&self, namespace: &str, pods: &str, window: &str) -> String {
        let numerator = increase(self.numerator, namespace, pods, window);
        let denominator = increase(self.denominator, namespace, pods, window);
        if self.scale == 1.0 {
            format!("{numerator} / {denominator}")
        } else {
            format!("{} * {numerator} / {denominator}", self.scale)
        }
    }

    /// Why the canary's figure fails against the stable pods', or `None` when it passes.
    pub fn judge(&self, canary: f64, stable: f64) -> Option<String> {
        let (name, c, s) = (self.name, round4(canary), round4(stable));
        match self.rule {
            Rule::NotBelow { by } if canary < stable - by => Some(format!(
                "business check {name}: canary {c} below stable {s} by more than {by}"
            )),
            Rule::NotAbove { by } if canary > stable + by => Some(format!(
                "business check {name}: canary {c} above stable {s} by more than {by}"
            )),
            Rule::NotUnder { fraction } if canary < stable * fraction => Some(format!(
                "business check {name}: canary {c} under {fraction} of stable {s}"
            )),
            _ => None,
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Pod names of a Deployment's pods and of no other: `<deployment>-<template hash>-<suffix>`,
/// so `shop-catalog`'s regex does not take `shop-catalog-canary`'s pods.
pub fn pods_of(deployment: &str) -> String {
    format!("{deployment}-[a-z0-9]+-[a-z0-9]+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_counts_leave_out_the_same_routes_as_the_analysis() {
        assert_eq!(REQUESTS.1, format!("route!~\"{NOT_TRAFFIC}\""));
    }

    #[test]
    fn each_service_with_business_numbers_has_checks_and_the_rest_none() {
        let names = |c| {
            business_checks(c)
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Component::Orders),
            ["paid-ratio", "compensation-ratio", "left-to-recovery-ratio"]
        );
        assert_eq!(names(Component::Payments), ["unexpected-error-ratio"]);
        assert_eq!(names(Component::Catalog), ["cache-hit-ratio"]);
        assert_eq!(
            names(Component::Gateway),
            ["rate-limited-ratio", "breaker-opens-per-1000"]
        );
        assert!(names(Component::Cart).is_empty());
    }

    #[test]
    fn a_check_is_a_ratio_of_increases_over_one_track_s_pods() {
        let paid = &business_checks(Component::Orders)[0];
        assert_eq!(
            paid.promql("shop", &pods_of("shop-orders-canary"), "60s"),
            "sum(increase(orders_checkouts_total{namespace=\"shop\",pod=~\"shop-orders-canary-[a-z0-9]+-[a-z0-9]+\",outcome=\"paid\"}[60s])) \
             / sum(increase(orders_checkouts_total{namespace=\"shop\",pod=~\"shop-orders-canary-[a-z0-9]+-[a-z0-9]+\",outcome!~\"card_declined|insufficient_funds|replayed\"}[60s]))"
        );
        let opens = &business_checks(Component::Gateway)[1];
        assert!(opens.promql("shop", "p", "1m").starts_with(
            "1000 * sum(increase(gateway_breaker_opens_total{namespace=\"shop\",pod=~\"p\"}[1m]))"
        ));
    }

    #[test]
    fn the_stable_pods_regex_does_not_take_the_canary_s_pods() {
        let re = regex::Regex::new(&format!("^(?:{})$", pods_of("shop-catalog"))).unwrap();
        assert!(re.is_match("shop-catalog-7d9f8c6b5-x2k4q"));
        assert!(!re.is_match("shop-catalog-canary-5c8d7b9f4-abcde"));
        assert!(!re.is_match("shop-catalog-7d9f8c6b5-x2k4q-extra"));
    }

    #[test]
    fn each_rule_compares_the_canary_with_the_stable_pods() {
        let [paid, compensations, _] = &business_checks(Component::Orders)[..] else {
            panic!("three orders checks");
        };
        assert_eq!(paid.judge(0.95, 0.97), None, "within 0.05");
        assert_eq!(
            paid.judge(0.80, 0.97).as_deref(),
            Some("business check paid-ratio: canary 0.8 below stable 0.97 by more than 0.05")
        );
        assert_eq!(compensations.judge(0.06, 0.02), None);
        assert!(
            compensations
                .judge(0.2, 0.02)
                .unwrap()
                .contains("above stable 0.02")
        );
        let hits = &business_checks(Component::Catalog)[0];
        assert_eq!(hits.judge(0.5, 0.9), None, "a drop, not a collapse");
        assert!(
            hits.judge(0.3, 0.9)
                .unwrap()
                .contains("under 0.5 of stable 0.9")
        );
    }
}
