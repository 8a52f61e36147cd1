//! `dalaba-controller`: the central service.
//!
//! ```text
//! dalaba-controller serve [--data-dir DIR] [--listen ADDR]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "dalaba-controller",
    version,
    about = "Dalaba broadcast controller"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller.
    Serve {
        /// Database, keys and media live here.
        #[arg(long, default_value = "dalaba-data")]
        data_dir: PathBuf,
        /// Address for the API, the console and the agents' endpoint.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve { data_dir, listen } => {
            let (state, first) = dalaba_controller::open(&data_dir)?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let addr = listener.local_addr()?;
            // Machine-readable first lines, for scripts and tests.
            println!("listening on http://{addr}");
            println!("agent endpoint ws://{addr}/agent/ws");
            println!(
                "controller public key {}",
                state.identity.signer.public_key()
            );
            if let Some(password) = first.admin_password {
                println!("first start: user admin, password {password} (shown once; change it)");
            }
            dalaba_controller::serve(listener, state, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
        }
    }
}
