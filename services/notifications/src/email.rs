//! The confirmation e-mail, sent over SMTP when `SMTP_URL` is set: for each stored notification
//! the customer's address is asked of the users service (`/internal/users/{id}/contact`, with a
//! service token) and one message goes out; `emailed_at` records it, so a redelivered event sends
//! nothing more. A refusal that retrying cannot fix (the server's 5xx, an address it rejects, a
//! user who no longer exists) is recorded in `email_error` and not tried again; anything else (the
//! mail server or the users service unreachable) is waited out like a database outage.
//!
//! Plain SMTP only (`smtp://host:port`, optionally `user:pass@`): TLS is not built in, so the
//! server is expected beside the shop (a relay or a sink), not across the internet.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use sqlx::PgPool;
use storefront_common::auth::Authenticator;
use storefront_common::client::{ServiceClient, UpstreamError};

use crate::message::NewNotification;

/// Where `SMTP_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

impl std::str::FromStr for SmtpUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("smtp://").ok_or_else(|| {
            "use smtp://host:port (smtps and STARTTLS are not built in)".to_string()
        })?;
        let rest = rest.trim_end_matches('/');
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, pass) = userinfo
                    .split_once(':')
                    .ok_or_else(|| "credentials are user:password@".to_string())?;
                (Some((user.to_string(), pass.to_string())), hostport)
            }
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("{port:?} is not a port"))?,
            ),
            None => (hostport, 25),
        };
        if host.is_empty() {
            return Err("the host is missing".into());
        }
        Ok(Self {
            host: host.to_string(),
            port,
            credentials,
        })
    }
}

/// What became of one notification's e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emailed {
    Sent,
    /// Sent (or refused for good) on an earlier delivery.
    Already,
    /// Refused for good; recorded and not tried again.
    Refused,
}

/// A failure that waiting may cure.
#[derive(Debug, thiserror::Error)]
pub enum Transient {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("users service: {0}")]
    Users(UpstreamError),
    #[error("issuing the service token: {0}")]
    Token(String),
    #[error("smtp: {0}")]
    Smtp(lettre::transport::smtp::Error),
}

#[derive(Deserialize)]
struct Contact {
    email: String,
    name: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    users: ServiceClient,
    auth: Arc<Authenticator>,
}

impl Mailer {
    pub fn new(url: &SmtpUrl, from: Mailbox, users_url: &str, auth: Arc<Authenticator>) -> Self {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .port(url.port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some((user, pass)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        let http = storefront_common::client::http_client(Duration::from_secs(5));
        Self {
            transport: builder.build(),
            from,
            users: ServiceClient::new("users", users_url, http),
            auth,
        }
    }

    /// Sends the e-mail of a stored notification unless an earlier delivery did; `just_stored`
    /// (this delivery created the row) skips asking the database.
    pub async fn deliver(
        &self,
        pool: &PgPool,
        note: &NewNotification,
        just_stored: bool,
    ) -> Result<Emailed, Transient> {
        if !just_stored && !self.pending(pool, note).await? {
            return Ok(Emailed::Already);
        }
        let token = self
            .auth
            .service_token("notifications")
            .map_err(|e| Transient::Token(e.message))?;
        let contact: Contact = match self
            .users
            .get(
                &format!("/internal/users/{}/contact", note.user_id),
                Some(&token),
            )
            .await
        {
            Ok(contact) => contact,
            Err(e) if e.status() == Some(axum::http::StatusCode::NOT_FOUND) => {
                return self.refused(pool, note, "the user no longer exists").await;
            }
            Err(e) => return Err(Transient::Users(e)),
        };
        let to = match format!("{} <{}>", contact.name, contact.email).parse::<Mailbox>() {
            Ok(to) => to,
            Err(_) => match contact.email.parse::<Mailbox>() {
                Ok(to) => to,
                Err(e) => return self.refused(pool, note, &format!("address: {e}")).await,
            },
        };
        let message = match Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(note.title.clone())
            .body(format!("{}\n\nStorefront\n", note.body))
        {
            Ok(message) => message,
            Err(e) => return self.refused(pool, note, &format!("message: {e}")).await,
        };
        match self.transport.send(message).await {
            Ok(_) => {
                sqlx::query("UPDATE notifications SET emailed_at = now() WHERE event_id = $1")
                    .bind(&note.event_id)
                    .execute(pool)
                    .await?;
                tracing::info!(user_id = %note.user_id, "confirmation e-mail sent");
                Ok(Emailed::Sent)
            }
            Err(e) if e.is_permanent() => self.refused(pool, note, &e.to_string()).await,
            Err(e) => Err(Transient::Smtp(e)),
        }
    }

    /// Whether the notification's e-mail is neither sent nor refused yet.
    async fn pending(&self, pool: &PgPool, note: &NewNotification) -> Result<bool, Transient> {
        let pending: Option<bool> = sqlx::query_scalar(
            "SELECT emailed_at IS NULL AND email_error IS NULL FROM notifications WHERE event_id = $1",
        )
        .bind(&note.event_id)
        .fetch_optional(pool)
        .await?;
        Ok(pending == Some(true))
    }

    async fn refused(
        &self,
        pool: &PgPool,
        note: &NewNotification,
        why: &str,
    ) -> Result<Emailed, Transient> {
        tracing::warn!(user_id = %note.user_id, reason = why, "confirmation e-mail refused; not retried");
        sqlx::query("UPDATE notifications SET email_error = $2 WHERE event_id = $1")
            .bind(&note.event_id)
            .bind(why)
            .execute(pool)
            .await?;
        Ok(Emailed::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_parse_with_and_without_port_and_credentials() {
        let url: SmtpUrl = "smtp://mail.local:2525".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("mail.local", 2525));
        assert_eq!(url.credentials, None);
        let url: SmtpUrl = "smtp://me:s3cret@relay/".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("relay", 25));
        assert_eq!(url.credentials, Some(("me".into(), "s3cret".into())));
    }

    #[test]
    fn tls_schemes_and_bad_ports_are_refused_with_a_reason() {
        let err = "smtps://relay:465".parse::<SmtpUrl>().unwrap_err();
        assert!(err.contains("not built in"), "{err}");
        let err = "smtp://relay:mail".parse::<SmtpUrl>().unwrap_err();
        assert!(err.contains("not a port"), "{err}");
        assert!("smtp://:25".parse::<SmtpUrl>().is_err());
    }
}
