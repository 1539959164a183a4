//! The page shell, the router and the header every page shares.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::live::{Connection, Live};
use crate::pages::{HistoryMatchPage, HistoryPage, HomePage, MatchPage, NotFound, PipelinePage};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's Content-Security-Policy names the nonce Leptos puts on its inline scripts.
    #[cfg(feature = "ssr")]
    crate::server::security::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="stylesheet" href="/style.css"/>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let live = Live::new();
    provide_context(live);
    // Effects run in the browser only: this opens the WebSocket once the page is hydrated.
    Effect::new(move |_| live.connect());

    view! {
        <Title text="Cricket live"/>
        <Router>
            <header class="top">
                <a class="brand" href="/">"Cricket live"</a>
                <nav aria-label="Main">
                    <A href="/" exact=true>"Matches"</A>
                    <A href="/history">"History"</A>
                    <A href="/pipeline">"Pipeline"</A>
                </nav>
                <ConnectionBadge/>
            </header>
            <main>
                // Async: the server waits for a page's data and sends it whole, so the first
                // paint already shows the scores (no "Loading…" swapped out later, no layout
                // jump) and the title can name the match. The services answer in milliseconds.
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                    <Route path=path!("/match/:id") view=MatchPage ssr=SsrMode::Async/>
                    <Route path=path!("/history") view=HistoryPage ssr=SsrMode::Async/>
                    <Route path=path!("/history/:id") view=HistoryMatchPage ssr=SsrMode::Async/>
                    <Route path=path!("/pipeline") view=PipelinePage ssr=SsrMode::Async/>
                </Routes>
            </main>
            <footer>
                "Real matches from "
                <a href="https://cricsheet.org">"Cricsheet"</a>
                " (ODC-By 1.0)."
            </footer>
        </Router>
    }
}

/// Live / connecting / reconnecting, always visible in the header.
#[component]
fn ConnectionBadge() -> impl IntoView {
    let live = expect_context::<Live>();
    let state = move || match live.connection.get() {
        Connection::Connecting => ("connecting", "Connecting…".to_owned()),
        Connection::Live => ("live", "Live".to_owned()),
        Connection::Reconnecting { retry_in_ms, .. } => (
            "reconnecting",
            format!(
                "Reconnecting (retry in {:.1} s)",
                f64::from(retry_in_ms) / 1000.0
            ),
        ),
    };
    view! {
        <p class="connection" data-state=move || state().0 role="status" aria-live="polite">
            <span class="dot" aria-hidden="true"></span>
            <span class="label">{move || state().1}</span>
        </p>
    }
}
