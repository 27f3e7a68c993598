//! `spec.notifications.webhook`: checked into where the rollout notifications go.

use super::ValidationError;
use crate::crd::PlatformSpec;

/// The Secret key that holds the webhook URL.
pub const WEBHOOK_URL_KEY: &str = "url";

/// Where the webhook is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookTarget {
    Url(String),
    /// A Secret of the platform's namespace, key `url`; read when a notification is sent.
    Secret(String),
}

pub fn webhook_target(spec: &PlatformSpec) -> Result<Option<WebhookTarget>, ValidationError> {
    let Some(webhook) = spec.notifications.as_ref().and_then(|n| n.webhook.as_ref()) else {
        return Ok(None);
    };
    let invalid = |message: &str| ValidationError::Webhook(message.to_owned());
    match (&webhook.url, &webhook.secret_ref) {
        (Some(_), Some(_)) => Err(invalid("give url or secretRef, not both")),
        (None, None) => Err(invalid("give url or secretRef")),
        (None, Some(r)) => Ok(Some(WebhookTarget::Secret(r.name.clone()))),
        (Some(url), None) => {
            check_url(url).map_err(|m| invalid(&m))?;
            Ok(Some(WebhookTarget::Url(url.clone())))
        }
    }
}

/// An http(s) URL with a host, as the webhook's (also what a Secret must hold).
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("url `{url}` must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(format!("url `{url}` has no host or contains spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{NotificationsSpec, SecretRef, WebhookSpec};

    fn spec(url: Option<&str>, secret: Option<&str>) -> PlatformSpec {
        let mut spec: PlatformSpec =
            serde_json::from_value(serde_json::json!({"version": "0.1.0"})).unwrap();
        spec.notifications = Some(NotificationsSpec {
            webhook: Some(WebhookSpec {
                url: url.map(str::to_owned),
                secret_ref: secret.map(|name| SecretRef { name: name.into() }),
            }),
        });
        spec
    }

    #[test]
    fn a_webhook_is_a_url_or_a_secret_never_both() {
        assert_eq!(
            webhook_target(&spec(Some("https://hooks.example.com/T1/B2"), None)).unwrap(),
            Some(WebhookTarget::Url("https://hooks.example.com/T1/B2".into()))
        );
        assert_eq!(
            webhook_target(&spec(None, Some("slack"))).unwrap(),
            Some(WebhookTarget::Secret("slack".into()))
        );
        for (url, secret, why) in [
            (Some("https://a"), Some("s"), "not both"),
            (None, None, "give url or secretRef"),
            (Some("ftp://a/b"), None, "must start with http"),
            (Some("https:///path"), None, "no host"),
        ] {
            let e = webhook_target(&spec(url, secret)).unwrap_err().to_string();
            assert!(
                e.starts_with("spec.notifications.webhook: ") && e.contains(why),
                "{e}"
            );
        }
        let none: PlatformSpec =
            serde_json::from_value(serde_json::json!({"version": "0.1.0"})).unwrap();
        assert_eq!(webhook_target(&none).unwrap(), None);
    }
}
