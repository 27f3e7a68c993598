//! The command line: every flag, its environment variable, its default and its check. Parsing
//! refuses bad input up front (clap exits with status 2), so a run never starts with a mix,
//! duration or card it cannot use. Every flag has a variable so that a pod is configured by its
//! environment alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{Datelike, Utc};
use clap::{Parser, ValueEnum};
use reqwest::Url;
use storefront_common::card::CardInput;
use storefront_common::config::parse_duration;

use crate::mix::Mix;
use crate::pacing::Think;
use crate::run::{Config, Limit};
use crate::scenario::Card;
use crate::serve::{RequestHeader, ServeConfig};

/// How long a run lasts when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// Drive the Storefront public API with virtual users that register, log in and then browse,
/// view their cart, add to it and check out in a weighted mix; report throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "storefront-loadgen", version)]
pub struct Args {
    /// `run` drives a bounded load and prints a report; `serve` runs until SIGTERM, serving
    /// /healthz, /readyz and /metrics on --listen (how it runs in a cluster).
    #[arg(long, env = "LOADGEN_MODE", value_enum, default_value_t = Mode::Run)]
    pub mode: Mode,

    /// Serve mode: address of /healthz, /readyz and /metrics.
    #[arg(long, env = "STOREFRONT_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,

    /// Base URL of the platform (the gateway).
    #[arg(long, env = "LOADGEN_URL", default_value = "http://127.0.0.1:8080", value_parser = parse_base_url)]
    pub url: Url,

    /// Number of virtual users running at once.
    #[arg(long, env = "LOADGEN_USERS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: u32,

    /// Stop after this long, e.g. 30s, 5m [default: 30s unless --requests is given].
    #[arg(long, env = "LOADGEN_DURATION", value_parser = parse_positive_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,

    /// Stop after this many mix operations in total (register and login are not counted).
    #[arg(long, env = "LOADGEN_REQUESTS", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Mean think time between a user's operations, e.g. 100ms; 0 for none.
    #[arg(long, env = "LOADGEN_THINK", default_value = "100ms", value_parser = parse_duration_or_zero)]
    pub think: Duration,

    /// How think times vary around the mean.
    #[arg(long, env = "LOADGEN_THINK_DISTRIBUTION", value_enum, default_value_t = ThinkDistribution::Exponential)]
    pub think_distribution: ThinkDistribution,

    /// Weights of the operations, as name=weight pairs.
    #[arg(long, env = "LOADGEN_MIX", default_value_t = Mix::default())]
    pub mix: Mix,

    /// Spread the users' start over this long, e.g. 10s; 0s starts them all at once.
    #[arg(long, env = "LOADGEN_RAMP_UP", default_value = "0s", value_parser = parse_duration_or_zero)]
    pub ramp_up: Duration,

    /// Write a JSON summary to this file; `-` writes it to stdout (the table then goes to stderr).
    #[arg(long, env = "LOADGEN_JSON", value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write a self-contained HTML report (charts over time, percentiles, errors) to this file.
    #[arg(long, env = "LOADGEN_HTML", value_name = "PATH", value_parser = parse_html_path)]
    pub html: Option<PathBuf>,

    /// No progress lines on stderr.
    #[arg(long, short, env = "LOADGEN_QUIET")]
    pub quiet: bool,

    /// Seed of the users' random choices, for a reproducible sequence per user [default: random].
    #[arg(long, env = "LOADGEN_SEED")]
    pub seed: Option<u64>,

    /// Card number used at checkout (4000000000000002 is always declined).
    #[arg(long, env = "LOADGEN_CARD", default_value = "4242424242424242", value_parser = parse_card)]
    pub card: Card,

    /// Give up on one request after this long; it then counts as a timeout error.
    #[arg(long, env = "LOADGEN_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub timeout: Duration,

    /// Serve mode: one header sent with every request, `name: value`. The operator's canary
    /// load test sets `x-canary: always`, so the load reaches the canary whatever its weight.
    #[arg(long, env = "LOADGEN_HEADER", value_parser = parse_header)]
    pub header: Option<RequestHeader>,

