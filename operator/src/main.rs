//! Command line entry: `crd` prints the CRD, `render` prints a platform's objects offline,
//! `run` starts the controller.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use storefront_operator::build::secrets::RandomSecrets;

#[derive(Parser)]
#[command(
    name = "storefront-operator",
    version,
    about = "Runs a Storefront e-commerce platform from one EcommercePlatform resource"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the EcommercePlatform CustomResourceDefinition as YAML.
    Crd,
    /// Print every object the operator would apply for the platforms in a file, without a cluster.
    Render {
        /// YAML file holding one or more EcommercePlatform documents (- for stdin).
        #[arg(long, short)]
        file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => print!("{}", storefront_operator::crd::crd_yaml()?),
        Command::Render { file } => {
            let yaml = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let out = storefront_operator::render::render_yaml(&yaml, &mut RandomSecrets)
                .with_context(|| format!("rendering {}", file.display()))?;
            print!("{out}");
        }
    }
    Ok(())
}
