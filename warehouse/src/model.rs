//! From Kafka records to what a batch writes.
//!
//! [`decode`] sorts a record into a valid event or a rejection with its reason (not JSON, not
//! an event, fails `Event::validate`, or keyed under another match than its own). Every
//! record lands somewhere: a valid event in the raw `events` table, anything else in
//! `rejected`.
//!
//! [`SeqTracker`] decides which events reach the modelled tables: exactly one per
//! `(match_id, seq)`. A producer that retried can put the same event in the topic twice, so
//! the tracker keeps, per match, the highest `seq` seen and the ranges of lower ones not
//! seen yet (gaps may fill later, e.g. when matches are replayed out of order). Changes made
//! while a batch is being built stay provisional until the batch commits, so a batch dropped
//! on a rebalance leaves the tracker exactly as the database is.

use std::collections::{BTreeMap, HashMap};

use cricket::Event;

/// One Kafka record, borrowed from the consumer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) payload: Option<&'a [u8]>,
    /// The `ingest-time-ms` header: when ingest accepted the event.
    pub(crate) ingest_time_ms: Option<i64>,
}

/// A record that is a valid event, with its payload text kept for the raw table.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    pub(crate) event: Event,
    pub(crate) text: String,
}

/// Sorts a record into a valid event or the reason it is not one.
pub(crate) fn decode(record: &Record<'_>) -> Result<Decoded, String> {
    let payload = record.payload.ok_or("record has no value")?;
    let event: Event =
        serde_json::from_slice(payload).map_err(|err| format!("not an event: {err}"))?;
    event
        .validate()
        .map_err(|err| format!("invalid event: {err}"))?;
    if i64::try_from(event.seq).is_err() {
        return Err("invalid event: seq: larger than 2^63 - 1".to_owned());
    }
    if record.key != Some(event.match_id.as_bytes()) {
        return Err("record key is not the event's match_id".to_owned());
    }
    // serde_json only accepts UTF-8, so this cannot fail for a decoded event.
    let text = String::from_utf8(payload.to_vec())
        .map_err(|err| format!("not an event: payload is not UTF-8: {err}"))?;
    Ok(Decoded { event, text })
}

/// What the tracker knows of one match: the highest `seq` seen and the ranges below it
/// that were never seen (inclusive, keyed by their start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SeqState {
    pub(crate) max: u64,
    pub(crate) missing: BTreeMap<u64, u64>,
}

impl SeqState {
    /// Records `seq`; true if it was not seen before.
    fn observe(&mut self, seq: u64) -> bool {
        if seq > self.max {
            if seq > self.max + 1 {
                self.missing.insert(self.max + 1, seq - 1);
            }
            self.max = seq;
            return true;
        }
        let Some((&start, &end)) = self.missing.range(..=seq).next_back() else {
            return false;
        };
        if seq > end {
            return false;
        }
        self.missing.remove(&start);
        if start < seq {
            self.missing.insert(start, seq - 1);
        }
        if seq < end {
            self.missing.insert(seq + 1, end);
        }
        true
    }
}

/// Which `(match_id, seq)` pairs are in the modelled tables; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct SeqTracker {
    committed: HashMap<String, SeqState>,
    /// Matches changed by the batch being built: their state as it will be after commit.
    pending: HashMap<String, SeqState>,
}

impl SeqTracker {
    /// Starts from the states read from the database.
    pub(crate) fn new(committed: HashMap<String, SeqState>) -> SeqTracker {
        SeqTracker {
            committed,
            pending: HashMap::new(),
        }
    }

    /// Records an event of the batch being built; true if it is the first with this
    /// `(match_id, seq)`, so it belongs in the modelled tables.
    pub(crate) fn observe(&mut self, match_id: &str, seq: u64) -> bool {
        if let Some(state) = self.pending.get_mut(match_id) {
            return state.observe(seq);
        }
        let mut state = self.committed.get(match_id).cloned().unwrap_or_default();
        let new = state.observe(seq);
        self.pending.insert(match_id.to_owned(), state);
        new
    }

    /// The batch committed: its changes are now the database's.
    pub(crate) fn commit(&mut self) {
        self.committed.extend(self.pending.drain());
    }

    /// The batch was dropped: forget its changes.
    pub(crate) fn discard(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn matches(&self) -> usize {
        self.committed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sight_of_each_seq_counts_once_in_any_order() {
        let mut tracker = SeqTracker::default();
        let order = [1, 2, 2, 5, 3, 5, 4, 1, 9, 7, 8, 6, 9];
        let new: Vec<u64> = order
            .iter()
            .filter(|&&seq| tracker.observe("m", seq))
            .copied()
            .collect();
        assert_eq!(new, vec![1, 2, 5, 3, 4, 9, 7, 8, 6]);
        tracker.commit();
        assert_eq!(
            tracker.committed["m"],
            SeqState {
                max: 9,
                missing: BTreeMap::new()
            }
        );
    }

    #[test]
    fn a_discarded_batch_leaves_the_committed_state() {
        let mut tracker = SeqTracker::default();
        assert!(tracker.observe("m", 1));
        assert!(tracker.observe("m", 3));
        tracker.commit();
        assert!(tracker.observe("m", 2));
        assert!(tracker.observe("x", 1));
        tracker.discard();
        assert!(tracker.observe("m", 2), "2 is still missing");
        assert!(tracker.observe("x", 1));
        assert!(!tracker.observe("m", 3));
    }

    #[test]
    fn huge_jumps_cost_one_range() {
        let mut state = SeqState::default();
        assert!(state.observe(u64::MAX / 2));
        assert_eq!(state.missing.len(), 1);
        assert!(state.observe(10));
        assert!(!state.observe(10));
        assert_eq!(state.missing.len(), 2);
    }

    fn record<'a>(key: &'a [u8], payload: &'a [u8]) -> Record<'a> {
        Record {
            key: Some(key),
            payload: Some(payload),
            ingest_time_ms: None,
        }
    }

    #[test]
    fn decode_sorts_records() {
        let good = br#"{"schema":1,"match_id":"m1","seq":1,"time":"2024-01-01T00:00:00Z","payload":{"match_ended":{"outcome":{"result":"no_result"}}}}"#;
        assert!(decode(&record(b"m1", good)).is_ok());
        let wrong_key = decode(&record(b"m2", good)).err().unwrap_or_default();
        assert!(wrong_key.contains("record key"), "{wrong_key}");
        let junk = decode(&record(b"m1", b"\xff\x00"))
            .err()
            .unwrap_or_default();
        assert!(junk.starts_with("not an event"), "{junk}");
        let zero = String::from_utf8_lossy(good).replace("\"seq\":1", "\"seq\":0");
        let invalid = decode(&record(b"m1", zero.as_bytes()))
            .err()
            .unwrap_or_default();
        assert!(invalid.starts_with("invalid event"), "{invalid}");
        let none = Record {
            payload: None,
            ..record(b"m1", good)
        };
        assert!(decode(&none).is_err());
    }
}
