//! The command line of a service binary. A service is configured by its environment, so the
//! only arguments are `--help` and `--version`; anything else is refused before the service
//! tries to start, instead of being ignored.

/// What a binary says about itself.
#[derive(Debug, Clone, Copy)]
pub struct Info {
    /// The service name, as in logs, traces and metrics.
    pub name: &'static str,
    /// One line on what the service does.
    pub about: &'static str,
    /// The crate version, `env!("CARGO_PKG_VERSION")` of the binary.
    pub version: &'static str,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Run,
    /// Print this to stdout and exit 0.
    Help(String),
    /// Print this to stdout and exit 0.
    Version(String),
    /// Print this to stderr and exit 2.
    Refused(String),
}

/// The settings every service reads (the service's own are documented with its `Config`).
const COMMON_SETTINGS: [(&str, &str); 15] = [
    (
        "STOREFRONT_HTTP_ADDR",
        "listen address, default 0.0.0.0:8080",
    ),
    (
        "STOREFRONT_JWT_SECRET",
        "HS256 key shared by every service, 32 bytes or more (required)",
    ),
    ("REDIS_URL", "Redis, where the token denylist lives"),
    (
        "STOREFRONT_MAX_BODY_BYTES",
        "largest request body, default 65536",
    ),
    (
        "STOREFRONT_REQUEST_TIMEOUT",
        "a handler running longer answers 503, default 10s",
    ),
    (
        "SHUTDOWN_DELAY_SECONDS",
        "on SIGTERM, keep serving this long while /readyz says draining, default 0",
    ),
    (
        "SHUTDOWN_DRAIN_SECONDS",
        "then wait at most this long for requests in flight, default 10",
    ),
    ("RUST_LOG", "log filter, default info"),
    ("OTEL_SERVICE_NAME", "the service name in traces"),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "key=value,... added to every span",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "where traces go (http:// or https://); unset, nothing is exported",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "the traces endpoint itself, over the one above",
    ),
    (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "http/protobuf (default) or grpc",
    ),
    ("OTEL_TRACES_SAMPLER", "e.g. parentbased_traceidratio"),
    ("OTEL_TRACES_SAMPLER_ARG", "the sampler's ratio"),
];

pub fn parse(info: &Info, args: impl IntoIterator<Item = String>) -> Invocation {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return Invocation::Run;
    };
    let extra = args.next();
    match (first.as_str(), extra) {
        ("-h" | "--help" | "help", None) => Invocation::Help(help(info)),
        ("-V" | "--version", None) => {
            Invocation::Version(format!("storefront-{} {}\n", info.name, info.version))
        }
        (_, Some(extra)) if first.starts_with('-') => Invocation::Refused(format!(
            "storefront-{}: unexpected argument {extra:?} after {first:?}; \
             a service takes its settings from the environment (see --help)\n",
            info.name
        )),
        _ => Invocation::Refused(format!(
            "storefront-{}: unknown argument {first:?}; a service takes its settings from the \
             environment (see --help)\n",
            info.name
        )),
    }
}

fn help(info: &Info) -> String {
    let width = COMMON_SETTINGS
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let mut text = format!(
        "storefront-{name} {version}: {about}\n\n\
         Usage: storefront-{name} [--help | --version]\n\n\
         Configured by environment variables. Settings every service reads:\n",
        name = info.name,
        version = info.version,
        about = info.about,
    );
    for (name, what) in COMMON_SETTINGS {
        text.push_str(&format!("  {name:width$}  {what}\n"));
    }
    text.push_str(&format!(
        "\nThe service's own settings are documented on its Config in \
         services/{}/src/lib.rs and in its README.\n\
         Endpoints: /healthz (alive), /readyz (ready, or 503 with the failing check), \
         /metrics (Prometheus).\n",
        info.name
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: Info = Info {
        name: "cart",
        about: "the shopping cart",
        version: "1.2.3",
    };

    fn run(args: &[&str]) -> Invocation {
        parse(&INFO, args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn no_arguments_starts_the_service() {
        assert_eq!(run(&[]), Invocation::Run);
    }

    #[test]
    fn help_names_the_service_its_settings_and_where_the_rest_are() {
        for flag in ["--help", "-h", "help"] {
            let Invocation::Help(text) = run(&[flag]) else {
                panic!("{flag} is not help");
            };
            assert!(text.starts_with("storefront-cart 1.2.3: the shopping cart"));
            assert!(text.contains("STOREFRONT_JWT_SECRET"));
            assert!(text.contains("SHUTDOWN_DRAIN_SECONDS"));
            assert!(text.contains("services/cart/src/lib.rs"));
        }
    }

    #[test]
    fn version_is_one_line() {
        assert_eq!(
            run(&["--version"]),
            Invocation::Version("storefront-cart 1.2.3\n".into())
        );
        assert_eq!(run(&["-V"]), run(&["--version"]));
    }

    #[test]
    fn anything_else_is_refused_with_the_argument_named() {
        let Invocation::Refused(text) = run(&["--port=9000"]) else {
            panic!("not refused");
        };
        assert!(text.contains("\"--port=9000\""), "{text}");
        assert!(text.contains("--help"), "{text}");
        assert!(matches!(run(&["--help", "x"]), Invocation::Refused(_)));
        assert!(matches!(run(&["serve"]), Invocation::Refused(_)));
    }
}
