//! `/history`: the SQL console over the warehouse, its canned queries, and the matches the
//! warehouse holds; `/history/{id}`: one match's scorecard computed by the warehouse's SQL.
//!
//! The query lives in the URL (`/history?sql=...`), so a query is a link: it can be shared,
//! the back button steps through earlier queries, and the console works before (or without)
//! the page's WebAssembly, as a plain form.

use cricket::scorecard::{InningsScorecard, Scorecard};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::Unavailable;
use crate::api::{
    CANNED_QUERIES, PageJson, SqlAnswer, SqlOutcome, run_sql, stored_matches, stored_scorecard,
};
use crate::format;

#[component]
pub(crate) fn HistoryPage() -> impl IntoView {
    let query = use_query_map();
    let sql = Memo::new(move |_| query.read().get("sql").filter(|s| !s.trim().is_empty()));
    let answer = Resource::<_, PageJson>::new_with_options(
        move || sql.get(),
        |sql| async move {
            match sql {
                Some(sql) => Some(run_sql(sql).await),
                None => None,
            }
        },
        false,
    );
    let matches = Resource::<_, PageJson>::new_with_options(|| (), |_| stored_matches(), false);

    view! {
        <Title text="History · Cricket live"/>
        <h1>"History"</h1>
        <section class="console" aria-labelledby="console-heading">
            <h2 id="console-heading">"SQL console"</h2>
            <p class="hint">
                "Read-only DuckDB SQL over every event loaded. Tables: events, deliveries, wickets, matches, results; views: most_runs, most_wickets, highest_totals, match_results, batting_scorecard, bowling_scorecard and more."
            </p>
            <ul class="canned" aria-label="Canned queries">
                {CANNED_QUERIES.iter().map(|(label, text)| view! {
                    <li>
                        <Form method="GET" action="/history">
                            <input type="hidden" name="sql" value=*text/>
                            <button type="submit" class="secondary">{*label}</button>
                        </Form>
                    </li>
                }).collect_view()}
            </ul>
            <Form method="GET" action="/history">
                <label for="sql" class="visually-hidden">"SQL"</label>
                // Keyed on the query so a canned query or the back button refills the editor.
                {move || view! {
                    <textarea id="sql" name="sql" rows="6" spellcheck="false"
                        placeholder="SELECT * FROM most_runs LIMIT 10">
                        {sql.get().unwrap_or_else(|| CANNED_QUERIES[0].1.to_owned())}
                    </textarea>
                }}
                <div class="console-actions">
                    <button type="submit">"Run"</button>
                </div>
            </Form>
            <Suspense fallback=|| view! { <p class="loading">"Running…"</p> }>
                {move || Suspend::new(async move {
                    match answer.await {
                        None => ().into_any(),
                        Some(Err(err)) => view! { <Unavailable what="The warehouse" error=err.to_string()/> }.into_any(),
                        Some(Ok(SqlOutcome::Refused { code, message })) => view! {
                            <p class="sql-error" role="alert"><strong>{code}</strong>": "{message}</p>
                        }.into_any(),
                        Some(Ok(SqlOutcome::Rows(answer))) => view! {
                            <Results answer sql=sql.get_untracked().unwrap_or_default()/>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section aria-labelledby="stored-heading">
            <h2 id="stored-heading">"Matches in the warehouse"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match matches.await {
                        Err(err) => view! { <Unavailable what="The warehouse" error=err.to_string()/> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <p class="empty">"The warehouse holds no match yet."</p> }.into_any(),
                        Ok(list) => view! {
                            <ul class="stored">
                                {list.into_iter().map(|m| view! {
                                    <li>
                                        <a href=format!("/history/{}", m.match_id)>{m.teams}</a>
                                        <span class="meta">
                                            {[m.match_date, m.competition].into_iter().flatten().collect::<Vec<_>>().join(" · ")}
                                        </span>
                                        <span class="status">{m.summary}</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The result table, with the row count, timing and a CSV download of the same query.
#[component]
fn Results(answer: SqlAnswer, sql: String) -> impl IntoView {
    let summary = format!(
        "{} row{}{} in {:.1} ms",
        answer.rows.len(),
        if answer.rows.len() == 1 { "" } else { "s" },
        if answer.truncated { " (truncated)" } else { "" },
        answer.elapsed_ms
    );
    view! {
        <div class="results">
            <div class="results-bar">
                <p class="summary" role="status">{summary}</p>
                // A plain form: the browser encodes the query and saves the file.
                <form method="get" action="/api/export.csv">
                    <input type="hidden" name="sql" value=sql/>
                    <button type="submit" class="secondary">"Download CSV"</button>
                </form>
            </div>
            <div class="table-scroll">
                <table class="sql-results">
                    <thead><tr>
                        {answer.columns.iter().map(|c| view! {
                            <th scope="col" title=c.sql_type.clone()>{c.name.clone()}</th>
                        }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {answer.rows.iter().map(|row| view! {
                            <tr>{row.iter().map(cell_view).collect_view()}</tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </div>
    }
}

fn cell_view(value: &serde_json::Value) -> AnyView {
    match value {
        serde_json::Value::Null => view! { <td class="null">"NULL"</td> }.into_any(),
        serde_json::Value::Number(n) => view! { <td class="num">{n.to_string()}</td> }.into_any(),
        serde_json::Value::String(s) => view! { <td>{s.clone()}</td> }.into_any(),
        other => view! { <td>{other.to_string()}</td> }.into_any(),
    }
}

#[component]
pub(crate) fn HistoryMatchPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let card = Resource::<_, PageJson>::new_with_options(move || id.get(), stored_scorecard, false);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the scorecard…"</p> }>
            {move || Suspend::new(async move {
                match card.await {
                    Err(err) => view! { <Unavailable what="The warehouse" error=err.to_string()/> }.into_any(),
                    Ok(None) => view! {
                        <h1>"No such match"</h1>
                        <p>{format!("The warehouse holds no match called {:?}.", id.get_untracked())}</p>
                    }.into_any(),
                    Ok(Some(card)) => view! { <StoredScorecard card/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StoredScorecard(card: Scorecard) -> impl IntoView {
    let Scorecard { match_id, innings } = card;
    view! {
        <Title text=format!("{match_id} · History · Cricket live")/>
        <p><a href="/history">"← History"</a></p>
        <h1>{format!("Scorecard: {match_id}")}</h1>
        <p class="hint">"Computed by SQL in the warehouse from every event it loaded. "
            <a href=format!("/match/{match_id}")>"Live view"</a></p>
        {innings.into_iter().enumerate().map(|(i, innings)| view! {
            <StoredInnings number=i + 1 innings/>
        }).collect_view()}
    }
}

#[component]
fn StoredInnings(number: usize, innings: InningsScorecard) -> impl IntoView {
    let heading = format::innings_heading(
        &innings.team,
        innings.super_over,
        innings.runs,
        innings.wickets,
        format::overs(innings.legal_balls, 6),
    );
    view! {
        <section class="innings-card" data-innings=number>
            <h2>{heading}</h2>
            <div class="table-scroll">
                <table class="batting">
                    <thead><tr>
                        <th scope="col">"Batter"</th><th scope="col" class="num">"R"</th>
                        <th scope="col" class="num">"B"</th><th scope="col" class="num">"4s"</th>
                        <th scope="col" class="num">"6s"</th>
                    </tr></thead>
                    <tbody>
                        {innings.batters.into_iter().map(|(name, [runs, balls, fours, sixes])| view! {
                            <tr><th scope="row">{name}</th><td class="num">{runs}</td><td class="num">{balls}</td>
                            <td class="num">{fours}</td><td class="num">{sixes}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <div class="table-scroll">
                <table class="bowling">
                    <thead><tr>
                        <th scope="col">"Bowler"</th><th scope="col" class="num">"R"</th>
                        <th scope="col" class="num">"W"</th>
                    </tr></thead>
                    <tbody>
                        {innings.bowlers.into_iter().map(|(name, [runs, wickets])| view! {
                            <tr><th scope="row">{name}</th><td class="num">{runs}</td><td class="num">{wickets}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