    /// How often the progress line is printed; hidden because only tests need it shorter.
    #[arg(long, env = "LOADGEN_PROGRESS_INTERVAL", default_value = "5s", value_parser = parse_positive_duration, hide = true)]
    pub progress_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// One bounded run (--duration or --requests), then the report.
    Run,
    /// Steady load until SIGTERM, with health endpoints and Prometheus metrics.
    Serve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThinkDistribution {
    /// Exponentially distributed around the mean, as independent users arrive.
    Exponential,
    /// Uniform between half and one and a half times the mean.
    Uniform,
}

impl Args {
    /// Refuses flags that mean nothing in the chosen mode, as clap refuses a bad value (exit 2):
    /// a serve that silently ignored `--duration` would run forever against the user's intent.
    pub fn check(&self) -> Result<(), clap::Error> {
        if self.mode != Mode::Serve {
            if self.header.is_some() {
                return Err(<Args as clap::CommandFactory>::command().error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--header is for --mode serve (a steady load, e.g. on a canary)",
                ));
            }
            return Ok(());
        }
        let bounded = [
            ("--duration", self.duration.is_some()),
            ("--requests", self.requests.is_some()),
            ("--json", self.json.is_some()),
            ("--html", self.html.is_some()),
        ];
        match bounded.iter().find(|(_, given)| *given) {
            None => Ok(()),
            Some((flag, _)) => Err(<Args as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "{flag} bounds a run; --mode serve runs until SIGTERM, so leave it out \
                     (or use --mode run)"
                ),
            )),
        }
    }

    /// The serve mode's configuration; a missing seed is drawn now.
    pub fn into_serve_config(self) -> ServeConfig {
        ServeConfig {
            url: self.url,
            users: self.users,
            think: think(self.think_distribution, self.think),
            mix: self.mix,
            ramp_up: self.ramp_up,
            seed: self.seed.unwrap_or_else(rand::random),
            card: self.card,
            request_timeout: self.timeout,
            header: self.header,
        }
    }

    /// The run's configuration; a missing seed is drawn now so the report can print it.
    pub fn into_config(self) -> Config {
        let limit = match (self.requests, self.duration) {
            (Some(n), _) => Limit::Requests(n),
            (None, Some(d)) => Limit::Duration(d),
            (None, None) => Limit::Duration(DEFAULT_DURATION),
        };
        let think = think(self.think_distribution, self.think);
        Config {
            url: self.url,
            users: self.users,
            limit,
            think,
            mix: self.mix,
            ramp_up: self.ramp_up,
            seed: self.seed.unwrap_or_else(rand::random),
            card: self.card,
            request_timeout: self.timeout,
            progress_every: (!self.quiet).then_some(self.progress_interval),
        }
    }
}

fn think(distribution: ThinkDistribution, mean: Duration) -> Think {
    match distribution {
        ThinkDistribution::Exponential => Think::Exponential(mean),
        ThinkDistribution::Uniform => Think::Uniform(mean),
    }
}

fn parse_header(text: &str) -> Result<RequestHeader, String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!(
            "{text:?} is not a header; write it like \"x-canary: always\""
        ));
    };
    let name = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
    let value = reqwest::header::HeaderValue::from_str(value.trim())
        .map_err(|_| format!("{:?} is not a header value", value.trim()))?;
    Ok(RequestHeader { name, value })
}

fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text)
        .map_err(|e| format!("{text:?} is not a URL ({e}); write it like http://127.0.0.1:8080"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must start with http:// or https://"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?} must be a base URL without ?query or #fragment"
        ));
    }
    Ok(url)
}

fn parse_html_path(text: &str) -> Result<PathBuf, String> {
    if text == "-" {
        return Err(
            "the HTML report goes to a file, e.g. --html report.html (only --json takes -)".into(),
        );
    }
    Ok(PathBuf::from(text))
}

fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration; write it like 250ms, 30s, 5m or 1h"))
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(text)?;
    if duration.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(duration)
}

