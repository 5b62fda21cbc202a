//! Helpers shared by the integration tests that use them (`mod common;`).

/// Yields until `cond` holds (the spawned tasks make progress meanwhile); panics after
/// 10,000 yields.
pub async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached");
}
