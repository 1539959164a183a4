//! Every match's live state, shared by the event processor (the only writer), the snapshotter,
//! the HTTP handlers and the WebSocket clients.
//!
//! Fan-out is by broadcast channels of pre-serialized messages: one per match for its deltas
//! and one for the match list. A message is encoded once however many clients read it, and a
//! client that falls behind the channel's buffer is detected (lagged) and resynchronised with a
//! snapshot instead of slowing anyone down. Subscribing takes the snapshot and the receiver
//! under one lock, so no delta falls between them.

use std::collections::HashMap;
use std::sync::RwLock;

use bytes::Bytes;
use cricket::live::ServerMessage;
use cricket::scorecard::Scorecard;
use cricket::{Applied, ApplyError, Event, MatchSummary, Scoreboard};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// What happened to an event offered to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    /// Events are missing before this one: the match is now stale.
    Gap {
        expected: u64,
        got: u64,
    },
    /// The event contradicts the match so far (it goes to the dead-letter topic).
    Refused(String),
    /// The event is for a match the store does not hold, and it already holds its most
    /// matches (it goes to the dead-letter topic).
    Full {
        limit: usize,
    },
}

/// The value of a record in the compacted `scoreboards` topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The `match-events` partition the match lives in.
    pub partition: i32,
    pub stale: Option<String>,
    pub scoreboard: Scoreboard,
}

#[derive(Debug)]
struct Entry {
    board: Scoreboard,
    partition: i32,
    stale: Option<String>,
    /// The `seq` covered by the latest durable snapshot.
    snapshot_seq: u64,
    deltas: broadcast::Sender<Bytes>,
    /// The serialized snapshot message for `board.last_seq`, built on first demand.
    cached: Option<(u64, Bytes)>,
}

impl Entry {
    fn new(match_id: &str, partition: i32, buffer: usize) -> Entry {
        Entry {
            board: Scoreboard::new(match_id),
            partition,
            stale: None,
            snapshot_seq: 0,
            deltas: broadcast::channel(buffer).0,
            cached: None,
        }
    }

    fn snapshot_message(&mut self) -> Bytes {
        if let Some((seq, bytes)) = &self.cached
            && *seq == self.board.last_seq
        {
            return bytes.clone();
        }
        let bytes = encode(&SnapshotMessage {
            match_id: &self.board.match_id,
            stale: self.stale.is_some(),
            status: self.board.status(),
            scoreboard: &self.board,
        });
        self.cached = Some((self.board.last_seq, bytes.clone()));
        bytes
    }
}

/// Serializes exactly as `ServerMessage::Snapshot`, without cloning the scoreboard.
#[derive(Serialize)]
#[serde(tag = "type", rename = "snapshot")]
struct SnapshotMessage<'a> {
    match_id: &'a str,
    stale: bool,
    status: String,
    scoreboard: &'a Scoreboard,
}

/// Serializes exactly as `ServerMessage::Event`, without cloning the event.
#[derive(Serialize)]
#[serde(tag = "type", rename = "event")]
struct EventMessage<'a> {
    match_id: &'a str,
    seq: u64,
    status: String,
    event: &'a Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    ingested_at_ms: Option<i64>,
}

fn encode<T: Serialize>(message: &T) -> Bytes {
    // Serializing plain data to a Vec cannot fail; an empty message would be skipped by clients.
    Bytes::from(serde_json::to_vec(message).unwrap_or_default())
}

#[derive(Debug)]
pub struct Store {
    matches: RwLock<HashMap<String, Entry>>,
    list: broadcast::Sender<Bytes>,
    buffer: usize,
    /// Most matches held; events of further new matches are refused.
    max_matches: usize,
}

impl Store {
    /// `buffer`: deltas kept per channel for clients that fall behind. No cap on matches.
    pub fn new(buffer: usize) -> Store {
        Store::with_max_matches(buffer, usize::MAX)
    }

