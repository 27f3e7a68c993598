//! The Prometheus Operator's PrometheusRule (monitoring.coreos.com/v1) `<name>-alerts`, when
//! `spec.observability.prometheus.monitors` is true: the groups of
//! `observability/alerts/storefront.rules.yaml`, compiled in and parsed once.
//!
//! Invariant: the groups are the file's, unchanged (the file is what promtool checks and
//! tests), so an operator writes the alerts of its own version. The file's expressions group by
//! namespace, so several platforms' copies each fire once per namespace; identical alerts from
//! copies are left to Alertmanager to deduplicate.

use std::sync::LazyLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::monitoring::MONITORING_V1;
use super::object::DesiredObject;
use super::validate::ValidatedPlatform;

/// The repository's rule file (plain Prometheus rule-file format).
pub const RULE_FILE: &str = include_str!("../../../observability/alerts/storefront.rules.yaml");

/// A PrometheusRule, holding only the fields Storefront writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PrometheusRuleSpec,
}

/// The rule groups, as the rule file spells them (kept as data, so no field is dropped).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<Value>,
}

/// The groups of the compiled-in rule file; `None` if it does not parse, which the unit tests
/// below rule out for any binary built from a tested tree.
static GROUPS: LazyLock<Option<Vec<Value>>> = LazyLock::new(|| match parse(RULE_FILE) {
    Ok(groups) => Some(groups),
    Err(error) => {
        ::tracing::error!(%error, "the compiled-in rule file does not parse; no PrometheusRule is written");
        None
    }
});

/// The `groups` of a rule file.
pub fn parse(rule_file: &str) -> Result<Vec<Value>, serde_norway::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RuleFile {
        groups: Vec<Value>,
    }
    serde_norway::from_str::<RuleFile>(rule_file).map(|f| f.groups)
}

/// The PrometheusRule of the platform, when enabled.
pub fn build(platform: &ValidatedPlatform) -> Vec<DesiredObject> {
    let Some(groups) = GROUPS.as_ref().filter(|_| platform.monitors) else {
        return Vec::new();
    };
    let o = &platform.ownership;
    vec![DesiredObject::PrometheusRule(PrometheusRule {
        api_version: MONITORING_V1.to_owned(),
        kind: "PrometheusRule".to_owned(),
        metadata: o.platform_meta(o.object_name("alerts")),
        spec: PrometheusRuleSpec {
            groups: groups.clone(),
        },
    })]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_rule_file_parses_into_groups_of_alerts_with_runbooks() {
        let groups = parse(RULE_FILE).unwrap();
        assert!(!groups.is_empty());
        assert_eq!(GROUPS.as_ref(), Some(&groups), "parsed once, the same way");
        let mut alerts = 0;
        for group in &groups {
            let name = group["name"].as_str().unwrap();
            let rules = group["rules"].as_array().unwrap();
            assert!(!rules.is_empty(), "{name}: no rules");
            for rule in rules.iter().filter(|r| r.get("alert").is_some()) {
                alerts += 1;
                let alert = rule["alert"].as_str().unwrap();
                let runbook = rule["annotations"]["runbook_url"].as_str();
                assert!(
                    runbook.is_some_and(|url| !url.is_empty()),
                    "{name}/{alert}: no runbook_url annotation"
                );
            }
        }
        assert!(alerts > 0, "the rule file has no alerts");
    }

    #[test]
    fn a_rule_file_without_groups_is_refused() {
        assert!(parse("rules: []\n").is_err());
    }
}
