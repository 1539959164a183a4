//! Sending matches: paced by their event times, batched, and retried until accepted.
//!
//! Each match is a task that releases its events when they are due. Matches are spread over
//! `lanes`; a lane sends its batches one after another, so a match's events reach the sink in
//! `seq` order while different lanes send concurrently. Ingest's 429 and 503 are retried with
//! backoff (honouring `Retry-After`) with the very same events: consumers ignore a `seq` they
//! have already applied, so a retry that duplicates is harmless and nothing is ever skipped.

use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cricket::Event;
use indicatif::{ProgressBar, ProgressStyle};
use platform::kafka;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How fast to play: a factor of real time, or as fast as the sink accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Max,
    Factor(f64),
}

impl Speed {
    /// The factor used to compress event-time gaps (a very large one for `max`).
    pub fn factor(self) -> f64 {
        match self {
            Speed::Max => 1e9,
            Speed::Factor(factor) => factor,
        }
    }
}

impl FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Speed, String> {
        if text.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match text.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(Speed::Factor(factor)),
            _ => Err(format!(
                "{text:?} is not a speed: use a positive number (1 = real time) or `max`"
            )),
        }
    }
}

/// Where events go.
#[derive(Debug, Clone)]
pub enum Sink {
    /// The ingest API (`POST {url}/v1/events`, NDJSON, bearer token).
    Ingest { url: String, token: String },
    /// Straight into Kafka, bypassing ingest (the benchmark baseline).
    Kafka { brokers: String, topic: String },
}

/// Knobs for [`send`].
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Event-time gaps are divided by this before sleeping (1 = as the times say).
    pub pace: f64,
    /// Concurrent senders; each match always uses the same one.
    pub lanes: usize,
    /// Most events per request.
    pub batch: usize,
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReport {
    pub events: u64,
    pub requests: u64,
    pub retries: u64,
    /// How long each request (batch) took from first send to acceptance, retries included.
    pub latencies: Vec<Duration>,
}

impl SendReport {
    /// The `q` quantile (0..=1) of request latency.
    pub fn latency_quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * q).round().max(0.0) as usize;
        sorted.get(index).copied().unwrap_or_default()
    }
}

/// Sends every match to `sink`, each paced by its event times. Returns when all were accepted.
pub async fn send(
    matches: Vec<Vec<Event>>,
    sink: Sink,
    options: SendOptions,
) -> Result<SendReport> {
    let total: u64 = matches.iter().map(|events| events.len() as u64).sum();
    let progress = if options.progress {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events, {per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let lanes = options.lanes.max(1);
    let client = Client::new(&sink)?;
    let mut senders = Vec::with_capacity(lanes);
    let mut lane_tasks = Vec::with_capacity(lanes);
    for _ in 0..lanes {
        let (tx, rx) = mpsc::channel::<Event>(options.batch.max(1) * 4);
        senders.push(tx);
        lane_tasks.push(tokio::spawn(run_lane(
            rx,
            client.clone(),
            options.batch.max(1),
            progress.clone(),
        )));
    }
    let mut match_tasks = Vec::with_capacity(matches.len());
    for events in matches {
        let Some(first) = events.first() else {
            continue;
        };
        let lane = lane_of(&first.match_id, lanes);
        let tx = senders[lane].clone();
        let pace = options.pace;
        match_tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let origin = events.first().map(|e| e.time);
            for event in events {
                if let Some(origin) = origin {
                    let offset = (event.time - origin).to_std().unwrap_or(Duration::ZERO);
                    tokio::time::sleep_until(start + offset.div_f64(pace.max(1e-9))).await;
                }
                if tx.send(event).await.is_err() {
                    return; // the lane failed; its error is reported below
                }
            }
        }));
    }
    drop(senders);
    for task in match_tasks {
        task.await.context("match task panicked")?;
    }
    let mut report = SendReport::default();
    for task in lane_tasks {
        let lane = task.await.context("lane task panicked")??;
        report.events += lane.events;
        report.requests += lane.requests;
        report.retries += lane.retries;
        report.latencies.extend(lane.latencies);
    }
    progress.finish_and_clear();
    Ok(report)
}

