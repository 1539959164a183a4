//! The pipeline page's numbers: every service's `/metrics`, scraped on an interval and kept
//! for a couple of minutes, so rates and latency percentiles cover the last few seconds (as
//! Prometheus' `rate()` and `histogram_quantile()` would) rather than all time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};

use super::Upstreams;
use crate::api::{ConsumerLag, Latency, PipelineView, ServiceHealth};

/// Rates and percentiles are measured over about this long.
const WINDOW: Duration = Duration::from_secs(10);
/// Scrapes kept (the rate sparkline's length).
const KEPT: usize = 120;

/// The numbers read off one round of scrapes; `None` where a service did not answer.
#[derive(Debug, Clone)]
struct Reading {
    at: Instant,
    ingest_up: bool,
    stats_up: bool,
    warehouse_up: bool,
    ingest_accepted: Option<f64>,
    ingest_rejected: Option<f64>,
    stats_lag: Option<f64>,
    warehouse_lag: Option<f64>,
    end_to_end: Option<Buckets>,
    stats_dead_letters: Option<f64>,
    warehouse_rows: Option<f64>,
    warehouse_rejected: Option<f64>,
    freshness: Option<Buckets>,
    matches: Option<f64>,
    ws_clients: Option<f64>,
}

/// A histogram's cumulative bucket counts: (upper bound in seconds, count), ascending.
type Buckets = Vec<(f64, f64)>;

#[derive(Debug)]
pub struct Pipeline {
    upstreams: Upstreams,
    readings: Mutex<VecDeque<Reading>>,
}

impl Pipeline {
    pub fn new(upstreams: Upstreams) -> Pipeline {
        Pipeline {
            upstreams,
            readings: Mutex::new(VecDeque::with_capacity(KEPT)),
        }
    }