/// Checked with the same rules the orders service applies, so a typo fails here and not as
/// thousands of 422s; the expiry is always a few years ahead.
fn parse_card(text: &str) -> Result<Card, String> {
    let exp_year = u32::try_from(Utc::now().year()).unwrap_or(2025) + 3;
    let input = CardInput {
        card_number: text.to_string(),
        exp_month: 12,
        exp_year,
        cvc: "123".into(),
    };
    let valid = input
        .validate()
        .map_err(|e| format!("card {text:?} is not usable: {e}"))?;
    Ok(Card {
        number: valid.number,
        exp_month: valid.exp_month,
        exp_year: valid.exp_year,
        cvc: valid.cvc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("storefront-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_brief() {
        let config = parse(&[]).unwrap().into_config();
        assert_eq!(config.users, 10);
        assert_eq!(config.limit, Limit::Duration(Duration::from_secs(30)));
        assert_eq!(config.think, Think::Exponential(Duration::from_millis(100)));
        assert_eq!(config.mix, Mix::default());
        assert_eq!(config.ramp_up, Duration::ZERO);
        assert_eq!(config.card.number, "4242424242424242");
        assert_eq!(config.progress_every, Some(Duration::from_secs(5)));
    }

    #[test]
    fn requests_limit_and_flags_are_read() {
        let args = parse(&[
            "--url",
            "http://shop.test:9000/",
            "--users",
            "3",
            "--requests",
            "500",
            "--think",
            "0",
            "--think-distribution",
            "uniform",
            "--mix",
            "browse=1,checkout=1",
            "--ramp-up",
            "2s",
            "--json",
            "-",
            "--html",
            "report.html",
            "--quiet",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(args.json, Some(PathBuf::from("-")));
        assert_eq!(args.html, Some(PathBuf::from("report.html")));
        let config = args.into_config();
        assert_eq!(config.url.as_str(), "http://shop.test:9000/");
        assert_eq!(config.limit, Limit::Requests(500));
        assert_eq!(config.think, Think::Uniform(Duration::ZERO));
        assert_eq!(config.seed, 7);
        assert_eq!(config.ramp_up, Duration::from_secs(2));
        assert!(config.progress_every.is_none());
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            &["--mix", "browse=1,fly=2"][..],
            &["--mix", "browse=0"],
            &["--duration", "soon"],
            &["--duration", "0s"],
            &["--users", "0"],
            &["--requests", "0"],
            &["--url", "ftp://x"],
            &["--url", "not a url"],
            &["--card", "4242424242424241"],
            &["--duration", "5s", "--requests", "10"],
            &["--html", "-"],
        ] {
            let err = parse(args).unwrap_err();
            assert_ne!(err.kind(), ErrorKind::DisplayHelp, "{args:?}");
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }

    #[test]
    fn every_flag_can_be_set_from_the_environment() {
        let command = <Args as clap::CommandFactory>::command();
        let missing: Vec<&str> = command
            .get_arguments()
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|a| a.get_env().is_none())
            .map(|a| a.get_id().as_str())
            .collect();
        assert!(missing.is_empty(), "flags without env: {missing:?}");
    }

    #[test]
    fn serve_mode_reads_its_address_and_the_load_settings() {
        let args = parse(&[
            "--mode",
            "serve",
            "--listen",
            "127.0.0.1:9100",
            "--users",
            "4",
            "--think",
            "1s",
        ])
        .unwrap();
        args.check().unwrap();
        assert_eq!(args.mode, Mode::Serve);
        assert_eq!(args.listen, "127.0.0.1:9100".parse().unwrap());
        let config = args.into_serve_config();
        assert_eq!(config.users, 4);
        assert_eq!(config.think, Think::Exponential(Duration::from_secs(1)));
    }

    #[test]
    fn serve_mode_refuses_the_flags_that_bound_a_run() {
        for extra in [
            ["--duration", "10s"],
            ["--requests", "5"],
            ["--json", "-"],
            ["--html", "r.html"],
        ] {
            let args = parse(&[&["--mode", "serve"][..], &extra[..]].concat()).unwrap();
            let err = args.check().unwrap_err();
            assert_eq!(err.exit_code(), 2, "{extra:?}");
            assert!(err.to_string().contains(extra[0]), "{err}");
        }
        parse(&["--duration", "10s"]).unwrap().check().unwrap();
    }

    #[test]
    fn mix_errors_reach_the_user() {
        let err = parse(&["--mix", "browse=1,fly=2"]).unwrap_err().to_string();
        assert!(err.contains("unknown operation \"fly\""), "{err}");
    }

    #[test]
    fn a_header_is_name_colon_value_and_only_for_serve() {
        let args = parse(&["--mode", "serve", "--header", "x-canary:  always"]).unwrap();
        let header = args.header.clone().unwrap();
        assert_eq!(
            (header.name.as_str(), header.value.to_str().unwrap()),
            ("x-canary", "always")
        );
        assert!(args.check().is_ok());
        for bad in ["x-canary", "bad name: 1", ": v"] {
            let err = parse(&["--mode", "serve", "--header", bad])
                .unwrap_err()
                .to_string();
            assert!(err.contains("header"), "{bad}: {err}");
        }
        let run = parse(&["--header", "x-canary: always"]).unwrap();
        let err = run.check().unwrap_err().to_string();
        assert!(err.contains("--header is for --mode serve"), "{err}");
    }
}
