//! `dalaba-agent`: the daemon on a speaker terminal, and its installer tools.
//!
//! ```text
//! dalaba-agent run [--config FILE] [--state-dir DIR]
//! dalaba-agent check-config [FILE]   # default /etc/dalaba/agent.toml
//! dalaba-agent devices
//! dalaba-agent self-test [--config FILE]  # each relay clicks, a tone plays
//! dalaba-agent enrol --controller wss://HOST:8443/agent/ws --token TOKEN [--pin SHA256]
//! ```

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dalaba_firmware_config::{Config, ConfigError};

#[derive(Parser)]
#[command(name = "dalaba-agent", version, about = "Dalaba speaker terminal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: connect to the controller and stay connected.
    Run {
        /// The configuration file.
        #[arg(long, default_value = "/etc/dalaba/agent.toml")]
        config: PathBuf,
        /// Identity key, enrolled id and command sequence live here.
        #[arg(long, default_value = "/var/lib/dalaba/state")]
        state_dir: PathBuf,
    },
    /// Check a configuration file: print the effective configuration, or every error.
    CheckConfig {
        /// The file.
        #[arg(default_value = "/etc/dalaba/agent.toml")]
        file: PathBuf,
    },
    /// List the sound output devices (names for `audio.device = "cpal:NAME"`).
    Devices,
    /// Set up this terminal from the controller's address and a one-time token: confirm
    /// the controller's certificate, write a checked configuration, run the self-test.
    Enrol(Box<dalaba_agent::enrol::Options>),
    /// Test the speaker before leaving the pole: each relay channel clicks on, a 1 s tone
    /// plays through the amplifier, everything is switched off. Stop the service first
    /// (systemctl stop dalaba-agent): the sound card and the relay port are its while it runs.
    SelfTest {
        /// The configuration file.
        #[arg(long, default_value = "/etc/dalaba/agent.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Run { config, state_dir } => run(&config, &state_dir),
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => writeln!(out, "# {}: OK\n{}", file.display(), config.to_toml())
                .map_err(anyhow::Error::from),
            Err(ConfigError::Read(e)) => {
                Err(anyhow::anyhow!("{}: cannot read: {e}", file.display()))
            }
            Err(e) => {
                eprintln!("{}: invalid configuration", file.display());
                for line in e.lines() {
                    eprintln!("  {line}");
                }
                return ExitCode::FAILURE;
            }
        },
        Command::SelfTest { config } => self_test(&config),
        Command::Enrol(options) => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| {
                runtime.block_on(dalaba_agent::enrol::run(
                    &options,
                    &mut std::io::stdin().lock(),
                    &mut std::io::stdout(),
                ))
            }),
        Command::Devices => dalaba_audio::sink::output_devices()
            .map_err(anyhow::Error::from)
            .and_then(|devices| {
                for (name, description) in devices {
                    writeln!(out, "{name}\t{description}")?;
                }
                Ok(())
            }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn self_test(config: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config).map_err(|e| match e {
        ConfigError::Read(e) => anyhow::anyhow!("{}: cannot read: {e}", config.display()),
        e => anyhow::anyhow!(
            "{}: invalid configuration (dalaba-agent check-config lists the errors): {e}",
            config.display()
        ),
    })?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(dalaba_agent::self_test::run(
        &config,
        &mut std::io::stdout(),
    ))
}

fn run(config: &std::path::Path, state_dir: &std::path::Path) -> anyhow::Result<()> {
    // The log as the installed file's [log] says (a file that does not load is reported
    // by the daemon below, with the defaults' log); RUST_LOG, if set, wins.
    let log = Config::load(config).map(|c| c.log).ok();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(log.as_ref().map_or("info", |l| l.level.as_str()))
    });
    let fmt = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not in log files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter);
    match log.map(|l| l.format) {
        Some(dalaba_firmware_config::LogFormat::Json) => fmt.json().init(),
        _ => fmt.init(),
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // Ctrl-C (SIGINT) or SIGTERM (systemd, the demo): stop as after Ctrl-C. Both are
        // caught from here on, before the daemon starts: a signal that comes while it is
        // busy waits for it rather than killing the process (relays left on).
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        dalaba_agent::daemon::run(config, state_dir, async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
        .await
    })
}
