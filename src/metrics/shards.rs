//! The metrics every request updates, kept in one shard per thread.
//!
//! prometheus-client's `Counter` is one atomic and its `Histogram` one
//! mutex: every request and backend call wrote them, and so did the other
//! worker thread, so the cache lines holding them went from core to core
//! on each request (six shared writes per request, with `in_flight`). Here
//! each thread counts into a shard of its own, on its own cache line, and
//! `/metrics` adds the shards up. The text is the one those types write
//! (the tests compare them).

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Shards per metric: threads beyond this many share them (correctly, only
/// less quickly).
const SHARDS: usize = 8;

/// A value alone on its cache line (and the adjacent line the prefetcher
/// pairs with it).
#[derive(Default, Debug)]
#[repr(align(128))]
struct Line<T>(T);

/// This thread's shard: threads take the next one in turn.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    // A count from a destructor after the thread's locals are gone.
    SHARD.try_with(|s| *s).unwrap_or(0)
}

fn lines<T: Default>() -> Arc<[Line<T>]> {
    (0..SHARDS).map(|_| Line::default()).collect()
}

/// A counter (prometheus-client's `Counter`, sharded).
#[derive(Clone, Debug)]
pub struct ShardedCounter(Arc<[Line<AtomicU64>]>);

impl Default for ShardedCounter {
    fn default() -> Self {
        ShardedCounter(lines())
    }
}

