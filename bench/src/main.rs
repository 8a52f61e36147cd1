//! `dalaba-loadtest`: Dalaba's benchmark suite. Prints a table per benchmark and writes
//! every figure as JSON.
//!
//! ```text
//! cargo build --release --workspace
//! target/release/dalaba-loadtest --quick     # everything, small sizes: under two minutes
//! target/release/dalaba-loadtest --full      # N up to 10,000, 60 s latency sweeps
//! target/release/dalaba-loadtest --only latency,sync
//! ```
//!
//! | benchmark | what runs | module |
//! |---|---|---|
//! | `fanout` | real controller, N simulated agents: CPU, memory per agent, frames on time, delivery lag, alert reach | [`fanout`] |
//! | `latency` | real controller and agent: PCM into the encoder to samples played, per latency setting | [`latency`] |
//! | `sync` | simulated clocks (offset, drifting) on the real clock-sync code: play-time spread | [`sync`] |
//! | `footprint` | one real agent: RSS and CPU idle, playing stored, playing live | [`footprint`] |
//! | `snapcast` | snapserver + N snapclients against controller + N agents, one run | [`snapcast`] |
//! | `speech` | real controller and agent: text to speech as a multiple of real time, a spoken alert to its tone | [`speech`] |
//! | `storm` | real controller restarted (SIGTERM, then SIGKILL) under N simulated agents: time until all are back and have their schedule | [`storm`] |
//!
//! Everything runs on this one machine (2 cores here): load generators and measured
//! processes share it, and the figures include that contention.

mod fanout;
mod footprint;
mod latency;
mod rig;
mod sim;
mod snapcast;
mod speech;
mod storm;
mod sync;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use serde_json::json;

#[derive(Parser)]
#[command(name = "dalaba-loadtest")]
struct Cli {
    /// Small sizes, under two minutes (the default).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Big sizes: fan-out to 10,000 agents, 60 s per latency setting, Snapcast at 10 and
    /// 50 clients.
    #[arg(long)]
    full: bool,
    /// Run only these benchmarks.
    #[arg(long, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Agent counts for the fan-out benchmark (comma-separated), instead of the mode's.
    #[arg(long, value_delimiter = ',')]
    agents: Vec<usize>,
    /// Seconds of live stream per N in the fan-out benchmark, instead of the mode's.
    #[arg(long)]
    seconds: Option<u64>,
    /// The live call's latency in the fan-out and the Snapcast comparison, ms (in the
    /// fan-out a frame is on time when it arrives within it); by default the call asks
    /// for none and the controller gives it its default for the call's size (150 ms, more
    /// for a call written many frames at a time: `DALABA_LIVE_FRAMES_PER_WRITE`).
    #[arg(long)]
    live_latency_ms: Option<u64>,
    /// Live calls at once in the fan-out benchmark: 1 (the default) is one call to
    /// everyone; K splits the county's 100 towns into K calls made together (town t to
    /// call t mod K), as K village heads or operators speaking at the same time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    calls: u16,
    /// The simulated agents' loop polls without sleeping, so that the controller's
    /// loopback writes do not also wake it (a cost a real network does not put on the
    /// controller's core); the generator's own CPU is then a whole core.
    #[arg(long)]
    generator_busy_polls: bool,
    /// Seconds at the default latency setting, instead of the mode's.
    #[arg(long)]
    latency_seconds: Option<u64>,
    /// Latency settings (ms) to sweep below the default, instead of the mode's.
    #[arg(long, value_delimiter = ',')]
    latency_sweep: Vec<u64>,
    /// Seconds per latency setting in the sweep, instead of the mode's.
    #[arg(long)]
    sweep_seconds: Option<u64>,
    /// Client counts for the Snapcast comparison (comma-separated), instead of the mode's.
    #[arg(long, value_delimiter = ',')]
    snapcast_clients: Vec<usize>,
    /// Where to write the figures.
    #[arg(long, default_value = "bench-results.json")]
    json: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Bench {
    Fanout,
    Latency,
    Sync,
    Footprint,
    Snapcast,
    Speech,
    Storm,
}

/// Sizes per mode.
struct Plan {
    fanout_agents: Vec<usize>,
    fanout_seconds: u64,
    latency_seconds: u64,
    latency_sweep: Vec<u64>,
    sweep_seconds: u64,
    sync_agents: usize,
    sync_minutes: u64,
    footprint_seconds: u64,
    snapcast_clients: Vec<usize>,
    snapcast_seconds: u64,
}

impl Plan {
    fn quick() -> Self {
        Self {
            fanout_agents: vec![100, 1000],
            fanout_seconds: 5,
            latency_seconds: 10,
            latency_sweep: vec![60, 40],
            sweep_seconds: 5,
            sync_agents: 100,
            sync_minutes: 10,
            footprint_seconds: 5,
            snapcast_clients: vec![10],
            snapcast_seconds: 5,
        }
    }

