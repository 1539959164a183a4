//! The match simulator: where events come from.
//!
//! - [`synthetic`]: realistic T20 and ODI matches generated ball by ball from a seed.
//! - [`replay`]: real matches from Cricsheet files.
//! - [`send`]: paced, batched delivery to ingest (or straight to Kafka), with retries.
//!
//! `main.rs` is only the command line; everything it does is a function here.

pub mod replay;
pub mod send;
pub mod synthetic;