    /// Like [`Store::new`], holding at most `max_matches` matches.
    pub fn with_max_matches(buffer: usize, max_matches: usize) -> Store {
        Store {
            matches: RwLock::new(HashMap::new()),
            list: broadcast::channel(buffer.max(16) * 4).0,
            buffer: buffer.max(16),
            max_matches,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.matches
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.matches
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies an event from `partition` (accepted by ingest at `ingested_at_ms`, if known)
    /// and tells subscribers.
    pub fn apply(&self, partition: i32, event: &Event, ingested_at_ms: Option<i64>) -> Outcome {
        let mut matches = self.write();
        let buffer = self.buffer;
        // Checked before an entry exists: a refused match costs nothing to keep refusing.
        if matches.len() >= self.max_matches && !matches.contains_key(&event.match_id) {
            return Outcome::Full {
                limit: self.max_matches,
            };
        }
        let entry = matches
            .entry(event.match_id.clone())
            .or_insert_with(|| Entry::new(&event.match_id, partition, buffer));
        entry.partition = partition;
        match entry.board.apply(event) {
            Ok(Applied::Duplicate) => Outcome::Duplicate,
            Ok(Applied::Changed) => {
                let healed = entry.stale.take().is_some();
                let status = entry.board.status();
                if healed {
                    // Clients that saw the gap resubscribe on the next seq they did not expect.
                    tracing::info!(match_id = %event.match_id, seq = event.seq, "gap healed");
                }
                let delta = encode(&EventMessage {
                    match_id: &event.match_id,
                    seq: event.seq,
                    status,
                    event,
                    ingested_at_ms,
                });
                let _ = entry.deltas.send(delta);
                let summary = encode(&ServerMessage::Summary {
                    summary: entry.board.summary(),
                });
                let _ = self.list.send(summary);
                Outcome::Applied
            }
            Err(ApplyError::Gap { expected, got }) => {
                if entry.stale.is_none() {
                    let reason = format!("missing events: expected seq {expected}, got {got}");
                    let message = encode(&ServerMessage::Stale {
                        match_id: event.match_id.clone(),
                        reason: reason.clone(),
                    });
                    entry.stale = Some(reason);
                    entry.cached = None;
                    let _ = entry.deltas.send(message);
                }
                Outcome::Gap { expected, got }
            }
            Err(err) => Outcome::Refused(err.to_string()),
        }
    }

    /// Loads a durable snapshot, unless the store already has something newer. Not capped:
    /// a snapshot is a match this store (or its predecessor) accepted, and refusing it now
    /// would serve less after a restart than before; new matches are refused while the store
    /// holds its most.
    pub fn restore(&self, record: SnapshotRecord) {
        let mut matches = self.write();
        let id = record.scoreboard.match_id.clone();
        let buffer = self.buffer;
        let entry = matches
            .entry(id.clone())
            .or_insert_with(|| Entry::new(&id, record.partition, buffer));
        if record.scoreboard.last_seq >= entry.board.last_seq {
            entry.snapshot_seq = record.scoreboard.last_seq;
            entry.board = record.scoreboard;
            entry.stale = record.stale;
            entry.partition = record.partition;
            entry.cached = None;
        }
    }

    /// A match's snapshot message and a receiver for the deltas that follow it.
    pub fn subscribe_match(&self, match_id: &str) -> Option<(Bytes, broadcast::Receiver<Bytes>)> {
        let mut matches = self.write();
        let entry = matches.get_mut(match_id)?;
        let receiver = entry.deltas.subscribe();
        Some((entry.snapshot_message(), receiver))
    }

    /// The list message and a receiver for summary changes.
    pub fn subscribe_list(&self) -> (Bytes, broadcast::Receiver<Bytes>) {
        let matches = self.read();
        let receiver = self.list.subscribe();
        let message = encode(&ServerMessage::Matches {
            matches: summaries(&matches),
        });
        (message, receiver)
    }

    pub fn summaries(&self) -> Vec<MatchSummary> {
        summaries(&self.read())
    }

    /// The snapshot message of one match (the body of `GET /v1/matches/{id}` too).
    pub fn snapshot(&self, match_id: &str) -> Option<Bytes> {
        self.write().get_mut(match_id).map(Entry::snapshot_message)
    }

    pub fn scorecard(&self, match_id: &str) -> Option<Scorecard> {
        self.read()
            .get(match_id)
            .map(|entry| entry.board.scorecard())
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stale_count(&self) -> usize {
        self.read()
            .values()
            .filter(|entry| entry.stale.is_some())
            .count()
    }

    /// Snapshot records of the matches in `partition` that changed since their last durable
    /// snapshot, with the `seq` each covers.
    pub fn changed_since_snapshot(&self, partition: i32) -> Vec<(String, u64, Vec<u8>)> {
        let matches = self.read();
        matches
            .values()
            .filter(|entry| {
                entry.partition == partition && entry.board.last_seq > entry.snapshot_seq
            })
            .map(|entry| {
                let record = SnapshotRecordRef {
                    partition: entry.partition,
                    stale: entry.stale.as_deref(),
                    scoreboard: &entry.board,
                };
                let bytes = serde_json::to_vec(&record).unwrap_or_default();
                (entry.board.match_id.clone(), entry.board.last_seq, bytes)
            })
            .collect()
    }

    /// Records that a durable snapshot covers `match_id` up to `seq`.
    pub fn mark_snapshotted(&self, match_id: &str, seq: u64) {
        if let Some(entry) = self.write().get_mut(match_id) {
            entry.snapshot_seq = entry.snapshot_seq.max(seq);
        }
    }
}

/// Serializes exactly as [`SnapshotRecord`], without cloning the scoreboard.
#[derive(Serialize)]
struct SnapshotRecordRef<'a> {
    partition: i32,
    stale: Option<&'a str>,
    scoreboard: &'a Scoreboard,
}

fn summaries(matches: &HashMap<String, Entry>) -> Vec<MatchSummary> {
    let mut list: Vec<MatchSummary> = matches
        .values()
        .map(|entry| entry.board.summary())
        .collect();
    // Live matches first, then the most recently updated.
    list.sort_by(|a, b| {
        b.live
            .cmp(&a.live)
            .then(b.updated_at.cmp(&a.updated_at))
            .then(a.match_id.cmp(&b.match_id))
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events() -> Vec<Event> {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../data/cricsheet/1298152.json");
        let bytes = std::fs::read(&path).expect("file");
        cricket::cricsheet::import("1298152", "1298152.json", &bytes).expect("import")
    }

    #[test]
    fn messages_decode_as_the_shared_protocol() {
        let store = Store::new(16);
        let events = events();
        store.apply(0, &events[0], None);
        let (snapshot, mut deltas) = store.subscribe_match("1298152").expect("known");
        let decoded: ServerMessage = serde_json::from_slice(&snapshot).expect("snapshot decodes");
        assert!(
            matches!(decoded, ServerMessage::Snapshot { ref scoreboard, .. } if scoreboard.last_seq == 1)
        );
        assert_eq!(store.apply(0, &events[1], None), Outcome::Applied);
        let delta: ServerMessage =
            serde_json::from_slice(&deltas.try_recv().expect("delta")).expect("decodes");
        assert!(matches!(delta, ServerMessage::Event { seq: 2, .. }));
    }

    #[test]
    fn a_gap_marks_the_match_stale_until_it_heals() {
        let store = Store::new(16);
        let events = events();
        store.apply(0, &events[0], None);
        assert_eq!(
            store.apply(0, &events[2], None),
            Outcome::Gap {
                expected: 2,
                got: 3
            }
        );
        assert_eq!(store.stale_count(), 1);
        assert_eq!(store.apply(0, &events[1], None), Outcome::Applied);
        assert_eq!(store.apply(0, &events[2], None), Outcome::Applied);
        assert_eq!(store.stale_count(), 0);
    }

    #[test]
    fn snapshots_round_trip_and_only_newer_state_replaces() {
        let store = Store::new(16);
        let events = events();
        for event in &events[..10] {
            store.apply(3, event, None);
        }
        let changed = store.changed_since_snapshot(3);
        assert_eq!(changed.len(), 1);
        let record: SnapshotRecord = serde_json::from_slice(&changed[0].2).expect("record decodes");
        store.mark_snapshotted("1298152", changed[0].1);
        assert!(store.changed_since_snapshot(3).is_empty());

        let fresh = Store::new(16);
        fresh.restore(record.clone());
        for event in &events[..12] {
            fresh.apply(3, event, None);
        }
        let older = SnapshotRecord {
            scoreboard: Scoreboard::from_events("1298152", &events[..5]).expect("scores"),
            ..record
        };
        fresh.restore(older);
        assert_eq!(
            fresh.scorecard("1298152"),
            store_after(&events[..12]).scorecard("1298152")
        );
    }

    #[test]
    fn a_full_store_refuses_new_matches_but_keeps_scoring_the_ones_it_holds() {
        let store = Store::with_max_matches(16, 2);
        let events = events();
        let renamed = |id: &str, event: &Event| Event {
            match_id: id.to_owned(),
            ..event.clone()
        };
        assert_eq!(
            store.apply(0, &renamed("a", &events[0]), None),
            Outcome::Applied
        );
        assert_eq!(
            store.apply(0, &renamed("b", &events[0]), None),
            Outcome::Applied
        );
        for _ in 0..3 {
            assert_eq!(
                store.apply(0, &renamed("c", &events[0]), None),
                Outcome::Full { limit: 2 }
            );
        }
        assert_eq!(store.len(), 2);
        assert!(store.subscribe_match("c").is_none());
        assert_eq!(
            store.apply(0, &renamed("a", &events[1]), None),
            Outcome::Applied
        );
    }

    fn store_after(events: &[Event]) -> Store {
        let store = Store::new(16);
        for event in events {
            store.apply(0, event, None);
        }
        store
    }
}
