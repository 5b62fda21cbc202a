//! Auto-pipelining of reads (issue 16), on a `redis-server` of our own so that the server's
//! command counts (`INFO commandstats`) are this test's alone: concurrent reads go out as one
//! `MGET` with each key's own answer, concurrent cache misses cost one `MGET`, a failed `MGET`
//! fails every read it carried (and nothing else), and the option can be turned off; writes
//! made together go out as one pipeline, in the order they were made (a removal made after a
//! queued write lands after it; a queued write given up is never sent), each with its own
//! answer.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture};
use futures_util::FutureExt;
use memocache_core::codec::Codec;
use memocache_core::key::Namespace;
use memocache_core::storage::{ByteStore, StorageError};
use memocache_core::{Cache, Tier};
use memocache_redis::{RedisOptions, RedisStore};

fn own_server(test: &str) -> Option<common::OwnServer> {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip(test, "redis-server / redis-cli not on PATH");
        return None;
    }
    Some(common::OwnServer::start(&[]))
}

/// Calls of `command` the server has run (`INFO commandstats`), 0 before the first.
fn calls(server: &common::OwnServer, command: &str) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]).expect("INFO answers");
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.trim().strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

async fn store(server: &common::OwnServer, auto_pipeline: bool) -> RedisStore {
    let options = RedisOptions {
        auto_pipeline,
        ..RedisOptions::default()
    };
    RedisStore::connect_with(&server.url(), options)
        .await
        .unwrap()
}

const LIMIT: usize = 64;

/// 16 stored keys, 3 missing, 1 over the limit: read all 20 at once.
async fn read_twenty(store: &RedisStore) -> Vec<Result<Option<Vec<u8>>, StorageError>> {
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    join_all(keys.iter().map(|k| store.get_bounded(k, LIMIT))).await
}

async fn fill(store: &RedisStore) {
    for i in 0..16 {
        let bytes = format!("value {i}").into_bytes();
        store
            .set(&format!("k{i}"), bytes, Duration::from_secs(60))
            .await
            .unwrap();
    }
    store
        .set("k19", vec![7; LIMIT + 1], Duration::from_secs(60))
        .await
        .unwrap();
}

fn check_answers(answers: &[Result<Option<Vec<u8>>, StorageError>]) {
    for (i, answer) in answers.iter().enumerate() {
        match i {
            0..=15 => assert_eq!(
                answer.as_ref().unwrap().as_deref(),
                Some(format!("value {i}").as_bytes()),
                "k{i}"
            ),
            16..=18 => assert_eq!(answer.as_ref().unwrap(), &None, "k{i}"),
            _ => assert!(
                matches!(answer, Err(StorageError::Decode(_))),
                "k{i}: {answer:?}"
            ),
        }
    }
}

#[tokio::test]
async fn concurrent_reads_go_out_as_one_mget_with_each_keys_own_answer() {
    let Some(server) = own_server("concurrent_reads_go_out_as_one_mget") else {
        return;
    };
    let store = store(&server, true).await;
    fill(&store).await;
    let answers = read_twenty(&store).await;
    check_answers(&answers);
    assert_eq!(calls(&server, "mget"), 1);
    assert_eq!(calls(&server, "getrange"), 0);
    // A lone read is sent at once, bounded as without the option.
    assert_eq!(
        store.get_bounded("k3", LIMIT).await.unwrap().unwrap(),
        b"value 3"
    );
    assert_eq!(calls(&server, "getrange"), 1);
    assert_eq!(calls(&server, "mget"), 1);
}

#[tokio::test]
async fn without_auto_pipelining_each_read_is_its_own_getrange() {
    let Some(server) = own_server("without_auto_pipelining") else {
        return;
    };
    let store = store(&server, false).await;
    fill(&store).await;
    check_answers(&read_twenty(&store).await);
    assert_eq!(calls(&server, "mget"), 0);
    assert_eq!(calls(&server, "getrange"), 20);
}

