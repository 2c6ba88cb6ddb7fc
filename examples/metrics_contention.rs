//! What the metrics a request updates cost when two threads update them at
//! once (docs/performance.md, twentieth round): prometheus-client's
//! `Counter`, `Gauge` and `Histogram`, which every thread writes, against
//! the bridge's per-thread shards (`scim_bridge::metrics::shards`).
//!
//! Each "request" makes the updates one SCIM request with one backend call
//! makes: in-flight up and down, two counters, two histograms.
//!
//! `cargo run --release --example metrics_contention [-- REQUESTS]`

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use scim_bridge::metrics::{LatencyHistogram, ShardedCounter, ShardedGauge};
use std::time::Instant;

/// Nanoseconds per request of `threads` threads each making `n` requests.
fn per_request(threads: usize, n: u64, request: impl Fn(u64) + Sync) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| (0..n).for_each(&request));
        }
    });
    t.elapsed().as_nanos() as f64 / n as f64
}

/// The updates of one request with one backend call, on counter `c`,
/// gauge `g` and histogram `h` (either kind: the methods share names).
macro_rules! request {
    ($c:ident, $g:ident, $h:ident) => {
        |i: u64| {
            $g.inc();
            $c.inc();
            $h.observe((i % 7) as f64 * 0.0003);
            $c.inc();
            $h.observe(0.0002);
            $g.dec();
        }
    };
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    println!("threads  prometheus-client  sharded   (ns per request, {n} requests per thread)");
    for threads in [1, 2] {
        let (c, g, h) = (
            Counter::<u64>::default(),
            Gauge::<i64>::default(),
            Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        );
        let plain = per_request(threads, n, request!(c, g, h));
        let (c, g, h) = (
            ShardedCounter::default(),
            ShardedGauge::default(),
            LatencyHistogram::default(),
        );
        let sharded = per_request(threads, n, request!(c, g, h));
        println!("{threads:>7}  {plain:>17.1}  {sharded:>7.1}");
    }
}
