//! `dalaba-conformance`: checks an agent or a controller against PROTOCOL.md and prints
//! the table.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dalaba_conformance::agent_checks::{AgentUnderTest, check_agent};
use dalaba_conformance::controller_checks::{ControllerUnderTest, check_controller};
use dalaba_conformance::report::Report;

#[derive(Parser)]
#[command(
    version,
    about = "Checks an implementation against every MUST of PROTOCOL.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Play the controller against an agent.
    Agent {
        /// The agent's command line, run with `sh -c`: `{config}` becomes the
        /// configuration file the kit writes (Dalaba's format), `{state}` the state
        /// directory. Example: `dalaba-agent run --config {config} --state-dir {state}`.
        #[arg(long)]
        command: String,
        /// Where to put the configuration, state and the agent's log (`agent.log`);
        /// a fresh temporary directory if not given.
        #[arg(long)]
        work: Option<PathBuf>,
        /// How long to wait for anything the agent should do, in seconds.
        #[arg(long, default_value_t = 15)]
        wait_s: u64,
    },
    /// Play an agent against a Dalaba controller (its agents' listener and operator API).
    Controller {
        /// The operators' API, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        api: String,
        /// The admin's password.
        #[arg(long)]
        password: String,
        /// The agents' endpoint, e.g. `wss://127.0.0.1:8443/agent/ws`.
        #[arg(long)]
        agents_url: String,
        /// How long to wait for anything the controller should do, in seconds.
        #[arg(long, default_value_t = 15)]
        wait_s: u64,
    },
}

/// Prints the table; exits 1 if a row failed.
fn finish(report: &Report) {
    print!("{report}");
    let failed = report.failed();
    if !failed.is_empty() {
        eprintln!("failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Mode::Agent {
            command,
            work,
            wait_s,
        } => {
            let work = work.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("dalaba-conformance-{}", std::process::id()))
            });
            let report = check_agent(&AgentUnderTest {
                command,
                work: work.clone(),
                wait: Duration::from_secs(wait_s),
            })
            .await?;
            println!("the agent's log: {}\n", work.join("agent.log").display());
            finish(&report);
        }
        Mode::Controller {
            api,
            password,
            agents_url,
            wait_s,
        } => {
            let report = check_controller(&ControllerUnderTest {
                api,
                password,
                agents_url,
                wait: Duration::from_secs(wait_s),
            })
            .await?;
            finish(&report);
        }
    }
    Ok(())
}
