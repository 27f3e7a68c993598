//! Storefront's load generator: virtual users that register, log in and then browse, view their
//! cart, add to it and check out in a weighted mix against the public API, with per-operation
//! throughput and latency percentiles. Expected business answers (402, 409, 429) are counted
//! apart from errors (transport failures, 5xx and any other unexpected status). `run` mode is one
//! bounded run with a report; `serve` mode is the same load with no end, for a cluster.

pub mod cli;
pub mod metrics;
pub mod mix;
pub mod pacing;
pub mod report;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod stats;
pub mod timeline;

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;

pub use cli::{Args, Mode};
pub use run::{Config, Limit, RunError, RunOutcome, StopReason, run};
pub use serve::{RequestHeader, ServeConfig, ServeError, serve};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot write the JSON summary to {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the HTML report to {path}: {source}")]
    Html {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot render the JSON summary: {0}")]
    Render(#[from] serde_json::Error),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Where `--json` goes. The file is created before the run so a bad path fails in seconds, not
/// after a long run whose figures would then be lost.
enum JsonSink {
    None,
    Stdout,
    File(PathBuf, File),
}

impl JsonSink {
    fn open(path: Option<PathBuf>) -> Result<JsonSink, AppError> {
        match path {
            None => Ok(JsonSink::None),
            Some(p) if p.as_os_str() == "-" => Ok(JsonSink::Stdout),
            Some(p) => match File::create(&p) {
                Ok(file) => Ok(JsonSink::File(p, file)),
                Err(source) => Err(AppError::Json { path: p, source }),
            },
        }
    }
}

/// Where `--html` goes, created before the run for the same reason as the JSON file.
struct HtmlSink(Option<(PathBuf, File)>);

impl HtmlSink {
    fn open(path: Option<PathBuf>) -> Result<HtmlSink, AppError> {
        match path {
            None => Ok(HtmlSink(None)),
            Some(p) => match File::create(&p) {
                Ok(file) => Ok(HtmlSink(Some((p, file)))),
                Err(source) => Err(AppError::Html { path: p, source }),
            },
        }
    }

    fn write(self, outcome: &RunOutcome) -> Result<(), AppError> {
        let Some((path, mut file)) = self.0 else {
            return Ok(());
        };
        file.write_all(report::html(outcome).as_bytes())
            .map_err(|source| AppError::Html { path, source })
    }
}

/// Runs what the command line asks for: the load, then the table (on stdout, or on stderr when
/// the JSON goes to stdout), the JSON summary and the HTML report.
pub async fn execute(
    args: Args,
    interrupt: impl Future<Output = ()>,
) -> Result<RunOutcome, AppError> {
    let sink = JsonSink::open(args.json.clone())?;
    let html = match HtmlSink::open(args.html.clone()) {
        Ok(html) => html,
        Err(e) => {
            if let JsonSink::File(path, _) = &sink {
                let _ = std::fs::remove_file(path);
            }
            return Err(e);
        }
    };
    let outcome = match run(args.into_config(), interrupt).await {
        Ok(outcome) => outcome,
        Err(e) => {
            // An empty summary file would look like a run that produced nothing.
            if let JsonSink::File(path, _) = &sink {
                let _ = std::fs::remove_file(path);
            }
            if let Some((path, _)) = &html.0 {
                let _ = std::fs::remove_file(path);
            }
            return Err(e.into());
        }
    };
    // The report first: a failing JSON write must not leave the created HTML file empty.
    html.write(&outcome)?;
    let table = report::table(&outcome);
    match sink {
        JsonSink::None => print!("{table}"),
        JsonSink::Stdout => {
            eprint!("{table}");
            println!("{}", report::json(&outcome)?);
        }
        JsonSink::File(path, mut file) => {
            print!("{table}");
            let json = report::json(&outcome)?;
            file.write_all(json.as_bytes())
                .and_then(|()| file.write_all(b"\n"))
                .map_err(|source| AppError::Json { path, source })?;
        }
    }
    Ok(outcome)
}
