//! The rollout of one service as the platform status reports it (`status.rollouts.<service>`),
//! read from JSON so the suite does not depend on the operator crate's types.

use serde::Deserialize;
use serde_json::Value;

/// What the tests look at in `status.rollouts.<service>`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    pub phase: String,
    #[serde(default)]
    pub canary_weight: Option<i32>,
    #[serde(default)]
    pub step: Option<i32>,
    #[serde(default)]
    pub stable: Option<String>,
    #[serde(default)]
    pub canary: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl Rollout {
    /// The rollout of `service` in a platform object, if the status has one that decodes.
    pub fn of(platform: &Value, service: &str) -> Option<Self> {
        let raw = platform.pointer(&format!("/status/rollouts/{service}"))?;
        serde_json::from_value(raw.clone()).ok()
    }

    /// `version` serves all traffic and no canary remains.
    pub fn promoted(&self, version: &str) -> bool {
        self.phase == "Succeeded" && self.stable.as_deref() == Some(version)
    }

    /// The canary `version` failed and traffic is back on `stable`.
    pub fn rolled_back(&self, version: &str, stable: &str) -> bool {
        self.phase == "RolledBack"
            && self.canary.as_deref() == Some(version)
            && self.stable.as_deref() == Some(stable)
    }

    /// Traffic is split between stable and canary right now.
    pub fn splitting(&self) -> bool {
        self.phase == "Progressing" && self.canary_weight.is_some_and(|w| w > 0 && w < 100)
    }
}

/// The version `status.components.<service>` reports.
pub fn component_version(platform: &Value, service: &str) -> Option<String> {
    platform
        .pointer(&format!("/status/components/{service}/version"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn platform(rollout: Value) -> Value {
        json!({"status": {"rollouts": {"catalog": rollout}, "components": {"catalog": {"ready": "2/2", "version": "0.2.0"}}}})
    }

    #[test]
    fn a_step_in_progress_is_a_split() {
        let p = platform(
            json!({"phase": "Progressing", "canaryWeight": 25, "step": 2, "stable": "0.2.0", "canary": "0.3.0"}),
        );
        let r = Rollout::of(&p, "catalog").unwrap();
        assert!(r.splitting());
        assert!(!r.promoted("0.3.0"));
        assert_eq!(component_version(&p, "catalog").as_deref(), Some("0.2.0"));
    }

    #[test]
    fn promotion_needs_success_and_the_new_stable() {
        let done = platform(json!({"phase": "Succeeded", "stable": "0.3.0"}));
        assert!(Rollout::of(&done, "catalog").unwrap().promoted("0.3.0"));
        let old = platform(json!({"phase": "Succeeded", "stable": "0.2.0"}));
        assert!(!Rollout::of(&old, "catalog").unwrap().promoted("0.3.0"));
    }

    #[test]
    fn rollback_names_the_failed_canary() {
        let p = platform(
            json!({"phase": "RolledBack", "stable": "0.3.0", "canary": "0.0.0-fault", "message": "success rate 0% < 99%"}),
        );
        let r = Rollout::of(&p, "catalog").unwrap();
        assert!(r.rolled_back("0.0.0-fault", "0.3.0"));
        assert!(!r.splitting());
    }

    #[test]
    fn no_rollout_is_none() {
        assert_eq!(Rollout::of(&json!({"status": {}}), "catalog"), None);
    }
}
