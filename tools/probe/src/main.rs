//! `storefront-probe http://127.0.0.1:8080/readyz`: exits 0 when the URL answers 2xx within the
//! timeout, 1 otherwise (with the reason on stderr). The images have no shell, curl or wget, so a
//! Docker health check needs an executable of its own; this one uses only the standard library
//! (plain HTTP/1.0 over TCP, no TLS), which keeps it a few hundred kilobytes.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{url:?}: {p:?} is not a port number"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok(Target {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// The status code of the first line of an HTTP response (`HTTP/1.1 200 OK`).
fn status_code(head: &str) -> Option<u16> {
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

fn probe(target: &Target) -> Result<u16, String> {
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", target.host))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: storefront-probe\r\nConnection: close\r\n\r\n",
        target.path, target.host
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut head = [0u8; 256];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => {
                read += n;
                if head[..read].contains(&b'\n') {
                    break;
                }
            }
            Err(e) => return Err(format!("read from {addr}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&head[..read]);
    status_code(&text).ok_or_else(|| format!("{addr} did not answer HTTP: {text:?}"))
}

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: storefront-probe http://HOST:PORT/PATH");
        return ExitCode::from(2);
    };
    match parse(&url).and_then(|t| probe(&t)) {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("{url} answered {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_with_port_and_path_is_split_into_its_parts() {
        assert_eq!(
            parse("http://127.0.0.1:8080/readyz"),
            Ok(Target {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/readyz".into()
            })
        );
        assert_eq!(parse("http://jaeger:13133").map(|t| t.path), Ok("/".into()));
        assert_eq!(parse("http://example").map(|t| t.port), Ok(80));
    }

    #[test]
    fn https_and_bad_ports_are_refused() {
        assert!(parse("https://x/").is_err());
        assert!(parse("http://x:http/").is_err());
        assert!(parse("http://:80/").is_err());
    }

    #[test]
    fn the_status_code_comes_from_the_first_line_only() {
        assert_eq!(status_code("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            status_code("HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(status_code("SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(""), None);
    }

    #[test]
    fn a_listener_answering_503_fails_the_probe_and_200_passes() {
        for (answer, expected) in [("200 OK", 200), ("503 Service Unavailable", 503)] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 512];
                let n = conn.read(&mut buf).unwrap();
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("GET /readyz HTTP/1.0"));
                conn.write_all(format!("HTTP/1.1 {answer}\r\n\r\n").as_bytes())
                    .unwrap();
            });
            let target = parse(&format!("http://127.0.0.1:{port}/readyz")).unwrap();
            assert_eq!(probe(&target), Ok(expected));
            server.join().unwrap();
        }
    }
}
