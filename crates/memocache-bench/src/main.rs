//! `memocache-bench`: memocache's workload runner. With no argument it runs the headline
//! workload on the embedded in-memory default (the dog-piling scenario, then cacheme's trace
//! at 1,000 and 10,000 workers) and prints its tables.

use clap::{Parser, Subcommand};

use memocache_bench::{
    batch, chart, distributed, dogpile, groups, headline, policy, report, soak, trace, xfetch, Opts,
};

/// Counts live heap bytes for `policy`'s memory table (one relaxed add per allocation).
#[global_allocator]
static ALLOC: policy::CountingAlloc = policy::CountingAlloc;

#[derive(Parser, Debug)]
#[command(name = "memocache-bench", about = "memocache's workload runner")]
struct Cli {
    /// Also print one JSON object per result row on stdout (the tables then go to stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Scale request counts down 10x (CI smoke runs).
    #[arg(long, global = true)]
    quick: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// py-memoize's dog-piling scenario: backend calls and waiting requests of memocache, a
    /// naive cache and moka.
    Dogpile,
    /// cacheme's 200k-request Zipf trace drained by 1k, 10k, 100k workers.
    Trace(trace::Args),
    /// cacheme's batch get_all scenario.
    Batch(batch::Args),
    /// cacheme's trace split over several OS processes sharing Redis, with and without
    /// cross-process single flight, and the invalidation latency between processes.
    Distributed(distributed::Args),
    /// One process of `distributed` (started by it).
    #[command(hide = true, name = "distributed-child")]
    DistributedChild(distributed::ChildArgs),
    /// One memoized function's invalidate_all on a Redis holding 1M other keys (a generation
    /// bump), next to clearing a namespace (a SCAN of the server).
    Invalidate(groups::Args),
    /// A long mixed run over a flapping Redis: values right, memory flat, nothing left
    /// running, statistics adding up (RELIABILITY.md).
    Soak(soak::Args),
    /// Probabilistic early refresh on the dog-piling scenario: several caches sharing Redis
    /// and one hot key, with stale-while-revalidate, early refresh and a distributed lease.
    Xfetch(xfetch::Args),
    /// SVG charts of `trace --json` results (for BENCHMARKS.md).
    Chart(chart::Args),
    /// Eviction policies and in-memory speed: hit latency, throughput, hit ratio (pingora
    /// TinyUFO's grid and variants), bytes per entry; memocache next to moka, quick_cache,
    /// cached, lru and a Mutex<HashMap>.
    Policy(policy::Args),
}

/// Prints the rows: JSON lines on stdout with `--json` (tables on stderr), else tables on
/// stdout.
fn emit(rows: &[report::Row], json: bool) {
    if json {
        for r in rows {
            println!("{}", r.to_json());
        }
        eprint!("{}", report::tables(rows));
    } else {
        print!("{}", report::tables(rows));
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let opts = Opts { quick: cli.quick };
    let rows = match cli.command {
        None => headline(&opts).await,
        Some(Command::Dogpile) => dogpile::run_cli(&opts).await,
        Some(Command::Trace(args)) => trace::run(&args, &opts).await,
        Some(Command::Batch(args)) => batch::run(&args, &opts).await,
        Some(Command::Invalidate(args)) => groups::run(&args).await,
        Some(Command::Distributed(args)) => distributed::run(&args, &opts).await,
        Some(Command::DistributedChild(args)) => {
            distributed::child(&args, &opts).await;
            Vec::new()
        }
        Some(Command::Soak(args)) => soak::run(&args, &opts).await,
        Some(Command::Xfetch(args)) => xfetch::run(&args).await,
        Some(Command::Policy(args)) => {
            let report = policy::run(&args, &opts);
            if cli.json {
                for r in &report.rows {
                    println!("{}", r.to_json());
                }
                eprint!("{}", report.text);
            } else {
                print!("{}", report.text);
            }
            Vec::new()
        }
        Some(Command::Chart(args)) => {
            if let Err(e) = chart::run(&args) {
                eprintln!("memocache-bench chart: {e}");
                std::process::exit(1);
            }
            Vec::new()
        }
    };
    emit(&rows, cli.json);
}
