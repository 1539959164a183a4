//! The dashboard: live matches, the match centre with its charts, the SQL console over history
//! and the pipeline's health, as Leptos pages rendered on the server and hydrated in the
//! browser.
//!
//! One crate, two builds. The server build (`ssr`, the default) is an axum service: it renders
//! the pages with their data already in them, and it is the browser's one origin — it proxies
//! `/api/live/...` and the WebSocket to stream-stats and `/api/warehouse/...` to the warehouse,
//! and scrapes every service's `/metrics` for the pipeline page. The browser build (`hydrate`,
//! wasm32) takes the page over and keeps it live over the WebSocket. Scores are never computed
//! here: the browser folds each event into its copy of the scoreboard with the `cricket`
//! crate's own engine, the same code stream-stats runs.

// Views are nested types; the match centre's is deep.
#![recursion_limit = "256"]
// `#[component]` gives each component's props struct the visibility `pub`.
#![allow(unreachable_pub)]

pub mod api;
pub mod app;
mod charts;
mod format;
pub mod live;
mod pages;
#[cfg(feature = "ssr")]
pub mod server;

/// The browser's entry point: attaches the client to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