    /// Scrapes every `interval` until the task is dropped.
    pub async fn run(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let reading = self.scrape().await;
            let mut readings = self.lock();
            if readings.len() == KEPT {
                readings.pop_front();
            }
            readings.push_back(reading);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Reading>> {
        // A panic elsewhere cannot leave a reading half-written: keep serving.
        self.readings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn scrape(&self) -> Reading {
        let up = &self.upstreams;
        let (ingest, stats, warehouse) = tokio::join!(
            up.metrics(&up.ingest),
            up.metrics(&up.stream_stats),
            up.metrics(&up.warehouse)
        );
        let parse = |text: Option<String>| {
            text.and_then(|text| Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).ok())
        };
        let (ingest, stats, warehouse) = (parse(ingest), parse(stats), parse(warehouse));
        Reading {
            at: Instant::now(),
            ingest_up: ingest.is_some(),
            stats_up: stats.is_some(),
            warehouse_up: warehouse.is_some(),
            ingest_accepted: ingest
                .as_ref()
                .map(|s| sum(s, "ingest_events_accepted_total", None)),
            ingest_rejected: ingest
                .as_ref()
                .map(|s| sum(s, "ingest_events_rejected_total", None)),
            stats_lag: stats
                .as_ref()
                .map(|s| sum(s, "stream_stats_consumer_lag", None)),
            warehouse_lag: warehouse
                .as_ref()
                .map(|s| sum(s, "warehouse_consumer_lag", None)),
            end_to_end: stats
                .as_ref()
                .map(|s| buckets(s, "stream_stats_end_to_end_seconds")),
            stats_dead_letters: stats
                .as_ref()
                .map(|s| sum(s, "stream_stats_dead_letters_total", None)),
            warehouse_rows: warehouse
                .as_ref()
                .map(|s| sum(s, "warehouse_records_total", Some(("outcome", "event")))),
            warehouse_rejected: warehouse
                .as_ref()
                .map(|s| sum(s, "warehouse_records_total", Some(("outcome", "rejected")))),
            freshness: warehouse
                .as_ref()
                .map(|s| buckets(s, "warehouse_freshness_seconds")),
            matches: stats.as_ref().map(|s| sum(s, "stream_stats_matches", None)),
            ws_clients: stats
                .as_ref()
                .map(|s| sum(s, "stream_stats_ws_clients", None)),
        }
    }

    /// The page's view of the latest reading, measured against the one about a window ago.
    pub fn view(&self) -> PipelineView {
        let readings = self.lock();
        let Some(latest) = readings.back() else {
            return PipelineView::default();
        };
        let earlier = readings
            .iter()
            .rev()
            .find(|r| latest.at.duration_since(r.at) >= WINDOW)
            .or(readings.front())
            .unwrap_or(latest);
        let seconds = latest.at.duration_since(earlier.at).as_secs_f64();
        let rate = |now: Option<f64>, then: Option<f64>| match (now, then) {
            (Some(now), Some(then)) if seconds > 0.0 => Some(((now - then) / seconds).max(0.0)),
            _ => None,
        };
        let history = readings
            .iter()
            .zip(readings.iter().skip(1))
            .map(|(a, b)| {
                let dt = b.at.duration_since(a.at).as_secs_f64();
                match (a.ingest_accepted, b.ingest_accepted) {
                    (Some(x), Some(y)) if dt > 0.0 => ((y - x) / dt).max(0.0),
                    _ => 0.0,
                }
            })
            .collect();
        PipelineView {
            window_s: seconds,
            services: vec![
                service("ingest", &self.upstreams.ingest, latest.ingest_up),
                service(
                    "stream-stats",
                    &self.upstreams.stream_stats,
                    latest.stats_up,
                ),
                service("warehouse", &self.upstreams.warehouse, latest.warehouse_up),
            ],
            ingest_events_per_s: rate(latest.ingest_accepted, earlier.ingest_accepted),
            ingest_accepted: latest.ingest_accepted,
            ingest_rejected: latest.ingest_rejected,
            ingest_rate_history: history,
            consumer_lag: vec![
                ConsumerLag {
                    group: "stream-stats".to_owned(),
                    records: latest.stats_lag,
                },
                ConsumerLag {
                    group: "warehouse".to_owned(),
                    records: latest.warehouse_lag,
                },
            ],
            end_to_end: latency(latest.end_to_end.as_ref(), earlier.end_to_end.as_ref()),
            stream_stats_dead_letters: latest.stats_dead_letters,
            warehouse_rejected: latest.warehouse_rejected,
            warehouse_rows: latest.warehouse_rows,
            warehouse_rows_per_s: rate(latest.warehouse_rows, earlier.warehouse_rows),
            freshness: latency(latest.freshness.as_ref(), earlier.freshness.as_ref()),
            live_matches: latest.matches,
            websocket_clients: latest.ws_clients,
        }
    }
}

fn service(name: &str, url: &str, up: bool) -> ServiceHealth {
    ServiceHealth {
        name: name.to_owned(),
        url: url.to_owned(),
        up,
    }
}

/// The sum of a counter's or gauge's samples, optionally only those with one label value.
fn sum(scrape: &Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(key, value)| s.labels.get(key) == Some(value)))
        .filter_map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
        // An empty f64 sum is -0.0; nobody wants to read "-0".
        .sum::<f64>()
        + 0.0
}

/// A histogram's buckets, summed over its label sets.
fn buckets(scrape: &Scrape, name: &str) -> Buckets {
    let mut total: Buckets = Vec::new();
    for sample in scrape.samples.iter().filter(|s| s.metric == name) {
        if let Value::Histogram(counts) = &sample.value {
            for count in counts {
                match total.iter_mut().find(|(le, _)| *le == count.less_than) {
                    Some((_, n)) => *n += count.count,
                    None => total.push((count.less_than, count.count)),
                }
            }
        }
    }
    total.sort_by(|a, b| a.0.total_cmp(&b.0));
    total
}

