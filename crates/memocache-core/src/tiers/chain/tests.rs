//! Unit tests of the chain (`chain.rs`): reads in order with backfill, writes to all, the
//! failure policy.

use super::*;
use std::time::Duration;

use crate::storage::{MemoryStorage, Storage};
use crate::tier::{CircuitBreaker, OnError};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

/// A storage whose every operation fails (`get_many` and `set_many`: the defaults).
struct Down;
impl Storage<u32, u32> for Down {
    fn name(&self) -> &str {
        "down"
    }
    fn get<'a>(
        &'a self,
        _: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<u32>>, StorageError>> {
        async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
    }
    fn set<'a>(
        &'a self,
        _: &'a u32,
        _: StoredEntry<u32>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
    }
    fn remove<'a>(&'a self, _: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async { Err(StorageError::backend(std::io::Error::other("refused"))) }.boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_skips_then_probes() {
    let tiers = Tiers::new(
        vec![Tier::new(Down).circuit_breaker(CircuitBreaker {
            failure_threshold: 2,
            cool_down: Duration::from_secs(5),
        })],
        "c",
    )
    .unwrap();
    for _ in 0..2 {
        assert!(tiers
            .read(
                &1,
                &mut Tagged::default(),
                &mut Unavailable::default(),
                |_, _| true
            )
            .await
            .unwrap()
            .is_none());
    }
    let s = &tiers.stats()[0];
    assert_eq!((s.errors, s.skipped, s.breaker_opened), (2, 0, 1));
    for _ in 0..10 {
        assert!(tiers
            .read(
                &1,
                &mut Tagged::default(),
                &mut Unavailable::default(),
                |_, _| true
            )
            .await
            .unwrap()
            .is_none());
    }
    let s = &tiers.stats()[0];
    assert_eq!((s.errors, s.skipped), (2, 10), "open: not attempted");
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(tiers
        .read(
            &1,
            &mut Tagged::default(),
            &mut Unavailable::default(),
            |_, _| true
        )
        .await
        .unwrap()
        .is_none());
    let s = &tiers.stats()[0];
    assert_eq!(
        (s.errors, s.skipped, s.breaker_opened),
        (3, 10, 2),
        "one probe, reopened"
    );
    assert!(tiers
        .read(
            &1,
            &mut Tagged::default(),
            &mut Unavailable::default(),
            |_, _| true
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(tiers.stats()[0].skipped, 11);
}

#[tokio::test(start_paused = true)]
async fn propagate_reports_errors_and_open_breaker() {
    let tiers = Tiers::new(
        vec![Tier::new(Down)
            .on_error(OnError::Propagate)
            .circuit_breaker(CircuitBreaker {
                failure_threshold: 1,
                cool_down: Duration::from_secs(5),
            })],
        "c",
    )
    .unwrap();
    assert!(matches!(
        tiers
            .read(
                &1,
                &mut Tagged::default(),
                &mut Unavailable::default(),
                |_, _| true
            )
            .await,
        Err(StorageError::Backend(_))
    ));
    assert!(matches!(
        tiers
            .read(
                &1,
                &mut Tagged::default(),
                &mut Unavailable::default(),
                |_, _| true
            )
            .await,
        Err(StorageError::CircuitOpen)
    ));
}

#[tokio::test(start_paused = true)]
async fn writes_respect_each_tier_cap() {
    let a = Arc::new(MemoryStorage::<u32, u32>::new(8));
    let b = Arc::new(MemoryStorage::<u32, u32>::new(8));
    let tiers = Tiers::new(
        vec![
            Tier::from_arc(a.clone()).expire_cap(Duration::from_secs(10)),
            Tier::from_arc(b.clone()),
        ],
        "c",
    )
    .unwrap();
    let e = StoredEntry::new(7, Duration::from_secs(60), Duration::from_secs(600));
    tiers
        .write(&1, &e, &Tagged::default(), Unavailable::default())
        .await
        .unwrap();
    let in_a = a.get(&1).await.unwrap().unwrap();
    let in_b = b.get(&1).await.unwrap().unwrap();
    assert!(in_a.expire_at <= SystemTime::now() + Duration::from_secs(10));
    assert_eq!(in_b.expire_at, e.expire_at);
    assert_eq!(in_a.update_at, in_a.expire_at, "update_at cut to the cap");
}

/// A storage that fails, hangs or answers, as the test says.
struct Flaky(std::sync::atomic::AtomicU8);
const FAIL: u8 = 0;
const HANG: u8 = 1;
const ANSWER: u8 = 2;

impl Storage<u32, u32> for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn get<'a>(
        &'a self,
        _: &'a u32,
    ) -> BoxFuture<'a, Result<Option<StoredEntry<u32>>, StorageError>> {
        match self.0.load(Relaxed) {
            FAIL => async { Err(StorageError::backend(std::io::Error::other("down"))) }.boxed(),
            HANG => std::future::pending().boxed(),
            _ => async { Ok(None) }.boxed(),
        }
    }
    fn set<'a>(
        &'a self,
        _: &'a u32,
        _: StoredEntry<u32>,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
    fn remove<'a>(&'a self, _: &'a u32) -> BoxFuture<'a, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        async { Ok(()) }.boxed()
    }
}

/// The operation probing a half-open breaker is dropped (its caller went away): the probe
/// claim is released, so the next operation probes, and closes the breaker once the
/// storage answers. (Before the claim was a guard, the breaker stayed half-open for good,
/// skipping every operation.)
#[tokio::test(start_paused = true)]
async fn a_dropped_probe_does_not_leave_the_breaker_stuck() {
    let flaky = Arc::new(Flaky(std::sync::atomic::AtomicU8::new(FAIL)));
    let breaker = CircuitBreaker {
        failure_threshold: 1,
        cool_down: Duration::from_secs(5),
    };
    let tier = Tier::from_arc(flaky.clone()).circuit_breaker(breaker);
    let tiers = Tiers::new(vec![tier], "c").unwrap();
    assert!(tiers
        .read(
            &1,
            &mut Tagged::default(),
            &mut Unavailable::default(),
            |_, _| true
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(tiers.stats()[0].breaker_opened, 1);
    tokio::time::advance(Duration::from_secs(5)).await;
    flaky.0.store(HANG, Relaxed);
    assert!(
        tiers
            .read(
                &1,
                &mut Tagged::default(),
                &mut Unavailable::default(),
                |_, _| true
            )
            .now_or_never()
            .is_none(),
        "the probe hangs, then is dropped"
    );
    flaky.0.store(ANSWER, Relaxed);
    assert!(tiers
        .read(
            &1,
            &mut Tagged::default(),
            &mut Unavailable::default(),
            |_, _| true
        )
        .await
        .unwrap()
        .is_none());
    let s = &tiers.stats()[0];
    // The failed read counted a miss too; the probe is the second.
    assert_eq!(
        (s.skipped, s.misses),
        (0, 2),
        "probed and answered, not skipped"
    );
    assert!(tiers
        .read(
            &1,
            &mut Tagged::default(),
            &mut Unavailable::default(),
            |_, _| true
        )
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        tiers.stats()[0].misses,
        3,
        "closed: every read goes to the storage"
    );
}
