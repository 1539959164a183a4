//! What the event processor has done per partition, for the checkpointer: the next offset to
//! read, and the records it could not use (waiting to be dead-lettered).

use std::collections::HashMap;
use std::sync::Mutex;

/// Most unusable records remembered per partition between checkpoints; beyond this the oldest
/// are dropped with an error log (a flood of garbage must not exhaust memory).
const MAX_BAD_PER_PARTITION: usize = 10_000;

#[derive(Debug, Clone)]
pub struct BadRecord {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Progress {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_offset: HashMap<i32, i64>,
    bad: HashMap<i32, Vec<BadRecord>>,
}

impl Progress {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The processor finished the record at `offset - 1`.
    pub fn advance(&self, partition: i32, next_offset: i64) {
        let mut inner = self.lock();
        let slot = inner.next_offset.entry(partition).or_insert(next_offset);
        *slot = (*slot).max(next_offset);
    }

    pub fn next_offset(&self, partition: i32) -> Option<i64> {
        self.lock().next_offset.get(&partition).copied()
    }

    pub fn record_bad(&self, partition: i32, record: BadRecord) {
        let mut inner = self.lock();
        let list = inner.bad.entry(partition).or_default();
        if list.iter().any(|known| known.offset == record.offset) {
            return;
        }
        if list.len() >= MAX_BAD_PER_PARTITION {
            let dropped = list.remove(0);
            tracing::error!(
                partition,
                offset = dropped.offset,
                "too many unusable records pending; oldest not dead-lettered"
            );
        }
        list.push(record);
    }

    /// Unusable records of `partition` below `offset`, still pending.
    pub fn bad_below(&self, partition: i32, offset: i64) -> Vec<BadRecord> {
        self.lock()
            .bad
            .get(&partition)
            .map(|list| list.iter().filter(|r| r.offset < offset).cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets records below `offset` once they are safely in the dead-letter topic.
    pub fn forget_bad_below(&self, partition: i32, offset: i64) {
        if let Some(list) = self.lock().bad.get_mut(&partition) {
            list.retain(|r| r.offset >= offset);
        }
    }
}
