//! The one HTTP client for the webhooks the operator calls: rollout notifications
//! (`notify.rs`) and rollout hooks (`hooks.rs`). A POST of JSON with a timeout; any answer but
//! 2xx is an error that says what the receiver answered, without the URL (it may be a
//! credential).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

/// Where the operator's webhook calls go (HTTP in production and in the tests).
#[async_trait]
pub trait WebhookClient: Send + Sync {
    async fn post(&self, url: &str, body: &Value, timeout: Duration) -> Result<(), String>;
}

/// `WebhookClient` over HTTP.
#[derive(Default)]
pub struct HttpWebhooks {
    client: reqwest::Client,
}

#[async_trait]
impl WebhookClient for HttpWebhooks {
    async fn post(&self, url: &str, body: &Value, timeout: Duration) -> Result<(), String> {
        let response = self
            .client
            .post(url)
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(format!(
            "answered HTTP {}: {}",
            status.as_u16(),
            text.trim().chars().take(200).collect::<String>()
        ))
    }
}
