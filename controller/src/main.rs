//! `dalaba-controller`: the central service.
//!
//! ```text
//! dalaba-controller serve [--config FILE] [--data-dir DIR] [--listen ADDR] [--agent-listen ADDR] [--tls | --tls-cert PEM --tls-key PEM]
//! dalaba-controller check-config FILE
//! dalaba-controller demo  [--data-dir DIR] [--listen ADDR] [--agent-listen ADDR]   # plus three demo speakers
//! dalaba-controller admin reset-password NAME [--data-dir DIR]
//! dalaba-controller admin add-user NAME --role ROLE [--scope CODE]... [--data-dir DIR]
//! dalaba-controller admin show-pin [--data-dir DIR]
//! dalaba-controller backup --to FILE [--data-dir DIR | --config FILE]   # while it runs
//! dalaba-controller restore --from FILE --data-dir NEW_DIR
//! ```
//!
//! Commands that work on a data directory take `--data-dir`, or `--config` for the
//! `data_dir` a configuration file names (`DALABA_DATA_DIR`, `DALABA_CONFIG`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use dalaba_controller::config::{ControllerConfig, LiveWrites, LogFormat, OperatorsTls};

/// The configuration file at `path`, checked; the defaults without one.
fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<ControllerConfig> {
    let Some(path) = path else {
        return Ok(ControllerConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    ControllerConfig::parse(&text).map_err(|errors| {
        anyhow::anyhow!(
            "{}: {} (dalaba-controller check-config {} lists them)",
            path.display(),
            errors.join("; "),
            path.display()
        )
    })
}

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
        /// The configuration file (`check-config` reads it); the flags below and
        /// `DALABA_*` variables override what it says.
        #[arg(long, env = "DALABA_CONFIG")]
        config: Option<PathBuf>,
        /// Database, keys and media live here (default dalaba-data).
        #[arg(long, env = "DALABA_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Address for the API and the console (plain HTTP unless --tls or --tls-cert;
        /// or put a TLS reverse proxy in front for remote operators; default
        /// 127.0.0.1:8080).
        #[arg(long, env = "DALABA_LISTEN")]
        listen: Option<SocketAddr>,
        /// Address for the agents (TLS with the controller's own certificate, which agents
        /// pin); it serves only the agents' endpoint and media (default 0.0.0.0:8443).
        #[arg(long, env = "DALABA_AGENT_LISTEN")]
        agent_listen: Option<SocketAddr>,
        /// Serve the console and API over HTTPS with the controller's own certificate
        /// (browsers ask to trust it once).
        #[arg(long, conflicts_with = "tls_cert")]
        tls: bool,
        /// Serve the console and API over HTTPS with this certificate (PEM, leaf first).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The key of --tls-cert (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Frames written to each speaker at once in a large call, by audience:
        /// `1000=2,4000=3` is two 20 ms frames a write from 1,000 speakers, three from
        /// 4,000 (fewer writes, TLS records and wake-ups per speaker for 20 ms more delay
        /// per frame held; `[live] frames_per_write` in the file). Empty: one a write.
        #[arg(long, env = "DALABA_LIVE_FRAMES_PER_WRITE", value_parser = LiveWrites::parse)]
        live_frames_per_write: Option<LiveWrites>,
    },
    /// Check a configuration file: print the configuration in effect, or every error with
    /// its line (exit status 2).
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
    /// Administration on this machine (the controller may be running or not).
    Admin {
        #[command(subcommand)]
        action: Admin,
    },
    /// Copy the data directory (database, keys and certificate, media) into one tar
    /// file, while the controller runs.
    Backup {
        /// The file to write (replaced once the copy is complete).
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Restore a backup into a new (or empty) data directory, after checking every file.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Run the controller with three demo speaker agents (WAV sinks) beside it.
    Demo {
        /// Database, keys, media, and the demo speakers' files live here.
        #[arg(long, default_value = "dalaba-demo")]
        data_dir: PathBuf,
        /// Address for the API and the console.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Address for the demo speakers (TLS).
        #[arg(long, default_value = "127.0.0.1:8443")]
        agent_listen: SocketAddr,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Give user NAME a new random password (printed once), enable the account and end
    /// its sessions: for an admin who is locked out.
    ResetPassword {
        /// The user.
        name: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Make a user with a random password (printed once).
    AddUser {
        /// Login name.
        name: String,
        /// admin, operator, village_head or viewer.
        #[arg(long)]
        role: String,
        /// An area code the user works in (operators: a county or township; a village
        /// head: one village); repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Print what agents pin: the certificate's SHA-256 and the command key.
    ShowPin {
        #[command(flatten)]
        data_dir: DataDir,
    },
}

/// Where a command finds the controller's data: `--data-dir`, else the `data_dir` of
/// `--config`, else `dalaba-data`.
#[derive(clap::Args)]
struct DataDir {
    /// The controller's data directory.
    #[arg(long, env = "DALABA_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The controller's configuration file (for its data_dir).
    #[arg(long, env = "DALABA_CONFIG")]
    config: Option<PathBuf>,
}

impl DataDir {
    fn path(self) -> anyhow::Result<PathBuf> {
        match self.data_dir {
            Some(dir) => Ok(dir),
            None => Ok(load_config(self.config.as_deref())?.data_dir),
        }
    }

    /// The directory, for a command that writes in it: as root, only a directory root
    /// owns (files root made in the service's directory would lock the service out).
    fn writable(self) -> anyhow::Result<PathBuf> {
        use std::os::unix::fs::MetadataExt as _;
        let dir = self.path()?;
        if let Ok(meta) = std::fs::metadata(&dir)
            && nix::unistd::geteuid().is_root()
            && meta.uid() != 0
        {
            let uid = nix::unistd::Uid::from_raw(meta.uid());
            let owner = nix::unistd::User::from_uid(uid)
                .ok()
                .flatten()
                .map_or_else(|| meta.uid().to_string(), |u| u.name);
            anyhow::bail!(
                "{} belongs to {owner}: run this as {owner} (sudo -u {owner} dalaba-controller …), so the files it writes stay readable by the service",
                dir.display()
            );
        }
        Ok(dir)
    }
}

/// Connections waiting to be accepted, per listener (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default). After a restart a county's speakers connect at
/// once; a queue of 128 (the usual default) dropped the rest's SYNs, and each of those
/// waited out TCP's retransmissions (1 s, 3 s, 7 s …) before it was heard.
const ACCEPT_QUEUE: u32 = 4096;

/// Listens on `addr`, or says which address could not be had, set by which flag, and
/// what to do.
async fn bind(addr: SocketAddr, flag: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let listen = || -> std::io::Result<tokio::net::TcpListener> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(ACCEPT_QUEUE)
    };
    listen().with_context(|| {
        format!(
            "cannot listen on {addr} ({flag}): another program may hold it (`ss -ltnp 'sport = :{}'` shows which); stop it, or give another address with {flag}",
            addr.port()
        )
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Serve { config, .. } => load_config(config.as_deref())?,
        _ => ControllerConfig::default(),
    };
    // RUST_LOG, if set, over the file's level.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    let log = tracing_subscriber::fmt()
        // Colour codes only for a terminal, not in log files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => log.init(),
        LogFormat::Json => log.json().init(),
    }
    match cli.command {
        Command::Serve {
            config: _,
            data_dir,
            listen,
            agent_listen,
            tls,
            tls_cert,
            tls_key,
            live_frames_per_write,
        } => {
            for (older, frames) in [
                ("DALABA_LIVE_PAIRS_ABOVE", 2),
                ("DALABA_LIVE_TRIPLES_ABOVE", 3),
            ] {
                if let Ok(n) = std::env::var(older) {
                    anyhow::bail!(
                        "{older} is no longer read: set DALABA_LIVE_FRAMES_PER_WRITE={n}={frames} instead (from {n} speakers, {frames} frames a write)"
                    );
                }
            }
            // Flags and variables over the file, the file over the defaults.
            let data_dir = data_dir.unwrap_or(config.data_dir);
            let (listen, listen_from) = match listen {
                Some(a) => (a, "--listen"),
                None => (config.listen, "listen in the configuration"),
            };
            let (agent_listen, agent_from) = match agent_listen {
                Some(a) => (a, "--agent-listen"),
                None => (config.agent_listen, "agent_listen in the configuration"),
            };
            let own_tls = match (tls_cert, tls_key, tls, config.operators_tls) {
                (Some(cert), Some(key), _, _) => OperatorsTls::Files { cert, key },
                (_, _, true, _) => OperatorsTls::Own,
                (_, _, false, from_file) => from_file,
            };
            // What can fail comes before the data directory is opened, so a start that
            // fails makes nothing (a first start's admin password is shown by the start
            // that works).
            let listener = bind(listen, listen_from).await?;
            let agents = bind(agent_listen, agent_from).await?;
            let own_cert = match &own_tls {
                OperatorsTls::Files { cert, key } => {
                    Some(Arc::new(dalaba_controller::tls::load_files(cert, key)?))
                }
                _ => None,
            };
            let (mut state, first) = dalaba_controller::open(&data_dir)?;
            state.live = live_frames_per_write.unwrap_or(config.live);
            let operators_tls = match (own_cert, own_tls) {
                (Some(cert), _) => Some(cert),
                (None, OperatorsTls::Own) => Some(Arc::clone(&state.tls)),
                _ => None,
            };
            let addr = listener.local_addr()?;
            let scheme = if operators_tls.is_some() {
                "https"
            } else {
                "http"
            };
            // Machine-readable first lines, for scripts and tests.
            println!("listening on {scheme}://{addr}");
            let agent_addr = agents.local_addr()?;
            println!("agent endpoint wss://{agent_addr}/agent/ws");
            println!("tls certificate sha256 {}", state.tls.fingerprint);
            println!(
                "controller public key {}",
                state.identity.signer.public_key()
            );
            if let Some(password) = first.admin_password {
                println!("first start: user admin, password {password} (shown once; change it)");
            } else if first.admin_from_env {
                println!("first start: user admin, password from DALABA_ADMIN_PASSWORD");
            }
            let listeners = dalaba_controller::Listeners {
                operators: listener,
                operators_tls,
                agents: Some(agents),
            };
            // The journal's record of the start (the lines above are for scripts).
            tracing::info!(
                version = env!("CARGO_PKG_VERSION"),
                operators = %format!("{scheme}://{addr}"),
                agents = %agent_addr,
                data_dir = %data_dir.display(),
                "controller started"
            );
            let result = dalaba_controller::serve(listeners, state, shutdown_signal()).await;
            match &result {
                Ok(()) => tracing::info!("controller stopped"),
                Err(e) => tracing::error!("controller stopped: {e:#}"),
            }
            result
        }
        Command::Demo {
            data_dir,
            listen,
            agent_listen,
        } => demo(&data_dir, listen, agent_listen).await,
        Command::CheckConfig { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            match ControllerConfig::parse(&text) {
                Ok(config) => {
                    print!("{}", config.effective());
                    Ok(())
                }
                Err(errors) => {
                    for e in errors {
                        eprintln!("{}: {e}", file.display());
                    }
                    std::process::exit(2);
                }
            }
        }
        Command::Admin { action } => admin(action),
        Command::Backup { to, data_dir } => {
            let data_dir = data_dir.path()?;
            let summary = dalaba_controller::backup::backup(&data_dir, &to)?;
            println!(
                "backup of {} written to {}",
                data_dir.display(),
                to.display()
            );
            println!("  {summary}");
            println!(
                "  restore it with: dalaba-controller restore --from {} --data-dir NEW_DIR",
                to.display()
            );
            Ok(())
        }
        Command::Restore { from, data_dir } => {
            let data_dir = data_dir.path()?;
            let summary = dalaba_controller::backup::restore(&from, &data_dir)?;
            println!("restored {} into {}", from.display(), data_dir.display());
            println!("  {summary}; every file checked against the backup's manifest");
            println!(
                "  start it with: dalaba-controller serve --data-dir {} (agents pin the same keys and reconnect)",
                data_dir.display()
            );
            Ok(())
        }
    }
}

/// `dalaba-controller admin …`.
fn admin(action: Admin) -> anyhow::Result<()> {
    match action {
        Admin::ResetPassword { name, data_dir } => {
            let data_dir = data_dir.writable()?;
            let (state, _) = dalaba_controller::open(&data_dir)?;
            let password =
                dalaba_controller::users::reset_password(&state, &name).with_context(|| {
                    format!("resetting {name}'s password in {}", data_dir.display())
                })?;
            println!("new password for {name}: {password}");
            println!("(shown once; the account is enabled and its sessions ended)");
            Ok(())
        }
        Admin::AddUser {
            name,
            role,
            scopes,
            data_dir,
        } => {
            let data_dir = data_dir.writable()?;
            let role: dalaba_controller::role::Role =
                serde_json::from_value(serde_json::Value::String(role.clone())).map_err(|_| {
                    anyhow::anyhow!("--role {role}: one of admin, operator, village_head, viewer")
                })?;
            let (state, _) = dalaba_controller::open(&data_dir)?;
            let request = dalaba_controller::users::CreateUser {
                name: name.clone(),
                role,
                scopes,
                password: None,
            };
            let created = dalaba_controller::users::create_locally(&state, request)
                .with_context(|| format!("adding {name} in {}", data_dir.display()))?;
            println!("user {name} added ({})", created["role"]);
            println!(
                "password for {name}: {}",
                created["password"].as_str().unwrap_or("")
            );
            println!("(shown once; change it after the first login)");
            Ok(())
        }
        Admin::ShowPin { data_dir } => {
            let data_dir = data_dir.writable()?;
            let (state, _) = dalaba_controller::open(&data_dir)?;
            println!("tls_fingerprint = \"{}\"", state.tls.fingerprint);
            println!(
                "public_key = \"{}\"",
                state.identity.signer.public_key().to_base64()
            );
            println!(
                "(an agent's [controller] section pins both; they stay until the data directory changes)"
            );
            Ok(())
        }
    }
}

async fn demo(
    data_dir: &std::path::Path,
    listen: SocketAddr,
    agent_listen: SocketAddr,
) -> anyhow::Result<()> {
    let listener = bind(listen, "--listen").await?;
    let agents_listener = bind(agent_listen, "--agent-listen").await?;
    let (state, first) = dalaba_controller::open(data_dir)?;
    let addr = listener.local_addr()?;
    let agent_url = format!("wss://{}/agent/ws", agents_listener.local_addr()?);
    let agents = dalaba_controller::demo::prepare(&state, &data_dir.join("speakers"), &agent_url)?;
    let agent_bin = dalaba_controller::demo::agent_binary()?;
    let clip = dalaba_controller::demo::ensure_clip(&state, data_dir).await?;
    let hub = state.hub.clone();
    let server = tokio::spawn(dalaba_controller::serve(
        dalaba_controller::Listeners::new(listener, Some(agents_listener)),
        state,
        shutdown_signal(),
    ));
    let mut children = Vec::new();
    for (config, state_dir) in &agents {
        let log = std::fs::File::create(state_dir.with_file_name("agent.log"))?;
        let child = tokio::process::Command::new(&agent_bin)
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--state-dir")
            .arg(state_dir)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        children.push(child);
    }
    println!();
    println!("Dalaba demo is running.");
    println!("  API:            http://{addr}/api  (OpenAPI: http://{addr}/api/openapi.json)");
    match first.admin_password {
        Some(p) => println!(
            "  log in as:      admin / {p}   (shown once; state in {})",
            data_dir.display()
        ),
        None => println!("  log in as:      admin (password shown on the first start)"),
    }
    println!(
        "  demo speakers:  {} agent processes; WAV output and logs under {}",
        agents.len(),
        data_dir.join("speakers").display()
    );
    for a in dalaba_controller::demo::DEMO_AGENTS {
        println!(
            "                  {:<10} {}  area {}  group {}",
            a.id, a.name, a.area, a.group
        );
    }
    println!(
        "  demo clip:      media {} ({}, {:.1} s)",
        clip.id,
        clip.name,
        clip.duration_ms.unwrap_or(0) as f64 / 1000.0
    );
    println!("  play it in village 330106001 (东村):");
    println!(
        "    curl -s -X POST http://{addr}/api/broadcasts -H 'authorization: Bearer <token>' \\"
    );
    println!("         -H 'content-type: application/json' \\");
    println!(
        "         -d '{{\"media_id\": {}, \"target\": {{\"areas\": [\"330106001\"]}}}}'",
        clip.id
    );
    // Wait (bounded) for the speakers to enrol and connect.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let changed = hub.changed.notified();
        if hub.online_count() >= agents.len() || tokio::time::Instant::now() >= deadline {
            break;
        }
        let _ = tokio::time::timeout_at(deadline, changed).await;
    }
    println!("  speakers online: {}/{}", hub.online_count(), agents.len());
    println!("  stop with Ctrl-C.");
    server.await??;
    // The speakers go with the demo: asked to stop (they switch their relays off), killed
    // if they have not within 5 s, and waited for, so none outlives it.
    for child in &children {
        if let Some(pid) = child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }
    for child in &mut children {
        let wait = std::time::Duration::from_secs(5);
        if tokio::time::timeout(wait, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM (systemd, Docker, `kill`): time to stop. Both are caught
/// from the call on (not from the first poll), so a signal that comes early is not the
/// default action's sudden death.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let streams =
        signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)));
    async move {
        match streams {
            Ok((mut term, mut int)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                eprintln!("SIGTERM cannot be caught ({e}); stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
