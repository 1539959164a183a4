//! The match simulator: where events come from.
//!
//! - [`replay`]: real matches from Cricsheet files, as the platform's event stream.
//!
//! `main.rs` is only the command line; everything it does is a function here.

pub mod replay;