#[tokio::test]
async fn concurrent_cache_misses_cost_one_mget() {
    let Some(server) = own_server("concurrent_cache_misses_cost_one_mget") else {
        return;
    };
    let store = store(&server, true).await;
    let ns = Namespace::new("misses");
    let writer: Cache<u32, u32> = Cache::builder()
        .tier(Tier::new(store.typed(ns.clone(), Codec::json())))
        .build()
        .unwrap();
    for id in 0..10 {
        writer.insert(id, id * 10).await;
    }
    writer.idle().await;
    let reader: Cache<u32, u32> = Cache::builder()
        .tier(Tier::new(store.typed(ns, Codec::json())))
        .build()
        .unwrap();
    let loads = Arc::new(AtomicUsize::new(0));
    let before = (calls(&server, "mget"), calls(&server, "getrange"));
    let gets = (0..20).map(|id| {
        let loads = loads.clone();
        reader.get_or_load(id, move || async move {
            loads.fetch_add(1, SeqCst);
            Ok::<_, std::io::Error>(id * 100)
        })
    });
    let values: Vec<u32> = join_all(gets)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<u32> = (0..20)
        .map(|id| if id < 10 { id * 10 } else { id * 100 })
        .collect();
    assert_eq!(values, expected);
    assert_eq!(
        loads.load(SeqCst),
        10,
        "only the 10 keys Redis lacked were loaded"
    );
    let after = (calls(&server, "mget"), calls(&server, "getrange"));
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 0),
        "20 misses, one MGET"
    );
    reader.idle().await;
}

#[tokio::test]
async fn a_failed_mget_fails_every_read_it_carried_and_nothing_after() {
    let Some(server) = own_server("a_failed_mget_fails_every_read") else {
        return;
    };
    let store = store(&server, true).await;
    fill(&store).await;
    assert!(server
        .cli(&["ACL", "SETUSER", "default", "-mget"])
        .is_some());
    let answers = read_twenty(&store).await;
    for (i, answer) in answers.iter().enumerate() {
        match answer {
            Err(StorageError::Backend(e)) => {
                assert!(e.to_string().contains("NOPERM"), "k{i}: {e}")
            }
            other => panic!("k{i}: {other:?}"),
        }
    }
    assert!(server
        .cli(&["ACL", "SETUSER", "default", "+mget"])
        .is_some());
    check_answers(&read_twenty(&store).await);
}

