//! `dalaba-conformance`: checks an agent against PROTOCOL.md and prints the table.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dalaba_conformance::agent_checks::{AgentUnderTest, check_agent};

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Mode::Agent {
            command,
            work,
            wait_s,
        } => {
            let temp;
            let work = match work {
                Some(w) => w,
                None => {
                    temp = std::env::temp_dir()
                        .join(format!("dalaba-conformance-{}", std::process::id()));
                    temp
                }
            };
            let report = check_agent(&AgentUnderTest {
                command,
                work: work.clone(),
                wait: Duration::from_secs(wait_s),
            })
            .await?;
            print!("{report}");
            println!("\nthe agent's log: {}", work.join("agent.log").display());
            let failed = report.failed();
            if !failed.is_empty() {
                eprintln!("failed: {}", failed.join(", "));
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
