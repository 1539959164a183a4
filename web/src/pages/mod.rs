//! One module per page.

mod history;
mod home;
mod match_centre;
mod pipeline;

pub(crate) use history::{HistoryMatchPage, HistoryPage};
pub(crate) use home::HomePage;
pub(crate) use match_centre::MatchPage;
pub(crate) use pipeline::PipelinePage;

use cricket::scoreboard::InningsScore;
use leptos::prelude::*;

use crate::format;

#[component]
pub(crate) fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <h1>"Not found"</h1>
        <p>"There is no page here. " <a href="/">"Back to the matches"</a></p>
    }
}

/// A server function's failure, shown where its data would be.
#[component]
pub(crate) fn Unavailable(what: &'static str, error: String) -> impl IntoView {
    view! {
        <p class="unavailable" role="alert">
            {format!("{what} is unavailable right now: {error}")}
        </p>
    }
}

/// Each innings' team, runs/wickets and overs, one line each (match cards and the match centre).
#[component]
pub(crate) fn InningsScores(
    scores: Vec<InningsScore>,
    #[prop(optional)] big: bool,
) -> impl IntoView {
    let lines = scores
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            view! {
                <li data-innings=i + 1>
                    <span class="team">{format::team(&s.team, s.super_over)}</span>
                    <span class="score">{format!("{}/{}", s.runs, s.wickets)}</span>
                    <span class="overs">{format!("({} ov)", s.overs)}</span>
                </li>
            }
        })
        .collect_view();
    view! { <ul class=if big { "innings-scores big" } else { "innings-scores" }>{lines}</ul> }
}
