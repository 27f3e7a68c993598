//! Rollout hooks (`rollout.webhooks`): the calls, their payload, and what their answers mean
//! for the machine. Which hooks are due is the machine's decision (`pre_rollout_due`,
//! `confirm_due`, `analysis_due`); this module only calls them.

use serde_json::{Value, json};

use super::webhook::WebhookClient;
use crate::build::validate::RolloutHook;
use crate::crd::HookType;

/// What every hook of a pass is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookContext<'a> {
    /// The platform's name and namespace.
    pub platform: &'a str,
    pub namespace: &'a str,
    pub service: &'a str,
    pub canary: &'a str,
    pub stable: &'a str,
}

/// The JSON a hook receives (Flagger's fields, plus the service and both versions).
pub fn payload(ctx: &HookContext<'_>, hook: &RolloutHook) -> Value {
    json!({
        "name": ctx.platform,
        "namespace": ctx.namespace,
        "service": ctx.service,
        "phase": format!("{:?}", hook.type_),
        "canary": ctx.canary,
        "stable": ctx.stable,
        "metadata": hook.metadata,
    })
}

/// Call every hook of `type_`, in the order of the spec; the first refusal ends the calls and
/// is the answer ("hook <name> answered HTTP 503: ..."). `None` when there is no such hook.
pub async fn call(
    client: &dyn WebhookClient,
    hooks: &[RolloutHook],
    type_: HookType,
    ctx: &HookContext<'_>,
) -> Option<Result<(), String>> {
    let mut answer = None;
    for hook in hooks.iter().filter(|h| h.type_ == type_) {
        if let Err(error) = client
            .post(&hook.url, &payload(ctx, hook), hook.timeout)
            .await
        {
            return Some(Err(format!("hook {} {error}", hook.name)));
        }
        answer = Some(Ok(()));
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[test]
    fn a_hook_is_told_the_platform_service_versions_and_its_metadata() {
        let hook = RolloutHook {
            name: "smoke".into(),
            type_: HookType::ConfirmPromotion,
            url: "http://t".into(),
            timeout: Duration::from_secs(1),
            metadata: BTreeMap::from([("suite".to_owned(), "checkout".to_owned())]),
        };
        let ctx = HookContext {
            platform: "shop",
            namespace: "prod",
            service: "catalog",
            canary: "0.2.0",
            stable: "0.1.0",
        };
        assert_eq!(
            payload(&ctx, &hook),
            json!({"name": "shop", "namespace": "prod", "service": "catalog",
                   "phase": "ConfirmPromotion", "canary": "0.2.0", "stable": "0.1.0",
                   "metadata": {"suite": "checkout"}})
        );
    }
}
