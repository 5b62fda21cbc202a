//! `rediss://`: a `redis-server` of our own serving TLS with a certificate of a private CA
//! made here with `openssl`. The store connects when given that CA and refuses the server
//! otherwise (the certificate is verified). Skips loudly without `redis-server` or `openssl`
//! (fails under `CI`).
#![cfg(feature = "tls")]

mod common;

use std::process::Command;
use std::time::Duration;

use memocache_core::codec::Codec;
use memocache_core::storage::contract;
use memocache_redis::{RedisOptions, RedisStore};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn rediss_urls_connect_over_verified_tls() {
    if !common::have("redis-server")
        || !common::have("redis-cli")
        || Command::new("openssl").arg("version").output().is_err()
    {
        common::skip("tls test", "redis-server, redis-cli or openssl not on PATH");
        return;
    }
    let dir = std::env::temp_dir().join(common::unique_prefix("tls"));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=memocache test CA",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );

    let tls_port = common::free_port();
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    let tls_port_s = tls_port.to_string();
    let (cert, key, ca) = (path("srv.crt"), path("srv.key"), path("ca.crt"));
    let _server = common::OwnServer::start(&[
        "--tls-port",
        &tls_port_s,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let ca_pem = std::fs::read(dir.join("ca.crt")).unwrap();

    // Not trusted by the platform's roots: refused.
    let untrusted = tokio::time::timeout(Duration::from_secs(5), RedisStore::connect(&url)).await;
    assert!(
        !matches!(untrusted, Ok(Ok(_))),
        "an unverified certificate is refused"
    );

    let store = RedisStore::connect_tls(&url, &ca_pem, RedisOptions::default())
        .await
        .expect("TLS with the private CA");
    let a = store.typed::<String, String>(common::namespace("tls", "a"), Codec::json());
    let b = store.typed::<String, String>(common::namespace("tls", "b"), Codec::json());
    contract::check_storage(&a, &b).await;
    let _ = std::fs::remove_dir_all(&dir);
}
