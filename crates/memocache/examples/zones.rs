//! fresco-memoize's cache zones, ported: a zone cleared in one call; a zone whose key function
//! maps calls to the author they depend on, so that one call clears everything about an
//! author across two functions of two key types; and a function overriding its zone's key
//! function (fresco's `zonekey=`).
//!
//! ```sh
//! cargo run -p memocache --example zones
//! ```
//! Output:
//! ```text
//! Dune: synopsis (load 1), reviews (load 1)
//! Dune: synopsis (load 1), reviews (load 1)
//! BOOKS.invalidate_all()
//! Dune: synopsis (load 2), reviews (load 2)
//! Herbert: rating (load 1); Dune: author biography (load 1); Emma: author biography (load 2)
//! AUTHORS.invalidate(Herbert's id)
//! Herbert: rating (load 2); Dune: author biography (load 3); Emma: author biography (load 2)
//! ```
//! (The biography's load counter is the function's: Emma's first biography is its second load;
//! after the invalidation only Dune's is loaded again.)

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::LazyLock;

use memocache::{memoize, Zone};

/// fresco's `Zone('Books')`: no key function, cleared as a whole.
pub static BOOKS: LazyLock<Zone> = LazyLock::new(|| Zone::new("Books"));
/// fresco's `Zone('Authors', lambda self: self.id)`: entries keyed by an author's id depend on
/// that author.
pub static AUTHORS: LazyLock<Zone> =
    LazyLock::new(|| Zone::new("Authors").key(|author_id: &u64| *author_id));

#[derive(Clone)]
pub struct Author {
    pub id: u64,
    pub name: String,
}

#[derive(Clone)]
pub struct Book {
    pub id: u64,
    pub title: String,
    pub author: Author,
}

static SYNOPSIS_LOADS: AtomicU32 = AtomicU32::new(0);
static REVIEWS_LOADS: AtomicU32 = AtomicU32::new(0);
static RATING_LOADS: AtomicU32 = AtomicU32::new(0);
static BIOGRAPHY_LOADS: AtomicU32 = AtomicU32::new(0);

impl Book {
    #[memoize(key: u64 = self.id, zone = BOOKS)]
    pub async fn synopsis(&self) -> String {
        format!(
            "synopsis (load {})",
            SYNOPSIS_LOADS.fetch_add(1, SeqCst) + 1
        )
    }

    #[memoize(key: u64 = self.id, zone = BOOKS)]
    pub async fn reviews(&self) -> String {
        format!("reviews (load {})", REVIEWS_LOADS.fetch_add(1, SeqCst) + 1)
    }

    /// In the authors' zone, keyed by (book, author): its own zone key, the book's author
    /// (fresco's `zonekey=lambda self: self.author.id`).
    #[memoize(key: (u64, u64) = (self.id, self.author.id), zone = AUTHORS, zone_key = key.1)]
    pub async fn author_biography(&self) -> String {
        let n = BIOGRAPHY_LOADS.fetch_add(1, SeqCst) + 1;
        format!("author biography (load {n})")
    }
}

impl Author {
    /// Keyed by the author's id: the zone's key function applies.
    #[memoize(key: u64 = self.id, zone = AUTHORS)]
    pub async fn rating(&self) -> String {
        format!("rating (load {})", RATING_LOADS.fetch_add(1, SeqCst) + 1)
    }
}

/// The example, writing what it prints to `out`.
pub async fn run(out: &mut impl Write) -> std::io::Result<()> {
    let herbert = Author {
        id: 1,
        name: "Herbert".into(),
    };
    let austen = Author {
        id: 2,
        name: "Austen".into(),
    };
    let dune = Book {
        id: 10,
        title: "Dune".into(),
        author: herbert.clone(),
    };
    let emma = Book {
        id: 20,
        title: "Emma".into(),
        author: austen,
    };

    for _ in 0..2 {
        let (s, r) = (dune.synopsis().await, dune.reviews().await);
        writeln!(out, "{}: {s}, {r}", dune.title)?;
    }
    // One call clears every memoized function of the zone.
    writeln!(out, "BOOKS.invalidate_all()")?;
    BOOKS
        .invalidate_all()
        .await
        .map_err(std::io::Error::other)?;
    let (s, r) = (dune.synopsis().await, dune.reviews().await);
    writeln!(out, "{}: {s}, {r}", dune.title)?;

    let line = async || {
        format!(
            "{}: {}; {}: {}; {}: {}",
            herbert.name,
            herbert.rating().await,
            dune.title,
            dune.author_biography().await,
            emma.title,
            emma.author_biography().await
        )
    };
    writeln!(out, "{}", line().await)?;
    // Everything that depends on Herbert, in both functions; Austen's biography stays.
    writeln!(out, "AUTHORS.invalidate(Herbert's id)")?;
    AUTHORS
        .invalidate(herbert.id)
        .await
        .map_err(std::io::Error::other)?;
    writeln!(out, "{}", line().await)?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    run(&mut std::io::stdout().lock()).await
}
