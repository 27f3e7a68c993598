//! The Docker Compose mode: `compose.yaml` from the offline images of the same release
//! binaries. No Docker engine here, or the images not built, makes a skipped row with the
//! reason; a stack that fails once it is up fails the benchmark.

use std::path::Path;

use super::load::{lifted_limits, loadgen, rss_mib};
use super::report::{Mode, Row, result};
use super::{BenchError, RunModesOptions, SERVICES};
use crate::engine::{Engine, EngineError, workspace_root};
use crate::stack::{Down, Stack, StackOptions};

pub(super) async fn measure(options: &RunModesOptions, work: &Path) -> Result<Row, BenchError> {
    let mode = Mode::Compose;
    let root = workspace_root();
    let engine = match Engine::start(&root).await {
        Ok(engine) => engine,
        Err(EngineError::Unavailable(why)) => return Ok(Row::skipped(mode, why)),
        Err(e) => return Err(e.into()),
    };
    let gateway_image = format!("{}/gateway:{}", options.registry, options.version);
    if engine
        .docker_out(&["image", "inspect", "--format", "{{.Id}}", &gateway_image])
        .await
        .is_err()
    {
        return Ok(Row::skipped(
            mode,
            format!("the image {gateway_image} is not built here; run `make images` first"),
        ));
    }
    let secrets = work.join("secrets");
    engine
        .script(
            "scripts/compose-secrets.sh",
            &[],
            &[("STOREFRONT_SECRETS", &secrets.display().to_string())],
        )
        .await?;
    let mut env = lifted_limits();
    env.push(("RUST_LOG".into(), "warn".into()));
    let stack = Stack::new(
        engine,
        StackOptions {
            project: format!(
                "storefront-bench-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            registry: options.registry.clone(),
            version: options.version.clone(),
            secrets,
            gateway_port: storefront_testkit::free_port(),
            jaeger_port: storefront_testkit::free_port(),
            env,
        },
    );
    eprintln!(
        "[bench] Docker Compose: up --wait ({} images {})",
        options.registry, options.version
    );
    let outcome = match stack.up().await {
        Ok(elapsed) => {
            let gateway = stack.gateway_url();
            let run = loadgen(options, mode.label(), &gateway, work).await;
            let mut pids = Vec::new();
            for s in SERVICES {
                if let Ok(pid) = stack.pid(s).await {
                    pids.push(pid);
                }
            }
            run.map(|v| (v, rss_mib(pids), elapsed.as_secs_f64()))
        }
        Err(e) => Err(BenchError::Engine(e)),
    };
    eprintln!("[bench] Docker Compose: down --volumes");
    stack.down(Down::Volumes).await?;
    let (value, rss, start_secs) = outcome?;
    Ok(Row::Measured(result(mode, value, rss, start_secs)))
}