    fn full() -> Self {
        Self {
            fanout_agents: vec![100, 1000, 5000, 10_000],
            fanout_seconds: 10,
            latency_seconds: 60,
            latency_sweep: vec![100, 80, 60, 50, 40, 30],
            sweep_seconds: 60,
            sync_agents: 1000,
            sync_minutes: 60,
            footprint_seconds: 20,
            snapcast_clients: vec![10, 50],
            snapcast_seconds: 20,
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    crate::sim::BUSY_POLL.store(
        cli.generator_busy_polls,
        std::sync::atomic::Ordering::Relaxed,
    );
    let mut plan = if cli.full {
        Plan::full()
    } else {
        Plan::quick()
    };
    if !cli.agents.is_empty() {
        plan.fanout_agents = cli.agents.clone();
    }
    if !cli.snapcast_clients.is_empty() {
        plan.snapcast_clients = cli.snapcast_clients.clone();
    }
    if !cli.latency_sweep.is_empty() {
        plan.latency_sweep = cli.latency_sweep.clone();
    }
    if let Some(s) = cli.latency_seconds {
        plan.latency_seconds = s;
    }
    if let Some(s) = cli.sweep_seconds {
        plan.sweep_seconds = s;
    }
    if let Some(s) = cli.seconds {
        plan.fanout_seconds = s;
    }
    let wanted = |b: Bench| cli.only.is_empty() || cli.only.contains(&b);
    let started = Instant::now();
    let mut out = serde_json::Map::new();
    out.insert(
        "mode".into(),
        json!(if cli.full { "full" } else { "quick" }),
    );
    // What ran, where: figures from two machines are not comparable.
    let machine = crate::rig::machine();
    println!("machine: {machine}");
    out.insert("machine".into(), machine);
    out.insert(
        "command".into(),
        json!(std::env::args().collect::<Vec<_>>().join(" ")),
    );
    out.insert(
        "environment".into(),
        std::env::vars()
            .filter(|(k, _)| k.starts_with("DALABA_"))
            .map(|(k, v)| (k, json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    );
    if wanted(Bench::Sync) {
        let r = sync::run(plan.sync_agents, plan.sync_minutes, 5.0, 50.0);
        out.insert("sync".into(), r);
    }
    if wanted(Bench::Footprint) {
        let r = footprint::suite(plan.footprint_seconds)
            .await
            .context("footprint")?;
        out.insert("footprint".into(), r);
    }
    if wanted(Bench::Latency) {
        let r = latency::suite(
            u64::from(150u16),
            plan.latency_seconds,
            &plan.latency_sweep,
            plan.sweep_seconds,
        )
        .await
        .context("latency")?;
        out.insert("latency".into(), r);
    }
    if wanted(Bench::Snapcast) && cli.only.is_empty() && !snapcast::installed() {
        println!(
            "\nside by side with Snapcast: skipped, snapserver and snapclient are not installed"
        );
        out.insert("snapcast".into(), json!("skipped: not installed"));
    } else if wanted(Bench::Snapcast) {
        let r = snapcast::suite(
            &plan.snapcast_clients,
            plan.snapcast_seconds,
            cli.live_latency_ms,
        )
        .await
        .context("snapcast")?;
        out.insert("snapcast".into(), r);
    }
    if wanted(Bench::Speech) {
        let r = speech::suite().await.context("speech")?;
        out.insert("speech".into(), r);
    }
    if wanted(Bench::Fanout) {
        let r = fanout::suite(
            &plan.fanout_agents,
            plan.fanout_seconds,
            cli.live_latency_ms,
            usize::from(cli.calls),
        )
        .await?;
        out.insert("fanout".into(), r);
    }
    if wanted(Bench::Storm) {
        let r = storm::suite(&plan.fanout_agents).await?;
        out.insert("storm".into(), r);
    }
    out.insert("elapsed_s".into(), json!(started.elapsed().as_secs_f64()));
    std::fs::write(
        &cli.json,
        serde_json::to_string_pretty(&serde_json::Value::Object(out))?,
    )?;
    println!(
        "\nall done in {:.0} s; figures written to {}",
        started.elapsed().as_secs_f64(),
        cli.json.display()
    );
    Ok(())
}
