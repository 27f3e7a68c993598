//! An open-loop load: `GET url` at a fixed total rate over a fixed set of keep-alive
//! connections, each request's latency measured from the moment it was *due*, not from when it
//! was sent. wrk is closed-loop (a slow answer delays the next request, so queueing is never
//! seen); this is the figure a client arriving at a steady rate meets (wrk2's correction for
//! coordinated omission). Every connection has its own schedule, `connections / rate` apart;
//! a request that could not be sent on time is sent at once and counted late.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;

/// What one open-loop run measured.
#[derive(Debug, Serialize, Default, Clone)]
pub struct OpenLoop {
    pub target: String,
    /// Requests per second asked for, and what was sent.
    pub rate: f64,
    pub achieved: f64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenLoopError {
    #[error("the open-loop URL must be http://host:port/path, got {0}")]
    Url(String),
    #[error("connecting to {addr} failed: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("the HTTP handshake with {addr} failed: {source}")]
    Handshake { addr: String, source: hyper::Error },
}

/// `(host:port, path)` of an `http://` URL.
pub fn split_url(url: &str) -> Result<(String, String), OpenLoopError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| OpenLoopError::Url(url.to_string()))?;
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if addr.is_empty() {
        return Err(OpenLoopError::Url(url.to_string()));
    }
    let path = if path.is_empty() { "/" } else { path };
    Ok((addr.to_string(), path.to_string()))
}

/// The due times of connection `index` of `connections` at `rate` per second in total:
/// every `connections / rate` seconds, the connections spread evenly over one gap.
pub fn due(index: usize, connections: usize, rate: f64, n: u64) -> Duration {
    let gap = connections as f64 / rate;
    let offset = gap * index as f64 / connections as f64;
    Duration::from_secs_f64(offset + gap * n as f64)
}

/// 1 µs to 60 s, three significant figures.
#[expect(
    clippy::expect_used,
    reason = "constant bounds that hdrhistogram accepts"
)]
fn histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

struct Tally {
    latencies_us: hdrhistogram::Histogram<u64>,
    requests: u64,
    errors: u64,
}

async fn connection(
    addr: String,
    path: String,
    index: usize,
    connections: usize,
    rate: f64,
    start: tokio::time::Instant,
    duration: Duration,
) -> Result<Tally, OpenLoopError> {
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|source| OpenLoopError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|source| OpenLoopError::Handshake {
            addr: addr.clone(),
            source,
        })?;
    let driver = tokio::spawn(conn);
    let mut tally = Tally {
        latencies_us: histogram(),
        requests: 0,
        errors: 0,
    };
    for n in 0.. {
        let at = due(index, connections, rate, n);
        if at >= duration {
            break;
        }
        let due_at = start + at;
        tokio::time::sleep_until(due_at).await;
        let request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, addr.as_str())
            .body(Empty::<Bytes>::new());
        let Ok(request) = request else {
            tally.errors += 1;
            break;
        };
        let ok = match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                response.into_body().collect().await.is_ok() && status.is_success()
            }
            Err(_) => false,
        };
        let latency = tokio::time::Instant::now().saturating_duration_since(due_at);
        tally.requests += 1;
        if !ok {
            tally.errors += 1;
            if sender.ready().await.is_err() {
                break;
            }
        }
        let _ = tally
            .latencies_us
            .record((latency.as_micros() as u64).clamp(1, 60_000_000));
    }
    drop(sender);
    driver.abort();
    Ok(tally)
}

/// Sends `GET url` at `rate` per second for `duration` over `connections` connections.
pub async fn run(
    url: &str,
    rate: f64,
    connections: usize,
    duration: Duration,
) -> Result<OpenLoop, OpenLoopError> {
    let (addr, path) = split_url(url)?;
    let connections = connections.max(1);
    let rate = rate.max(1.0);
    // A moment for every connection to be made before the first is due.
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let began = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            tokio::spawn(connection(
                addr.clone(),
                path.clone(),
                index,
                connections,
                rate,
                start,
                duration,
            ))
        })
        .collect();
    let mut all = histogram();
    let (mut requests, mut errors) = (0, 0);
    for task in tasks {
        match task.await {
            Ok(Ok(tally)) => {
                let _ = all.add(&tally.latencies_us);
                requests += tally.requests;
                errors += tally.errors;
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => errors += 1,
        }
    }
    let elapsed = began
        .elapsed()
        .saturating_sub(Duration::from_millis(200))
        .as_secs_f64()
        .max(duration.as_secs_f64());
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    Ok(OpenLoop {
        target: url.to_string(),
        rate,
        achieved: requests as f64 / elapsed,
        requests,
        errors,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: all.max() as f64 / 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        let (addr, path) = split_url("http://127.0.0.1:8080/api/products?page=2").unwrap();
        assert_eq!(addr, "127.0.0.1:8080");
        assert_eq!(path, "/api/products?page=2");
        assert_eq!(split_url("http://127.0.0.1:1").unwrap().1, "/");
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn connections_share_the_rate_and_spread_over_one_gap() {
        // 4 connections at 1000/s: each sends every 4 ms, 1 ms after the one before it.
        assert_eq!(due(0, 4, 1000.0, 0), Duration::ZERO);
        assert_eq!(due(1, 4, 1000.0, 0), Duration::from_millis(1));
        assert_eq!(due(3, 4, 1000.0, 2), Duration::from_millis(11));
        let sent_in_a_second = (0..4)
            .map(|i| {
                (0..)
                    .take_while(|n| due(i, 4, 1000.0, *n) < Duration::from_secs(1))
                    .count()
            })
            .sum::<usize>();
        assert_eq!(sent_in_a_second, 1000);
    }
}
