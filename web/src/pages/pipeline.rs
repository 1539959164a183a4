//! `/pipeline`: the health of the whole pipeline, from the metrics the web server scrapes off
//! every service each second; the page polls it once a second.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;

use super::Unavailable;
use crate::api::{Latency, PageJson, PipelineView, pipeline};
use crate::charts::Sparkline;
use crate::format;

const POLL: Duration = Duration::from_secs(1);

#[component]
pub(crate) fn PipelinePage() -> impl IntoView {
    let initial = Resource::<_, PageJson>::new_with_options(|| (), |_| pipeline(), false);
    let latest = RwSignal::new(None::<PipelineView>);
    Effect::new(move |_| {
        let poll = move || {
            leptos::task::spawn_local(async move {
                if let Ok(view) = pipeline().await {
                    latest.set(Some(view));
                }
            });
        };
        if let Ok(handle) = set_interval_with_handle(poll, POLL) {
            on_cleanup(move || handle.clear());
        }
    });

    view! {
        <Title text="Pipeline · Cricket live"/>
        <h1>"Pipeline"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Reading the metrics…"</p> }>
            {move || Suspend::new(async move {
                let initial = initial.await;
                move || match latest.get().map(Ok).unwrap_or_else(|| initial.clone()) {
                    Ok(view) => view! { <Dashboard view/> }.into_any(),
                    Err(err) => view! { <Unavailable what="The web server's metrics" error=err.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(view: PipelineView) -> impl IntoView {
    let window = format!("last {:.0} s", view.window_s);
    let services = view
        .services
        .iter()
        .map(|s| {
            view! {
                <li data-up=s.up.to_string()>
                    <span class="dot" aria-hidden="true"></span>
                    <span class="name">{s.name.clone()}</span>
                    <span class="state">{if s.up { "up" } else { "down" }}</span>
                </li>
            }
        })
        .collect_view();
    let lags = view
        .consumer_lag
        .iter()
        .map(|lag| {
            view! {
                <Tile label=format!("Consumer lag: {}", lag.group) id=format!("lag-{}", lag.group)
                    value=format::count(lag.records) note="records behind".to_owned()/>
            }
        })
        .collect_view();
    view! {
        <ul class="services" aria-label="Services">{services}</ul>
        <div class="tiles">
            <article class="tile wide" id="ingest-rate">
                <h2>"Ingest rate"</h2>
                <p class="value">{format!("{} ev/s", format::count(view.ingest_events_per_s))}</p>
                <Sparkline values=view.ingest_rate_history.clone()/>
                <p class="note">{format!("{} accepted, {} rejected", format::count(view.ingest_accepted), format::count(view.ingest_rejected))}</p>
            </article>
            {lags}
            <LatencyTile label="End-to-end latency" id="e2e" latency=view.end_to_end.clone()
                note=format!("ingest → browser push, {window}")/>
            <Tile label="Dead letters".to_owned() id="dlq".to_owned()
                value=format::count(view.stream_stats_dead_letters)
                note=format!("dead-lettered by stream-stats; {} rejected by the warehouse", format::count(view.warehouse_rejected))/>
            <Tile label="Warehouse rows".to_owned() id="warehouse-rows".to_owned()
                value=format::count(view.warehouse_rows)
                note=format!("events loaded, {} rows/s", format::count(view.warehouse_rows_per_s))/>
            <LatencyTile label="Warehouse freshness" id="freshness" latency=view.freshness.clone()
                note=format!("ingest → queryable in DuckDB, {window}")/>
            <Tile label="Matches".to_owned() id="matches".to_owned() value=format::count(view.live_matches)
                note=format!("in stream-stats; {} WebSocket clients", format::count(view.websocket_clients))/>
        </div>
    }
}

#[component]
fn Tile(label: String, id: String, value: String, note: String) -> impl IntoView {
    view! {
        <article class="tile" id=id>
            <h2>{label}</h2>
            <p class="value">{value}</p>
            <p class="note">{note}</p>
        </article>
    }
}

#[component]
fn LatencyTile(
    label: &'static str,
    id: &'static str,
    latency: Latency,
    note: String,
) -> impl IntoView {
    let note = if latency.recent || latency.p50_ms.is_none() {
        note
    } else {
        "no events in the window: since start".to_owned()
    };
    view! {
        <article class="tile" id=id>
            <h2>{label}</h2>
            <p class="value">
                <span class="p50">{format!("p50 {}", format::millis(latency.p50_ms))}</span>
                " · "
                <span class="p99">{format!("p99 {}", format::millis(latency.p99_ms))}</span>
            </p>
            <p class="note">{note}</p>
        </article>
    }
}
