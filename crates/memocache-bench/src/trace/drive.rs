//! Draining the queue: [`drive`] runs the workers over the key sequence against one
//! [`Contender`], checks every value and returns what it [`Measured`] (wall time, CPU time,
//! latencies).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::measure::{cpu_time, micros, Percentiles, Progress};

use super::Contender;

/// What one run of the queue measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall time from the first worker's start to the last one's end.
    pub wall: Duration,
    /// Process CPU time over the same span.
    pub cpu: Duration,
    /// Request latencies.
    pub latency: Percentiles,
}

/// Drains `keys` with `workers` Tokio tasks calling `contender`, checking every value.
pub async fn drive<C: Contender>(
    label: &str,
    keys: Arc<[u64]>,
    workers: usize,
    contender: Arc<C>,
) -> Measured {
    let cursor = Arc::new(AtomicUsize::new(0));
    let progress = Progress::start(label, keys.len() as u64, {
        let cursor = cursor.clone();
        move || cursor.load(Ordering::Relaxed) as u64
    });
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (keys, cursor, contender) = (keys.clone(), cursor.clone(), contender.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = cursor.fetch_add(1, Ordering::Relaxed);
                    let Some(&key) = keys.get(i) else { break };
                    let start = Instant::now();
                    let v = contender.get(key).await;
                    latencies.push(micros(start.elapsed()));
                    assert_eq!(v, key, "a cache served the wrong value");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(keys.len());
    for t in tasks {
        latencies.extend(t.await.expect("a worker panicked"));
    }
    let wall = t0.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    progress.finish();
    Measured {
        wall,
        cpu,
        latency: Percentiles::of(&mut latencies),
    }
}
