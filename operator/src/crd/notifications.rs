//! `spec.notifications`: where rollout notifications go besides Kubernetes Events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SecretRef;

/// Notifications about rollouts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsSpec {
    /// A webhook that receives a Slack-compatible JSON message ({"text": ...}) when a rollout
    /// starts, passes a step, is paused or resumed, is promoted, fails or is aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSpec>,
}

/// Where the webhook is: a URL, or a Secret holding it under the key `url` (Slack's webhook
/// URLs are credentials). Exactly one of the two.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// http:// or https:// URL that receives a POST per notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    /// A Secret in the platform's namespace whose key `url` holds the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,
}
