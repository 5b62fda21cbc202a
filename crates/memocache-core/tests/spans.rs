//! Tracing spans: each flight is a `memocache.flight` span (cache, kind, key hash, then its
//! outcome and duration) and each tier operation a `memocache.tier` span (cache, tier,
//! operation, outcome, duration) — captured by a test subscriber; no span field holds the key or the
//! value.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use memocache_core::storage::MemoryStorage;
use memocache_core::{Cache, Tier};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One span: its name and fields as text.
#[derive(Debug, Clone, Default)]
struct Captured {
    name: String,
    fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<HashMap<u64, Captured>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut span = Captured {
            name: attrs.metadata().name().to_string(),
            ..Captured::default()
        };
        attrs.record(&mut Fields(&mut span.fields));
        self.0.lock().unwrap().insert(id.into_u64(), span);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(span) = self.0.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }
}

impl Capture {
    fn named(&self, name: &str) -> Vec<Captured> {
        let spans = self.0.lock().unwrap();
        spans.values().filter(|s| s.name == name).cloned().collect()
    }
}

/// Runs `test` on a current-thread runtime with `layer` as this thread's subscriber.
fn traced<L, F>(layer: L, test: F)
where
    L: Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
    F: std::future::Future<Output = ()>,
{
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(test);
}

#[test]
fn flights_and_tier_operations_are_spans_without_keys_or_values() {
    let capture = Capture::default();
    traced(capture.clone(), async {
        let cache: Cache<String, String> = Cache::builder()
            .name("users")
            .tier(Tier::new(MemoryStorage::<String, String>::new(10)))
            .build()
            .unwrap();
        let key = "secret-key".to_string();
        let v = cache
            .get_or_load(key.clone(), || async {
                Ok::<_, std::io::Error>("secret-value".into())
            })
            .await
            .unwrap();
        assert_eq!(v, "secret-value");
        let failed = cache
            .get_or_load("other".into(), || async {
                Err::<String, _>(std::io::Error::other("x"))
            })
            .await;
        assert!(failed.is_err());
        cache.idle().await;
    });
    let flights = capture.named("memocache.flight");
    assert_eq!(flights.len(), 2, "{flights:?}");
    for f in &flights {
        assert_eq!(f.fields["cache"], "users");
        assert_eq!(f.fields["kind"], "load");
        assert_eq!(
            f.fields["key_hash"].len(),
            16,
            "a 64-bit hash in hex: {f:?}"
        );
        assert!(f.fields.contains_key("elapsed_us"), "{f:?}");
    }
    let outcomes: Vec<&str> = flights
        .iter()
        .map(|f| f.fields["outcome"].as_str())
        .collect();
    assert!(
        outcomes.contains(&"value") && outcomes.contains(&"returned an error"),
        "{outcomes:?}"
    );
    let tier_ops = capture.named("memocache.tier");
    let ops: Vec<(&str, &str)> = tier_ops
        .iter()
        .map(|s| (s.fields["op"].as_str(), s.fields["outcome"].as_str()))
        .collect();
    assert!(
        ops.contains(&("get", "ok")) && ops.contains(&("set", "ok")),
        "{ops:?}"
    );
    assert!(tier_ops.iter().all(|s| s.fields["cache"] == "users"));
    assert!(
        tier_ops.iter().all(|s| s.fields.contains_key("elapsed_us")),
        "{tier_ops:?}"
    );
    for span in flights.iter().chain(&tier_ops) {
        for value in span.fields.values() {
            assert!(
                !value.contains("secret"),
                "no key or value in a span: {span:?}"
            );
        }
    }
}

/// Records, for each event, the name of the span it happened in; takes nothing below INFO.
#[derive(Clone, Default)]
struct InfoEvents(Arc<Mutex<Vec<Option<String>>>>);

impl<S> Layer<S> for InfoEvents
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }
    fn on_event(&self, _: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let span = ctx.lookup_current().map(|s| s.name().to_string());
        self.0.lock().unwrap().push(span);
    }
}

#[test]
fn without_debug_spans_a_load_stays_in_its_requests_span_after_a_handoff() {
    use tracing::Instrument;
    let events = InfoEvents::default();
    traced(events.clone(), async {
        let cache: Cache<u32, u64> = Cache::new();
        let gate = Arc::new(tokio::sync::Notify::new());
        let leader = {
            let (cache, gate) = (cache.clone(), gate.clone());
            tokio::spawn(async move {
                let loader = move || async move {
                    gate.notified().await;
                    tracing::info!("loaded");
                    Ok::<u64, String>(1)
                };
                let request = tracing::info_span!("request");
                cache.get_or_load(1, loader).instrument(request).await
            })
        };
        while cache.loads_in_flight() == 0 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        gate.notify_one();
        cache.idle().await;
        assert_eq!(cache.get(&1).await, Some(1));
    });
    let seen = events.0.lock().unwrap().clone();
    assert_eq!(seen, vec![Some("request".to_string())]);
}
