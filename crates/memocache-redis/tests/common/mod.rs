//! Shared by the Redis tests: the server URL, unique namespaces, loud skips, servers of our
//! own on free ports.
#![allow(dead_code)]

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memocache_core::key::Namespace;
use memocache_redis::RedisStore;

/// `MEMOCACHE_REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("MEMOCACHE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Written straight to the process's stderr, so `cargo test` shows it even for a passing
/// test (the test harness captures only the print macros).
pub fn loud(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A loud SKIP, or a failure when `CI` is set.
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {why} (CI is set: an unavailable service fails the test)");
    }
    loud(&format!("\n!!!!! SKIP: {test}: {why} !!!!!\n"));
}

/// A connection to the shared server, or `None` after a loud skip.
pub async fn connect(test: &str) -> Option<RedisStore> {
    let url = redis_url();
    match tokio::time::timeout(Duration::from_secs(3), RedisStore::connect(&url)).await {
        Ok(Ok(store)) => Some(store),
        Ok(Err(e)) => {
            skip(test, &format!("Redis at {url} unreachable: {e}"));
            None
        }
        Err(_) => {
            skip(test, &format!("Redis at {url} did not answer within 3 s"));
            None
        }
    }
}

/// A prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "memocache-test-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A namespace of cache `name` under a unique prefix.
pub fn namespace(test: &str, name: &str) -> Namespace {
    Namespace::new(name).prefix(unique_prefix(test))
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A free port whose cluster bus port (port + 10000) is free and valid too.
pub fn free_cluster_port() -> u16 {
    loop {
        let p = free_port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}

/// `true` when `bin` runs (`--version`).
pub fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `redis-server` of our own; killed on drop.
pub struct OwnServer {
    pub port: u16,
    child: Option<Child>,
    pub dir: PathBuf,
    extra: Vec<String>,
}

impl OwnServer {
    /// Starts `redis-server` on a free port (no persistence) with `extra` arguments, and
    /// waits until it answers.
    pub fn start(extra: &[&str]) -> OwnServer {
        Self::start_on(free_port(), extra)
    }

    /// Starts `redis-server` on `port` with `extra` arguments.
    pub fn start_on(port: u16, extra: &[&str]) -> OwnServer {
        let dir = std::env::temp_dir().join(unique_prefix(&format!("srv{port}")));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = OwnServer {
            port,
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.restart();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers `PING`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {} never answered",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `true` when the server answers PING (an authentication error is an answer too).
    pub fn ping(&self) -> bool {
        let Ok(out) = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "ping"])
            .output()
        else {
            return false;
        };
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        text.contains("PONG") || text.contains("NOAUTH") || text.contains("NOPERM")
    }

    /// Runs `redis-cli -p PORT args…`, returning its output on success.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The server process's id (to stop and continue it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the server with `kill`.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {}", self.pid());
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