impl ShardedCounter {
    pub fn inc(&self) {
        self.0[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.iter().map(|l| l.0.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A count of things in progress, up and down (prometheus-client's
/// `Gauge`, sharded). A shard may go below zero (up on one thread, down on
/// another); the sum does not, but a read racing updates on two shards may
/// see the down before the up: it is written as zero then.
#[derive(Clone, Debug)]
pub struct ShardedGauge(Arc<[Line<AtomicI64>]>);

impl Default for ShardedGauge {
    fn default() -> Self {
        ShardedGauge(lines())
    }
}

impl ShardedGauge {
    pub fn inc(&self) {
        self.0[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0[shard()].0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0
            .iter()
            .map(|l| l.0.load(Ordering::Relaxed))
            .sum::<i64>()
            .max(0)
    }
}

impl TypedMetric for ShardedGauge {
    const TYPE: MetricType = MetricType::Gauge;
}

impl EncodeMetric for ShardedGauge {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.get())
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Upper bounds of the latency buckets: 1 ms doubling to about 16 s (as
/// `exponential_buckets(0.001, 2.0, 15)`), then `+Inf`.
const BUCKETS: usize = 16;

const BOUNDS: [f64; BUCKETS] = {
    let mut b = [f64::INFINITY; BUCKETS];
    let (mut i, mut v) = (0, 0.001);
    while i < BUCKETS - 1 {
        b[i] = v;
        v *= 2.0;
        i += 1;
    }
    b
};

#[derive(Default, Debug)]
struct Cells {
    sum: f64,
    count: u64,
    /// Observations per bucket (not cumulative).
    buckets: [u64; BUCKETS],
}

/// A latency histogram (prometheus-client's `Histogram` with the buckets
/// `BOUNDS`, sharded).
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Arc<[Line<Mutex<Cells>>]>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(lines())
    }
}

impl LatencyHistogram {
    pub fn observe(&self, seconds: f64) {
        let bucket = bucket_of(seconds);
        let mut c = self.0[shard()].0.lock().unwrap_or_else(|p| p.into_inner());
        c.sum += seconds;
        c.count += 1;
        c.buckets[bucket] += 1;
    }

    fn total(&self) -> Cells {
        let mut t = Cells::default();
        for line in self.0.iter() {
            let c = line.0.lock().unwrap_or_else(|p| p.into_inner());
            t.sum += c.sum;
            t.count += c.count;
            for (a, b) in t.buckets.iter_mut().zip(c.buckets) {
                *a += b;
            }
        }
        t
    }
}

/// The first bucket whose bound is at least `v` (`+Inf`'s for NaN, as
/// prometheus-client does).
fn bucket_of(v: f64) -> usize {
    BOUNDS.iter().position(|b| *b >= v).unwrap_or(BUCKETS - 1)
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let t = self.total();
        let buckets: Vec<(f64, u64)> = BOUNDS.into_iter().zip(t.buckets).collect();
        encoder.encode_histogram::<NoLabelSet>(t.sum, t.count, &buckets, None)
    }
    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
    use prometheus_client::registry::Registry;

    fn text(register: impl FnOnce(&mut Registry)) -> String {
        let mut r = Registry::default();
        register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    /// Counts from several threads, written as prometheus-client's own
    /// types write the same counts.
    #[test]
    fn shards_add_up_to_what_the_plain_metrics_write() {
        let seconds = [
            0.0,
            0.0004,
            0.001,
            0.0015,
            0.002,
            0.3,
            1.0,
            7.9,
            16.384,
            16.5,
            99.0,
            f64::NAN,
        ];
        let (counter, gauge, hist) = (
            ShardedCounter::default(),
            ShardedGauge::default(),
            LatencyHistogram::default(),
        );
        let plain = (
            Counter::<u64>::default(),
            Gauge::<i64>::default(),
            Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        );
        std::thread::scope(|s| {
            for t in 0..12 {
                let (counter, gauge, hist, seconds) = (&counter, &gauge, &hist, &seconds);
                s.spawn(move || {
                    for v in seconds {
                        counter.inc();
                        hist.observe(*v);
                        gauge.inc();
                    }
                    // Down on another thread than the one that went up.
                    if t % 2 == 0 {
                        for _ in 0..seconds.len() {
                            gauge.dec();
                        }
                    }
                });
            }
        });
        for _ in 0..12 {
            for v in seconds {
                plain.0.inc();
                plain.2.observe(v);
            }
        }
        plain.1.set(6 * seconds.len() as i64);
        let ours = text(|r| {
            r.register("c", "c", counter.clone());
            r.register("g", "g", gauge.clone());
            r.register("h", "h", hist.clone());
        });
        let theirs = text(|r| {
            r.register("c", "c", plain.0.clone());
            r.register("g", "g", plain.1.clone());
            r.register("h", "h", plain.2.clone());
        });
        // NaN sums differ only in being NaN: compare without the sums.
        let no_sum = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with("h_sum"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(no_sum(&ours), no_sum(&theirs));
        assert!(ours.contains("h_count 144"), "{ours}");
        assert_eq!(counter.get(), 144);
        assert_eq!(gauge.get(), 72);
    }

    /// A read that sees a request's end on one shard before its start on
    /// another writes zero, not -1.
    #[test]
    fn a_gauge_read_between_shards_is_never_negative() {
        let g = ShardedGauge::default();
        std::thread::scope(|s| {
            s.spawn(|| g.dec());
        });
        assert_eq!(g.get(), 0);
        g.inc();
        g.inc();
        assert_eq!(g.get(), 1);
    }

    #[test]
    fn sums_are_written_as_the_plain_histogram_writes_them() {
        let (ours, theirs) = (
            LatencyHistogram::default(),
            Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        );
        for v in [0.25, 0.5, 0.003] {
            ours.observe(v);
            theirs.observe(v);
        }
        let fam = |f: &dyn Fn(&mut Registry)| text(|r| f(r));
        let a = fam(&|r: &mut Registry| {
            let f = Family::<Vec<(String, String)>, LatencyHistogram>::default();
            f.get_or_create(&vec![("op".into(), "get".into())])
                .observe(0.25);
            r.register("d", "d", f);
            r.register("h", "h", ours.clone());
        });
        let b = fam(&|r: &mut Registry| {
            let f = Family::<Vec<(String, String)>, Histogram>::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            });
            f.get_or_create(&vec![("op".into(), "get".into())])
                .observe(0.25);
            r.register("d", "d", f);
            r.register("h", "h", theirs.clone());
        });
        assert_eq!(a, b);
    }

    #[test]
    fn each_value_lands_in_the_first_bucket_at_least_as_large() {
        let theirs: Vec<f64> = exponential_buckets(0.001, 2.0, 15).collect();
        assert_eq!(BOUNDS[..BUCKETS - 1], theirs[..]);
        for (i, bound) in BOUNDS.iter().enumerate().take(BUCKETS - 1) {
            assert_eq!(bucket_of(*bound), i);
            assert_eq!(bucket_of(bound * 1.000_001), i + 1);
        }
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(-1.0), 0);
        assert_eq!(bucket_of(f64::INFINITY), BUCKETS - 1);
        assert_eq!(bucket_of(f64::NAN), BUCKETS - 1);
    }
}
