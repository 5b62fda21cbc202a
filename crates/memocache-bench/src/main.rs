//! `memocache-bench`: memocache's workload runner. With no argument it runs the headline
//! workload on the embedded in-memory default and prints its table.

use clap::{Parser, Subcommand};

use memocache_bench::{dogpile, report};

#[derive(Parser, Debug)]
#[command(name = "memocache-bench", about = "memocache's workload runner")]
struct Cli {
    /// Also print one JSON object per result row on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// py-memoize's dog-piling scenario: backend calls of memocache vs a naive cache.
    Dogpile,
}

fn emit(rows: &[report::Row], json: bool) {
    if json {
        for r in rows {
            println!("{}", r.to_json());
        }
    } else {
        print!("{}", report::table(rows));
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Dogpile) {
        Command::Dogpile => {
            let p = dogpile::Params::default();
            eprintln!(
                "dogpile: {} batches of {} concurrent requests, {:?} apart; update_after/TTL {:?}; loader {:?}",
                p.batches, p.concurrent, p.delay, p.ttl, p.load_time
            );
            let rows = dogpile::run(p).await;
            emit(&rows, cli.json);
        }
    }
}
