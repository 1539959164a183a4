//! The live protocol between stream-stats and its WebSocket clients (the dashboard included),
//! shared so both sides read and write the same types.
//!
//! A client subscribes to the match list and/or to matches. Each subscription starts with a
//! snapshot; then deltas follow. A match delta carries the event itself and its `seq`: the
//! client folds it into its copy of the scoreboard with the same engine, and if a `seq` is not
//! the next one it has missed something and subscribes again for a fresh snapshot.

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::scoreboard::{MatchSummary, Scoreboard};

/// Client -> server. `{"type": "subscribe", "list": true, "matches": ["m1"]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe {
        /// The match list: every match's summary, then a summary whenever one changes.
        #[serde(default)]
        list: bool,
        /// Matches to follow: a snapshot each, then their events.
        #[serde(default)]
        matches: Vec<String>,
    },
    Unsubscribe {
        #[serde(default)]
        list: bool,
        #[serde(default)]
        matches: Vec<String>,
    },
}

/// Server -> client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Every match, when the list subscription starts (or resynchronises).
    Matches { matches: Vec<MatchSummary> },
    /// One match's summary changed.
    Summary { summary: MatchSummary },
    /// A match's full state; deltas for it continue from `scoreboard.last_seq`.
    Snapshot {
        match_id: String,
        /// Set when the stream for this match has a gap: scores may be behind until it heals.
        stale: bool,
        status: String,
        scoreboard: Box<Scoreboard>,
    },
    /// One applied event of a followed match, with the status line after it.
    Event {
        match_id: String,
        seq: u64,
        status: String,
        event: Box<Event>,
        /// When ingest accepted the event (ms since the Unix epoch), for latency displays.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ingested_at_ms: Option<i64>,
    },
    /// The match's stream has a gap; the scoreboard stops until the missing events arrive.
    Stale { match_id: String, reason: String },
    /// A subscription named a match the server does not know (yet).
    NotFound { match_id: String },
    /// The client sent something that is not a valid message.
    Error { message: String },
}
