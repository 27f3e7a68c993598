//! Rollout notifications to a webhook (`spec.notifications.webhook`), besides the Events: one
//! Slack-compatible POST (`{"text": ...}`) per rollout transition of the pass.
//!
//! Best effort, like Events: a webhook that is down or slow (5 s timeout) is logged with its
//! answer and never fails or delays the reconcile beyond that. The URL, when it lives in a
//! Secret, is read at send time and never logged.

use std::time::Duration;

use serde_json::{Value, json};
use tracing::warn;

use super::api::ClusterApi;
use super::webhook::WebhookClient;
use crate::build::validate::{WEBHOOK_URL_KEY, WebhookTarget, check_url};
use crate::crd::EcommercePlatform;
use crate::rollout::{RolloutEvent, Severity};

/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The rollout events that are notified: transitions a person wants to hear about, not the
/// reports a bad annotation repeats on every pass.
const NOTIFIED: [&str; 10] = [
    "RolloutStarted",
    "RolloutRestarted",
    "RolloutStepPassed",
    "RolloutPaused",
    "RolloutResumed",
    "RolloutPromotedByCommand",
    "RolloutPromoted",
    "RolloutFailed",
    "RolloutAborted",
    "RolloutAbortedByCommand",
];

/// Whether `event` goes to the webhook.
pub fn notified(event: &RolloutEvent) -> bool {
    NOTIFIED.contains(&event.reason)
}

/// The message for `event` on platform `namespace/name`: Slack's `text`, plus fields for
/// receivers that route on them.
pub fn payload(platform: &str, event: &RolloutEvent) -> Value {
    let mark = match event.severity {
        Severity::Normal => "",
        Severity::Warning => ":warning: ",
    };
    json!({
        "text": format!("{mark}[{platform}] {}: {}", event.reason, event.message),
        "platform": platform,
        "reason": event.reason,
        "severity": match event.severity {
            Severity::Normal => "Normal",
            Severity::Warning => "Warning",
        },
        "message": event.message,
    })
}

/// The webhook's URL, reading the Secret when it lives in one.
async fn url_of(
    api: &dyn ClusterApi,
    namespace: &str,
    target: &WebhookTarget,
) -> Result<String, String> {
    let name = match target {
        WebhookTarget::Url(url) => return Ok(url.clone()),
        WebhookTarget::Secret(name) => name,
    };
    let secret = api
        .get_secret(namespace, name)
        .await
        .map_err(|e| format!("Secret {name}: {e}"))?
        .ok_or_else(|| format!("Secret {name} does not exist"))?;
    let bytes = secret
        .data
        .and_then(|d| d.get(WEBHOOK_URL_KEY).cloned())
        .ok_or_else(|| format!("Secret {name} has no key {WEBHOOK_URL_KEY}"))?;
    let url = String::from_utf8(bytes.0)
        .map_err(|_| format!("Secret {name}: key {WEBHOOK_URL_KEY} is not UTF-8"))?;
    let url = url.trim().to_owned();
    check_url(&url).map_err(|_| {
        format!("Secret {name}: key {WEBHOOK_URL_KEY} is not an http(s) URL with a host")
    })?;
    Ok(url)
}

/// Post every notified event of the pass, in order; failures are logged.
pub async fn notify(
    api: &dyn ClusterApi,
    webhooks: &dyn WebhookClient,
    platform: &EcommercePlatform,
    target: &WebhookTarget,
    events: &[RolloutEvent],
) {
    let events: Vec<&RolloutEvent> = events.iter().filter(|e| notified(e)).collect();
    if events.is_empty() {
        return;
    }
    let namespace = platform.metadata.namespace.as_deref().unwrap_or_default();
    let key = format!(
        "{namespace}/{}",
        platform.metadata.name.as_deref().unwrap_or_default()
    );
    let url = match url_of(api, namespace, target).await {
        Ok(url) => url,
        Err(error) => {
            warn!(platform = %key, %error, "rollout notification not sent: no webhook URL");
            return;
        }
    };
    for event in events {
        if let Err(error) = webhooks.post(&url, &payload(&key, event), TIMEOUT).await {
            warn!(platform = %key, reason = event.reason, %error, "rollout notification failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(severity: Severity, reason: &'static str) -> RolloutEvent {
        RolloutEvent {
            severity,
            reason,
            message: "catalog: canary 0.2.0".into(),
        }
    }

    #[test]
    fn the_message_is_slack_text_with_fields_to_route_on() {
        let p = payload("shop/shop", &event(Severity::Warning, "RolloutFailed"));
        assert_eq!(
            p["text"],
            ":warning: [shop/shop] RolloutFailed: catalog: canary 0.2.0"
        );
        assert_eq!(
            (&p["reason"], &p["severity"]),
            (&json!("RolloutFailed"), &json!("Warning"))
        );
        let p = payload("shop/shop", &event(Severity::Normal, "RolloutPromoted"));
        assert_eq!(
            p["text"],
            "[shop/shop] RolloutPromoted: catalog: canary 0.2.0"
        );
    }

    #[test]
    fn transitions_are_notified_and_repeated_reports_are_not() {
        assert!(notified(&event(Severity::Normal, "RolloutStepPassed")));
        assert!(notified(&event(
            Severity::Warning,
            "RolloutAbortedByCommand"
        )));
        assert!(!notified(&event(
            Severity::Warning,
            "InvalidRolloutCommand"
        )));
        assert!(!notified(&event(
            Severity::Warning,
            "RolloutCommandIgnored"
        )));
    }
}
