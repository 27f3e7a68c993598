//! `rollout.webhooks`: checked into the hooks the controller calls (`controller/hooks.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::entry_names::check_entry_name;
use super::notifications::check_url;
use crate::crd::{HookType, RolloutHookSpec};

/// One checked rollout hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutHook {
    pub name: String,
    pub type_: HookType,
    pub url: String,
    pub timeout: Duration,
    pub metadata: BTreeMap<String, String>,
}

/// The default time a hook may take.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest: a hook holds up the reconcile pass that calls it.
pub const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// Check every hook; the error names the entry (`webhooks[i] (name)`) and says why.
pub fn rollout_hooks(specs: &[RolloutHookSpec]) -> Result<Vec<RolloutHook>, String> {
    let mut names = BTreeSet::new();
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let at = format!("webhooks[{i}] ({})", spec.name);
            check_entry_name(&at, &spec.name, &mut names)?;
            check_url(&spec.url).map_err(|e| format!("{at}: {e}"))?;
            let timeout = match &spec.timeout {
                None => DEFAULT_HOOK_TIMEOUT,
                Some(t) => t.to_std().map_err(|e| format!("{at}: timeout: {e}"))?,
            };
            if timeout.is_zero() || timeout > MAX_HOOK_TIMEOUT {
                return Err(format!(
                    "{at}: timeout must be more than 0 and at most {}s",
                    MAX_HOOK_TIMEOUT.as_secs()
                ));
            }
            Ok(RolloutHook {
                name: spec.name.clone(),
                type_: spec.type_,
                url: spec.url.clone(),
                timeout,
                metadata: spec.metadata.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Duration as SpecDuration;

    fn spec(name: &str, url: &str, timeout: Option<&'static str>) -> RolloutHookSpec {
        RolloutHookSpec {
            name: name.into(),
            type_: HookType::Rollout,
            url: url.into(),
            timeout: timeout.map(SpecDuration::from_static),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn hooks_get_a_default_timeout_and_bad_ones_are_named() {
        let ok = rollout_hooks(&[spec("smoke", "http://tester.shop:8080/run", None)]).unwrap();
        assert_eq!(ok[0].timeout, DEFAULT_HOOK_TIMEOUT);
        let ok = rollout_hooks(&[spec("smoke", "http://t/run", Some("30s"))]).unwrap();
        assert_eq!(ok[0].timeout, Duration::from_secs(30));
        for (bad, why) in [
            (vec![spec("Smoke", "http://t", None)], "lowercase"),
            (
                vec![spec("smoke", "tester:8080", None)],
                "must start with http",
            ),
            (vec![spec("smoke", "http://t", Some("2m"))], "at most 60s"),
            (
                vec![spec("a", "http://t", None), spec("a", "http://u", None)],
                "webhooks[1] (a): the name is used twice",
            ),
        ] {
            let e = rollout_hooks(&bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
