//! The connection URL: user, password and database come from it. Uses a `redis-server` of
//! our own with an ACL user (skips loudly without the binary; fails under `CI`).

mod common;

use std::time::Duration;

use memocache_core::codec::Codec;
use memocache_core::storage::{Storage, StoredEntry};
use memocache_redis::RedisStore;

#[tokio::test]
async fn user_password_and_db_come_from_the_url() {
    if !common::have("redis-server") || !common::have("redis-cli") {
        common::skip("url test", "redis-server / redis-cli not on PATH");
        return;
    }
    let server = common::OwnServer::start(&[
        // redis-server takes the words after an option as its arguments
        "--user", "default", "off", "--user", "alice", "on", ">s3cret", "~*", "&*", "+@all",
    ]);
    let port = server.port;

    // Wrong password: the store refuses to connect, with a typed error.
    let bad = RedisStore::connect(&format!("redis://alice:wrong@127.0.0.1:{port}/2")).await;
    assert!(bad.is_err(), "a wrong password is refused");

    let store = RedisStore::connect(&format!("redis://alice:s3cret@127.0.0.1:{port}/2"))
        .await
        .expect("user and password from the URL");
    let ns = common::namespace("url", "u");
    let typed = store.typed::<u32, String>(ns.clone(), Codec::json());
    typed
        .set(
            &1,
            StoredEntry::new("x".into(), Duration::from_secs(60), Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(typed.get(&1).await.unwrap().unwrap().value, "x");

    let dbsize = |db: &str| {
        server
            .cli(&[
                "--user",
                "alice",
                "--pass",
                "s3cret",
                "--no-auth-warning",
                "-n",
                db,
                "dbsize",
            ])
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(dbsize("2"), 1, "written to db 2, from the URL");
    assert_eq!(dbsize("0"), 0);
}