fn lane_of(match_id: &str, lanes: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match_id.hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

async fn run_lane(
    mut rx: mpsc::Receiver<Event>,
    client: Client,
    batch: usize,
    progress: ProgressBar,
) -> Result<SendReport> {
    let mut report = SendReport::default();
    let mut events = Vec::with_capacity(batch);
    while let Some(first) = rx.recv().await {
        events.push(first);
        // Whatever else is already waiting joins the batch: batches grow under load and
        // stay single events when the pace is slow, so latency stays low either way.
        while events.len() < batch {
            match rx.try_recv() {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let retries = client.deliver(&events).await?;
        report.latencies.push(started.elapsed());
        report.requests += 1;
        report.retries += retries;
        report.events += events.len() as u64;
        progress.inc(events.len() as u64);
        events.clear();
    }
    Ok(report)
}

/// First retry after 100 ms, doubling to 5 s; give up after two minutes without success.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
const RETRY_GIVE_UP: Duration = Duration::from_secs(120);

#[derive(Clone)]
enum Client {
    Ingest {
        http: reqwest::Client,
        endpoint: Arc<str>,
        token: Arc<str>,
    },
    Kafka {
        producer: FutureProducer,
        topic: Arc<str>,
    },
}

impl Client {
    fn new(sink: &Sink) -> Result<Client> {
        Ok(match sink {
            Sink::Ingest { url, token } => Client::Ingest {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()
                    .context("cannot build the HTTP client")?,
                endpoint: Arc::from(format!("{}/v1/events", url.trim_end_matches('/'))),
                token: Arc::from(token.as_str()),
            },
            Sink::Kafka { brokers, topic } => Client::Kafka {
                producer: kafka::producer_config(brokers)
                    .create()
                    .context("cannot create the Kafka producer")?,
                topic: Arc::from(topic.as_str()),
            },
        })
    }

    /// Delivers the batch, retrying until it is accepted. Returns the number of retries.
    async fn deliver(&self, events: &[Event]) -> Result<u64> {
        match self {
            Client::Ingest {
                http,
                endpoint,
                token,
            } => deliver_http(http, endpoint, token, events).await,
            Client::Kafka { producer, topic } => deliver_kafka(producer, topic, events).await,
        }
    }
}

async fn deliver_http(
    http: &reqwest::Client,
    endpoint: &str,
    token: &str,
    events: &[Event],
) -> Result<u64> {
    let mut body = Vec::with_capacity(events.len() * 256);
    for event in events {
        serde_json::to_writer(&mut body, event)?;
        body.push(b'\n');
    }
    let started = Instant::now();
    let mut wait = RETRY_FIRST;
    let mut retries = 0;
    loop {
        let result = http
            .post(endpoint)
            .bearer_auth(token)
            .header("content-type", "application/x-ndjson")
            .body(body.clone())
            .send()
            .await;
        let retry_after = match result {
            Ok(response) if response.status().is_success() => return Ok(retries),
            Ok(response) if matches!(response.status().as_u16(), 429 | 503) => response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                bail!("ingest refused a batch ({status}): {text}");
            }
            // Connection refused or reset: ingest may be starting or restarting.
            Err(err) if started.elapsed() < RETRY_GIVE_UP => {
                tracing::debug!(%err, "ingest not reachable, retrying");
                None
            }
            Err(err) => return Err(err).context(format!("cannot reach ingest at {endpoint}")),
        };
        if started.elapsed() > RETRY_GIVE_UP {
            bail!("ingest kept refusing a batch for {RETRY_GIVE_UP:?}");
        }
        retries += 1;
        tokio::time::sleep(retry_after.unwrap_or(wait).min(RETRY_MAX)).await;
        wait = (wait * 2).min(RETRY_MAX);
    }
}

async fn deliver_kafka(producer: &FutureProducer, topic: &str, events: &[Event]) -> Result<u64> {
    let mut retries = 0;
    let mut pending = Vec::with_capacity(events.len());
    for event in events {
        let payload = serde_json::to_vec(event)?;
        let now = kafka::now_ms().to_string();
        loop {
            let headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: kafka::header::SCHEMA_VERSION,
                    value: Some("1"),
                })
                .insert(Header {
                    key: kafka::header::INGEST_TIME_MS,
                    value: Some(now.as_str()),
                })
                .insert(Header {
                    key: kafka::header::CONTENT_TYPE,
                    value: Some("application/json"),
                });
            let record = FutureRecord::to(topic)
                .key(event.match_id.as_bytes())
                .payload(&payload)
                .headers(headers);
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((err, _)) => bail!("cannot produce: {err}"),
            }
        }
    }
    for delivery in pending {
        delivery
            .await
            .context("producer shut down")?
            .map_err(|(err, _)| anyhow::anyhow!("broker did not acknowledge: {err}"))?;
    }
    Ok(retries)
}
