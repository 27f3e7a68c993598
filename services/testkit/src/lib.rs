//! Throwaway data stores for tests and for the local platform: a PostgreSQL cluster made with
//! `initdb` in a temporary directory, a `redis-server` and a `rabbitmq-server`, each on random
//! loopback ports. They die with the process that started them (parent-death signal plus an exit
//! hook) and never touch a server someone left running.
//!
//! Tests share one PostgreSQL and one Redis per test process ([`shared_postgres`],
//! [`shared_redis`]) and isolate themselves with a fresh database / Redis database index each.
//!
//! With the feature `app`, [`app::TestApp`] starts a service under test against them; with
//! `shop`, [`shop::Shop`] is a customer of a whole running shop.

#![allow(unsafe_code)] // pre_exec and atexit: the only way to tie a child's life to ours.

#[cfg(feature = "app")]
pub mod app;
mod binaries;
mod netns;
mod postgres;
mod process;
mod rabbitmq;
mod redis;
#[cfg(feature = "shop")]
pub mod shop;
mod smtp;

pub use binaries::{MissingBinary, postgres_bin};
pub use netns::{Placement, in_netns, ip_command};
pub use postgres::PostgresServer;
pub use process::{free_port, spawn_tied_process, spawn_tied_process_in, stop_tied_process};
pub use rabbitmq::RabbitServer;
pub use redis::RedisServer;
pub use smtp::{Mail, SmtpSink};

use std::sync::OnceLock;

/// The PostgreSQL server shared by every test in this process, started on first use.
pub fn shared_postgres() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| match PostgresServer::start() {
        Ok(server) => server,
        Err(e) => panic!("cannot start a throwaway PostgreSQL for tests: {e}"),
    })
}

/// The Redis server shared by every test in this process, started on first use.
pub fn shared_redis() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| match RedisServer::start() {
        Ok(server) => server,
        Err(e) => panic!("cannot start a throwaway Redis for tests: {e}"),
    })
}

/// The RabbitMQ broker shared by every test in this process, started on first use; `None` when
/// `rabbitmq-server` is not installed (tests of the RabbitMQ bus then skip, saying so).
pub fn shared_rabbitmq() -> Option<&'static RabbitServer> {
    static SERVER: OnceLock<Option<RabbitServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| match RabbitServer::start() {
            Ok(server) => Some(server),
            Err(StartError::Missing(e)) => {
                eprintln!("skipping RabbitMQ tests: {e}");
                None
            }
            Err(e) => panic!("cannot start a throwaway RabbitMQ for tests: {e}"),
        })
        .as_ref()
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Missing(#[from] MissingBinary),
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
    #[error("io error while {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn io_err(what: &str) -> impl FnOnce(std::io::Error) -> StartError + '_ {
    move |source| StartError::Io {
        what: what.to_string(),
        source,
    }
}

/// The value in a Prometheus text exposition of metric `name` whose labels include every one of
/// `labels` (services add their own, such as `service`), or `None` when no sample matches.
pub fn metric_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let prefix = format!("{name}{{");
    text.lines()
        .filter(|line| line.starts_with(&prefix))
        .filter(|line| {
            labels
                .iter()
                .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .find_map(|line| line.rsplit_once(' ')?.1.parse().ok())
}

#[cfg(test)]
mod metric_tests {
    use super::metric_sample;

    #[test]
    fn a_sample_is_found_by_name_and_a_subset_of_its_labels() {
        let text = "# TYPE e counter\ne_total{service=\"n\",outcome=\"sent\"} 3\ne_total{service=\"n\",outcome=\"refused\"} 1\n";
        assert_eq!(
            metric_sample(text, "e_total", &[("outcome", "refused")]),
            Some(1.0)
        );
        assert_eq!(
            metric_sample(text, "e_total", &[("outcome", "sent")]),
            Some(3.0)
        );
        assert_eq!(
            metric_sample(text, "e_total", &[("outcome", "failed")]),
            None
        );
        assert_eq!(metric_sample(text, "e", &[]), None);
    }
}
