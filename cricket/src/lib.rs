//! The cricket domain, shared by every service and by the browser.
//!
//! - [`event`]: the versioned event schema that travels through Kafka, and [`validate`] for
//!   checking one event on its own (every number, string and list has a bound there).
//! - `schema` (feature `openapi`): those bounds as JSON Schema, for the published contract.
//! - [`scoreboard`]: the exact scoring engine. [`Scoreboard::apply`] folds events in `seq`
//!   order into the full live state (scores, cards, partnerships, charts, status line).
//! - [`scorecard`]: the canonical scorecard shape every part of the platform can print.
//! - [`cricsheet`]: turns real Cricsheet ball-by-ball JSON into the same event stream.
//! - [`live`]: the WebSocket protocol between stream-stats and its clients.
//! - [`win_probability`]: a documented estimate of the chasing side's chances, over by over.
//!
//! The crate is pure (no I/O, no async, no clock) so it compiles to `wasm32-unknown-unknown`
//! for the dashboard: server and browser score with the same code.

pub mod cricsheet;
pub mod event;
pub mod live;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod scoreboard;
pub mod scorecard;
pub mod validate;
pub mod win_probability;

pub use event::{Event, Payload, SCHEMA_VERSION};
pub use scoreboard::{Applied, ApplyError, MatchSummary, Scoreboard};
pub use scorecard::Scorecard;
pub use validate::ValidationError;