#[tokio::test]
async fn reads_whose_callers_gave_up_are_left_out() {
    let Some(server) = own_server("reads_whose_callers_gave_up") else {
        return;
    };
    let store = store(&server, true).await;
    fill(&store).await;
    // Queued (polled once), then dropped before any sender ran: nothing of theirs is sent.
    for i in 0..20 {
        let key = format!("k{i}");
        assert!(store.get_bounded(&key, LIMIT).now_or_never().is_none());
    }
    assert_eq!(
        store.get_bounded("k5", LIMIT).await.unwrap().unwrap(),
        b"value 5"
    );
    assert_eq!((calls(&server, "mget"), calls(&server, "getrange")), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_on_a_multi_thread_runtime_share_commands() {
    let Some(server) = own_server("concurrent_reads_on_a_multi_thread_runtime") else {
        return;
    };
    let store = store(&server, true).await;
    fill(&store).await;
    let keys: Vec<String> = (0..400).map(|i| format!("k{}", i % 16)).collect();
    let reads = join_all(keys.iter().map(|k| store.get_bounded(k, LIMIT))).await;
    for (i, r) in reads.into_iter().enumerate() {
        let expected = format!("value {}", i % 16);
        assert_eq!(r.unwrap().as_deref(), Some(expected.as_bytes()));
    }
    let commands = calls(&server, "mget") + calls(&server, "getrange");
    assert!(commands < 100, "400 reads took {commands} commands");
}

/// `op`, polled once: queued, not answered (on a one-thread runtime its sender has not run).
fn queued<T>(mut op: BoxFuture<'_, T>) -> BoxFuture<'_, T> {
    assert!((&mut op).now_or_never().is_none(), "queued, not answered");
    op
}

// Writes (issue 16): in order, together when they arrive together.

fn present(server: &common::OwnServer, key: &str) -> bool {
    server.cli(&["EXISTS", key]).expect("EXISTS answers").trim() == "1"
}

#[tokio::test]
async fn concurrent_writes_go_out_as_one_pipeline_each_with_its_own_answer() {
    let Some(server) = own_server("concurrent_writes_go_out_as_one_pipeline") else {
        return;
    };
    let store = store(&server, true).await;
    let keys: Vec<String> = (0..20).map(|i| format!("w{i}")).collect();
    let sets = keys.iter().enumerate().map(|(i, k)| {
        store.set(
            k,
            format!("value {i}").into_bytes(),
            Duration::from_secs(60),
        )
    });
    for answer in join_all(sets).await {
        answer.unwrap();
    }
    // Made together (before the sender task ran): one pipeline.
    let stats = store.write_stats();
    assert_eq!((stats.commands, stats.batches), (20, 1));
    assert_eq!(calls(&server, "set"), 20);
    for (i, k) in keys.iter().enumerate() {
        let got = store.get_bounded(k, LIMIT).await.unwrap().unwrap();
        assert_eq!(got, format!("value {i}").into_bytes());
    }
    // A lone write is sent at once.
    store.remove("w3").await.unwrap();
    assert_eq!(store.write_stats().batches, 2);
    assert!(!present(&server, "w3"));
}

#[tokio::test]
async fn a_removal_made_after_a_queued_write_reaches_the_server_after_it() {
    let Some(server) = own_server("a_removal_made_after_a_queued_write") else {
        return;
    };
    let store = store(&server, true).await;
    let ttl = Duration::from_secs(60);
    // A write queued, its sender not yet run (this runtime has one thread), so the next ones
    // queue behind it.
    let first = queued(store.set("first", b"1".to_vec(), ttl));
    // Queued, then given up (as a tier timeout does): still sent in its place, so it lands
    // before the removal of its key made below, never after it.
    let gave_up = queued(store.set("k", b"old".to_vec(), ttl));
    drop(gave_up);
    // A write and a removal of one key made in this order land in this order, though the
    // removal is made while the write waits in the queue.
    let set = store.set("j", b"new".to_vec(), ttl);
    let remove_j = store.remove("j");
    let remove_k = store.remove("k");
    let (a, b, c, d) = futures_util::join!(first, set, remove_j, remove_k);
    for answer in [a, b, c, d] {
        answer.unwrap();
    }
    assert!(!present(&server, "j"), "the removal landed after the write");
    assert!(
        !present(&server, "k"),
        "the given-up write landed before the removal"
    );
    assert!(present(&server, "first"));
    assert_eq!(calls(&server, "set"), 3);
    assert_eq!(calls(&server, "unlink"), 2);
    // A removal given up is still made (an invalidation is not lost to a tier timeout).
    store.set("k2", b"1".to_vec(), ttl).await.unwrap();
    let busy = queued(store.set("x", b"1".to_vec(), ttl));
    let removal = queued(store.remove("k2"));
    drop(removal);
    busy.await.unwrap(); // answered with the pipeline that carried the removal
    assert!(!present(&server, "k2"));
    // A namespace clear queued behind a write runs after it: nothing of the prefix is left.
    let busy = queued(store.set("other", b"1".to_vec(), ttl));
    let set = store.set("ns:a", b"1".to_vec(), ttl);
    let clear = store.clear_prefix("ns:");
    let (a, b, c) = futures_util::join!(busy, set, clear);
    for answer in [a, b, c] {
        answer.unwrap();
    }
    assert!(!present(&server, "ns:a"));
}

#[tokio::test]
async fn a_failed_write_in_a_pipeline_fails_only_its_own_caller() {
    let Some(server) = own_server("a_failed_write_in_a_pipeline") else {
        return;
    };
    let store = store(&server, true).await;
    let ttl = Duration::from_secs(60);
    store.set("r0", b"x".to_vec(), ttl).await.unwrap();
    assert!(server.cli(&["ACL", "SETUSER", "default", "-set"]).is_some());
    let keys: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let sets = keys
        .iter()
        .map(|k| store.set(k, b"v".to_vec(), ttl).boxed());
    let removal = std::iter::once(store.remove("r0").boxed());
    let answers = join_all(removal.chain(sets)).await;
    answers[0].as_ref().unwrap();
    for (i, answer) in answers[1..].iter().enumerate() {
        match answer {
            Err(StorageError::Backend(e)) => {
                assert!(e.to_string().contains("NOPERM"), "s{i}: {e}")
            }
            other => panic!("s{i}: {other:?}"),
        }
    }
    assert!(!present(&server, "r0"));
    assert!(store.write_stats().batches <= 3);
    // A set_many carries its first error; the queue goes on.
    let many = vec![("m1".to_string(), b"v".to_vec(), ttl)];
    assert!(store.set_many(many.clone()).await.is_err());
    assert!(server.cli(&["ACL", "SETUSER", "default", "+set"]).is_some());
    store.set_many(many).await.unwrap();
    assert!(present(&server, "m1"));
}

#[tokio::test]
async fn concurrent_cache_misses_write_redis_in_one_pipeline() {
    let Some(server) = own_server("concurrent_cache_misses_write_redis") else {
        return;
    };
    let store = store(&server, true).await;
    let cache: Cache<u32, u32> = Cache::builder()
        .tier(Tier::new(store.typed(Namespace::new("w"), Codec::json())))
        .build()
        .unwrap();
    let gets =
        (0..20).map(|id| cache.get_or_load(id, move || async move { Ok::<_, std::io::Error>(id) }));
    for (id, v) in join_all(gets).await.into_iter().enumerate() {
        assert_eq!(v.unwrap(), id as u32);
    }
    cache.idle().await;
    let stats = store.write_stats();
    assert_eq!(stats.commands, 20);
    assert!(
        stats.batches < 5,
        "20 tier writes took {} round trips",
        stats.batches
    );
    assert_eq!(calls(&server, "set"), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_on_a_multi_thread_runtime_share_round_trips() {
    let Some(server) = own_server("concurrent_writes_on_a_multi_thread_runtime") else {
        return;
    };
    let store = store(&server, true).await;
    let keys: Vec<String> = (0..400).map(|i| format!("k{i}")).collect();
    let tasks = keys.iter().map(|k| {
        let (store, k) = (store.clone(), k.clone());
        tokio::spawn(async move {
            store
                .set(&k, k.clone().into_bytes(), Duration::from_secs(60))
                .await
        })
    });
    for t in join_all(tasks).await {
        t.unwrap().unwrap();
    }
    let stats = store.write_stats();
    assert_eq!(stats.commands, 400);
    assert!(
        stats.batches < 100,
        "400 writes took {} round trips",
        stats.batches
    );
    for k in keys.iter().step_by(37) {
        assert_eq!(
            store.get_bounded(k, LIMIT).await.unwrap().unwrap(),
            k.as_bytes()
        );
    }
}

#[tokio::test]
async fn without_auto_pipelining_writes_are_not_queued() {
    let Some(server) = own_server("without_auto_pipelining_writes") else {
        return;
    };
    let store = store(&server, false).await;
    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    let sets = keys
        .iter()
        .map(|k| store.set(k, b"v".to_vec(), Duration::from_secs(60)));
    for a in join_all(sets).await {
        a.unwrap();
    }
    assert_eq!(store.write_stats(), memocache_redis::WriteStats::default());
    assert_eq!(calls(&server, "set"), 5);
}

#[tokio::test]
async fn a_write_whose_caller_stops_polling_holds_up_no_other_write() {
    let Some(server) = own_server("a_write_whose_caller_stops_polling") else {
        return;
    };
    let store = store(&server, true).await;
    let ttl = Duration::from_secs(60);
    // Polled once, then kept but never polled again (as a future parked in a struct).
    let parked = queued(store.set("parked", b"1".to_vec(), ttl));
    // Others still go out: the sender is a task of its own, not the parked caller. (The
    // timeout only turns a hang into a failure.)
    let other = tokio::time::timeout(
        Duration::from_secs(10),
        store.set("other", b"2".to_vec(), ttl),
    );
    other.await.expect("not held up").unwrap();
    assert!(present(&server, "parked"), "sent with the queue");
    assert!(present(&server, "other"));
    drop(parked);
}

#[tokio::test]
async fn writes_queued_past_a_bound_are_refused_at_once() {
    let Some(server) = own_server("writes_queued_past_a_bound") else {
        return;
    };
    let store = store(&server, true).await;
    // 70,000 writes made before the sender runs (this runtime has one thread): the queue's
    // bound (65,536) is what a server that stopped answering would make them meet.
    let keys: Vec<String> = (0..70_000).map(|i| format!("q{i}")).collect();
    let sets = keys
        .iter()
        .map(|k| store.set(k, b"v".to_vec(), Duration::from_secs(60)));
    let answers = join_all(sets).await;
    let refused = answers
        .iter()
        .filter(|a| matches!(a, Err(StorageError::Backend(e)) if e.to_string().contains("waiting for the server")))
        .count();
    let ok = answers.iter().filter(|a| a.is_ok()).count();
    // Past the bound refused at once with a clear error (not queued without bound), the others
    // written.
    assert_eq!((ok, refused), (65_536, 4_464));
    assert_eq!(ok + refused, 70_000, "every write answered");
    assert_eq!(calls(&server, "set"), ok as u64);
}

#[tokio::test]
async fn each_write_of_a_pipeline_gets_its_own_answer_even_inside_a_set_many() {
    let Some(server) = own_server("each_write_of_a_pipeline_gets_its_own_answer") else {
        return;
    };
    let store = store(&server, true).await;
    let ttl = Duration::from_secs(60);
    // Keys starting with "ok" may be written, others only read.
    assert!(server
        .cli(&["ACL", "SETUSER", "default", "resetkeys", "%R~*", "%W~ok*"])
        .is_some());
    let pair = |a: &str, b: &str| {
        vec![
            (a.to_string(), b"v".to_vec(), ttl),
            (b.to_string(), b"v".to_vec(), ttl),
        ]
    };
    let (half, ok, whole, refused, empty) = futures_util::join!(
        store.set_many(pair("ok1", "no1")),
        store.set("ok2", b"v".to_vec(), ttl),
        store.set_many(pair("ok3", "ok4")),
        store.set("no2", b"v".to_vec(), ttl),
        store.set_many(Vec::new()),
    );
    // One pipeline of six commands; each caller's answer from its own commands' replies.
    assert_eq!(
        store.write_stats(),
        memocache_redis::WriteStats {
            commands: 6,
            batches: 1
        }
    );
    for (name, answer) in [("half", &half), ("refused", &refused)] {
        match answer {
            Err(StorageError::Backend(e)) => {
                assert!(e.to_string().contains("NOPERM"), "{name}: {e}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for answer in [ok, whole, empty] {
        answer.unwrap();
    }
    // A pipeline is not a transaction: the set_many's allowed half was written.
    for key in ["ok1", "ok2", "ok3", "ok4"] {
        assert!(present(&server, key), "{key}");
    }
    assert!(!present(&server, "no1") && !present(&server, "no2"));
    // The connection's replies still match their commands.
    for key in ["ok1", "ok2", "ok3", "ok4"] {
        assert_eq!(store.get_bounded(key, LIMIT).await.unwrap().unwrap(), b"v");
    }
    assert_eq!(store.get_bounded("no1", LIMIT).await.unwrap(), None);
}

#[test]
fn a_store_made_in_a_runtime_since_shut_down_reads_and_writes_from_another() {
    let Some(server) = own_server("a_store_made_in_a_runtime_since_shut_down") else {
        return;
    };
    let ttl = Duration::from_secs(60);
    let made_in = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = made_in.block_on(async {
        let store = store(&server, true).await;
        store.set("a", b"1".to_vec(), ttl).await.unwrap();
        store
    });
    drop(made_in);
    let used_in = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    used_in.block_on(async {
        // The connection's driver ended with the first runtime: the first operations fail
        // while the connection manager reconnects from this one, then the store works again
        // (its queues' senders run here, not in the runtime that is gone).
        let mut attempts = 0;
        while store.set("b", b"2".to_vec(), ttl).await.is_err() {
            attempts += 1;
            assert!(attempts < 100, "writes never worked again");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reads = join_all(["a", "b"].map(|k| store.get_bounded(k, LIMIT))).await;
        let reads: Vec<_> = reads.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(reads, [b"1".to_vec(), b"2".to_vec()]);
        let writes = join_all((0..10).map(|i| store.remove(["a", "b"][i % 2]))).await;
        assert!(writes.iter().all(Result::is_ok));
    });
    assert!(!present(&server, "a") && !present(&server, "b"));
}