/// p50 and p99 over the window if anything was observed in it, else over all time.
fn latency(now: Option<&Buckets>, then: Option<&Buckets>) -> Latency {
    let Some(now) = now else {
        return Latency::default();
    };
    let window: Buckets = match then {
        Some(then) if then.len() == now.len() => now
            .iter()
            .zip(then)
            .map(|((le, a), (_, b))| (*le, (a - b).max(0.0)))
            .collect(),
        _ => now.clone(),
    };
    let (buckets, recent) = if window.last().is_some_and(|(_, n)| *n > 0.0) {
        (&window, true)
    } else {
        (now, false)
    };
    let ms = |q| quantile(buckets, q).map(|seconds| seconds * 1000.0);
    Latency {
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        recent,
    }
}

/// The `q` quantile of cumulative buckets, interpolating linearly inside the bucket it falls
/// in (Prometheus' `histogram_quantile`). `None` without observations.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut previous = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(previous.0);
            }
            let in_bucket = count - previous.1;
            let share = if in_bucket > 0.0 {
                (rank - previous.1) / in_bucket
            } else {
                1.0
            };
            return Some(previous.0 + (le - previous.0) * share);
        }
        previous = (le, count);
    }
    Some(previous.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_the_bucket() {
        let buckets = [
            (0.001, 0.0),
            (0.01, 50.0),
            (0.1, 100.0),
            (f64::INFINITY, 100.0),
        ];
        for (q, want) in [(0.5, 0.01), (0.25, 0.0055), (0.99, 0.0982)] {
            let got = quantile(&buckets, q).unwrap_or_default();
            assert!((got - want).abs() < 1e-9, "q{q}: {got}");
        }
        assert_eq!(quantile(&[(0.1, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
        // Everything above the last finite bound: the bound is the best answer there is.
        assert_eq!(
            quantile(&[(0.1, 0.0), (f64::INFINITY, 10.0)], 0.5),
            Some(0.1)
        );
    }

    #[test]
    fn latency_uses_the_window_and_falls_back_to_all_time() {
        let then = vec![(0.01, 100.0), (1.0, 100.0), (f64::INFINITY, 100.0)];
        let now = vec![(0.01, 100.0), (1.0, 200.0), (f64::INFINITY, 200.0)];
        let recent = latency(Some(&now), Some(&then));
        assert!(recent.recent);
        assert!(recent.p50_ms.unwrap_or_default() > 10.0, "{recent:?}");
        let idle = latency(Some(&now), Some(&now));
        assert!(!idle.recent);
        assert!(
            (idle.p50_ms.unwrap_or_default() - 10.0).abs() < 1e-9,
            "{idle:?}"
        );
        assert_eq!(latency(None, None), Latency::default());
    }

    #[test]
    fn reads_our_services_exposition() {
        let text = "# TYPE warehouse_records_total counter\n\
            warehouse_records_total{outcome=\"event\"} 12\n\
            warehouse_records_total{outcome=\"rejected\"} 3\n\
            # TYPE warehouse_consumer_lag gauge\n\
            warehouse_consumer_lag{partition=\"0\"} 4\n\
            warehouse_consumer_lag{partition=\"1\"} 5\n\
            # TYPE warehouse_freshness_seconds histogram\n\
            warehouse_freshness_seconds_bucket{le=\"0.1\"} 2\n\
            warehouse_freshness_seconds_bucket{le=\"+Inf\"} 4\n\
            warehouse_freshness_seconds_sum 1.5\n\
            warehouse_freshness_seconds_count 4\n";
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parse");
        assert_eq!(
            sum(
                &scrape,
                "warehouse_records_total",
                Some(("outcome", "event"))
            ),
            12.0
        );
        assert_eq!(sum(&scrape, "warehouse_records_total", None), 15.0);
        assert_eq!(sum(&scrape, "warehouse_consumer_lag", None), 9.0);
        assert_eq!(
            buckets(&scrape, "warehouse_freshness_seconds"),
            vec![(0.1, 2.0), (f64::INFINITY, 4.0)]
        );
    }
}
