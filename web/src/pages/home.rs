//! `/`: every match as a card, live ones first, updating as the match list changes.

use cricket::scoreboard::MatchSummary;
use leptos::prelude::*;
use leptos_meta::Title;

use super::{InningsScores, Unavailable};
use crate::api::{PageJson, list_matches};
use crate::live::Live;

#[component]
pub(crate) fn HomePage() -> impl IntoView {
    let live = expect_context::<Live>();
    let initial = Resource::<_, PageJson>::new_with_options(|| (), |_| list_matches(), false);
    Effect::new(move |_| live.follow_list());
    on_cleanup(move || live.unfollow_list());

    view! {
        <Title text="Matches · Cricket live"/>
        <h1>"Matches"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading matches…"</p> }>
            {move || Suspend::new(async move {
                let initial = initial.await;
                let matches = move || match live.summaries.get() {
                    Some(by_id) => Ok(by_id.into_values().collect::<Vec<_>>()),
                    None => initial.clone().map_err(|err| err.to_string()),
                };
                move || match matches() {
                    Ok(all) => view! { <MatchLists all/> }.into_any(),
                    Err(error) => view! { <Unavailable what="The live service" error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MatchLists(all: Vec<MatchSummary>) -> impl IntoView {
    let (mut running, mut finished): (Vec<_>, Vec<_>) = all.into_iter().partition(|m| m.live);
    // Most recently active first.
    running.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then(a.match_id.cmp(&b.match_id))
    });
    finished.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then(a.match_id.cmp(&b.match_id))
    });
    view! {
        <section aria-labelledby="live-heading">
            <h2 id="live-heading">"Live " <span class="count">{running.len()}</span></h2>
            {if running.is_empty() {
                view! { <p class="empty">"No match is in progress."</p> }.into_any()
            } else {
                view! { <CardList matches=running/> }.into_any()
            }}
        </section>
        <section aria-labelledby="finished-heading">
            <h2 id="finished-heading">"Finished " <span class="count">{finished.len()}</span></h2>
            {if finished.is_empty() {
                view! { <p class="empty">"No finished match yet."</p> }.into_any()
            } else {
                view! { <CardList matches=finished/> }.into_any()
            }}
        </section>
    }
}

#[component]
fn CardList(matches: Vec<MatchSummary>) -> impl IntoView {
    view! {
        <ul class="cards">
            {matches.into_iter().map(|m| view! { <MatchCard summary=m/> }).collect_view()}
        </ul>
    }
}

#[component]
fn MatchCard(summary: MatchSummary) -> impl IntoView {
    let title = summary
        .teams
        .as_ref()
        .map_or_else(|| summary.match_id.clone(), |[a, b]| format!("{a} v {b}"));
    let format = summary.format.map(|f| f.label()).unwrap_or_default();
    view! {
        <li class="card" data-match=summary.match_id.clone() data-live=summary.live.to_string()
            data-seq=summary.last_seq>
            <a href=format!("/match/{}", summary.match_id)>
                <p class="card-title">
                    <span>{title}</span>
                    <span class="format">{format}</span>
                </p>
                <InningsScores scores=summary.scores.clone()/>
                <p class="status">{summary.status.clone()}</p>
            </a>
        </li>
    }
}
