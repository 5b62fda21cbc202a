//! [`RedisStore`] as a [`Coordinator`]: leases (`SET NX PX`, compare-and-extend and
//! compare-and-delete-then-publish scripts) and events (`PUBLISH`, and a subscription
//! connection of its own per subscriber).

use std::sync::LazyLock;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};
use memocache_core::storage::StorageError;
use memocache_core::Coordinator;
use redis::Script;

use crate::{backend, px, Conn, RedisStore};

/// `PEXPIRE` the lease if the token still holds it: 1, else 0.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
           return redis.call('PEXPIRE', KEYS[1], ARGV[2]) \
         else return 0 end",
    )
});

/// Delete the lease if the token still holds it, then announce the release.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end \
         redis.call('PUBLISH', ARGV[2], ARGV[3]) \
         return 1",
    )
});

impl RedisStore {
    async fn eval<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StorageError> {
        if let Conn::Cluster(c) = &self.conn {
            return invocation
                .invoke_async(&mut c.clone())
                .await
                .map_err(backend);
        }
        let mut c = self.single().await?.expect("not a cluster");
        invocation.invoke_async(&mut c).await.map_err(backend)
    }
}

impl Coordinator for RedisStore {
    fn try_lease<'a>(
        &'a self,
        key: &'a str,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StorageError>> {
        async move {
            let set: Option<String> = self
                .query(
                    redis::cmd("SET")
                        .arg(key)
                        .arg(token.to_string())
                        .arg("NX")
                        .arg("PX")
                        .arg(px(ttl)),
                )
                .await?;
            Ok(set.is_some())
        }
        .boxed()
    }

    fn extend_lease<'a>(
        &'a self,
        key: &'a str,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StorageError>> {
        async move {
            let mut invocation = EXTEND.prepare_invoke();
            invocation.key(key).arg(token.to_string()).arg(px(ttl));
            let extended: i64 = self.eval(invocation).await?;
            Ok(extended == 1)
        }
        .boxed()
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        token: u64,
        channel: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let mut invocation = RELEASE.prepare_invoke();
            invocation
                .key(key)
                .arg(token.to_string())
                .arg(channel)
                .arg(message);
            let _: i64 = self.eval(invocation).await?;
            Ok(())
        }
        .boxed()
    }

    fn publish<'a>(
        &'a self,
        channel: &'a str,
        message: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        async move {
            let _: i64 = self
                .query(redis::cmd("PUBLISH").arg(channel).arg(message))
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn subscribe<'a>(
        &'a self,
        channel: &'a str,
    ) -> BoxFuture<'a, Result<BoxStream<'static, Vec<u8>>, StorageError>> {
        async move {
            let connect = self.subscriber.get_async_pubsub();
            let mut pubsub = tokio::time::timeout(Duration::from_secs(2), connect)
                .await
                .map_err(|_| StorageError::Timeout(Duration::from_secs(2)))?
                .map_err(backend)?;
            pubsub.subscribe(channel).await.map_err(backend)?;
            let messages = pubsub
                .into_on_message()
                .map(|m| m.get_payload_bytes().to_vec());
            Ok(messages.boxed())
        }
        .boxed()
    }
}
