//! `/match/{id}`: the match centre. The server renders the snapshot stream-stats holds; in the
//! browser the page follows the match over the WebSocket and every section redraws from the
//! scoreboard the engine keeps.

use cricket::Scoreboard;
use cricket::scoreboard::{Ball, Innings};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{InningsScores, Unavailable};
use crate::api::{PageJson, match_snapshot};
use crate::charts::{Manhattan, OverBar, WinChart, WormChart, WormLine};
use crate::format;
use crate::live::{Live, LiveMatch};

#[component]
pub(crate) fn MatchPage() -> impl IntoView {
    let live = expect_context::<Live>();
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let initial =
        Resource::<_, PageJson>::new_with_options(move || id.get(), match_snapshot, false);

    // Follow the match on screen; switch when the id changes, stop when the page goes.
    let following = StoredValue::new(None::<String>);
    Effect::new(move |_| {
        let id = id.get();
        if let Some(previous) = following.get_value() {
            live.unfollow_match(&previous);
        }
        live.follow_match(&id);
        following.set_value(Some(id));
    });
    on_cleanup(move || {
        if let Some(id) = following.get_value() {
            live.unfollow_match(&id);
        }
    });

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the match…"</p> }>
            {move || Suspend::new(async move {
                let initial = initial.await;
                let state = move || {
                    let id = id.get();
                    if let Some(followed) = live.matches.with(|m| m.get(&id).cloned()) {
                        return Ok(Some(followed));
                    }
                    match &initial {
                        Ok(Some(snapshot)) if snapshot.scoreboard.match_id == id => Ok(Some(
                            LiveMatch::from_snapshot(
                                snapshot.scoreboard.clone(),
                                snapshot.status.clone(),
                                snapshot.stale,
                            ),
                        )),
                        Ok(_) => Ok(None),
                        Err(err) => Err(err.to_string()),
                    }
                };
                move || match state() {
                    Ok(Some(followed)) => view! { <MatchCentre followed/> }.into_any(),
                    Ok(None) => view! {
                        <Title text="Unknown match · Cricket live"/>
                        <h1>"No such match"</h1>
                        <p>{format!("The live service does not know a match called {:?} (yet).", id.get())}</p>
                    }.into_any(),
                    Err(error) => view! { <Unavailable what="The live service" error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MatchCentre(followed: LiveMatch) -> impl IntoView {
    let LiveMatch {
        board,
        status,
        stale,
        feed,
    } = followed;
    let title = board.info.as_ref().map_or_else(
        || board.match_id.clone(),
        |info| format!("{} v {}", info.teams[0], info.teams[1]),
    );
    let details = board
        .info
        .as_ref()
        .map(|info| {
            [
                Some(info.format.label().to_owned()),
                info.competition.clone(),
                info.venue.clone(),
                info.date.map(|d| d.to_string()),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
        })
        .unwrap_or_default();
    view! {
        <Title text=format!("{title} · Cricket live")/>
        <article class="match-centre" data-match=board.match_id.clone() data-seq=board.last_seq>
            <header class="match-header">
                <h1>{title}</h1>
                <p class="details">{details}</p>
                <InningsScores scores=board.summary().scores big=true/>
                <p class="status">{status}</p>
                {stale.then(|| view! {
                    <p class="stale" role="alert">"Some events are missing; the score may be behind until they arrive."</p>
                })}
            </header>
            {board.current_innings().filter(|i| i.is_open()).map(|innings| view! {
                <NowPanel innings=innings.clone() balls_per_over=board.balls_per_over()/>
            })}
            <Charts board=board.clone()/>
            <section class="commentary" aria-labelledby="commentary-heading">
                <h2 id="commentary-heading">"Ball by ball"</h2>
                <Commentary feed=feed.into_iter().collect()/>
            </section>
            {board.innings.iter().map(|innings| view! {
                <InningsCard innings=innings.clone() balls_per_over=board.balls_per_over()/>
            }).collect_view()}
        </article>
    }
}

/// Batters at the crease, the bowler, the partnership, the rates and the last balls.
#[component]
fn NowPanel(innings: Innings, balls_per_over: u8) -> impl IntoView {
    let batters = innings
        .at_crease()
        .enumerate()
        .map(|(i, batter)| {
            view! {
                <li>
                    <span class="name">{batter.name.clone()}{(i == 0).then_some(" *")}</span>
                    <span class="figures">{format!("{} ({})", batter.runs, batter.balls)}</span>
                </li>
            }
        })
        .collect_view();
    let bowler = innings
        .current_bowler
        .and_then(|i| innings.bowlers.get(i))
        .map(|bowler| {
            format!(
                "{} {}-{}-{}-{}",
                bowler.name,
                bowler.overs(balls_per_over),
                bowler.maidens,
                bowler.runs,
                bowler.wickets
            )
        });
    let partnership = innings
        .current_partnership()
        .map(|p| format!("{} ({} balls)", p.runs, p.legal_balls));
    let required = innings.required_rate().map(|rate| {
        format!(
            "Need {} from {} balls · RRR {:.2}",
            innings.runs_needed().unwrap_or(0),
            innings.balls_left().unwrap_or(0),
            rate
        )
    });
    let recent = innings
        .recent
        .iter()
        .map(|ball| view! { <li><BallChip ball=ball.clone()/></li> })
        .collect_view();
    view! {
        <section class="now" aria-labelledby="now-heading">
            <h2 id="now-heading" class="visually-hidden">"Now"</h2>
            <div class="now-grid">
                <div>
                    <h3>"Batting"</h3>
                    <ul class="at-crease">{batters}</ul>
                </div>
                <div>
                    <h3>"Bowling"</h3>
                    <p class="bowler">{bowler.unwrap_or_else(|| "–".to_owned())}</p>
                </div>
                <div>
                    <h3>"Partnership"</h3>
                    <p class="partnership">{partnership.unwrap_or_else(|| "–".to_owned())}</p>
                </div>
                <div>
                    <h3>"Run rate"</h3>
                    <p class="rates">
                        <span class="crr">{format!("CRR {}", format::rate(innings.run_rate()))}</span>
                        {required.map(|r| view! { <span class="rrr">{r}</span> })}
                    </p>
                </div>
            </div>
            <h3>"Last balls"</h3>
            <ol class="chips recent">{recent}</ol>
        </section>
    }
}

/// One ball as a chip: dot, runs, boundary, wicket or extra.
#[component]
fn BallChip(ball: Ball) -> impl IntoView {
    let kind = if ball.wicket {
        "wicket"
    } else if ball.boundary && ball.batter_runs == 6 {
        "six"
    } else if ball.boundary {
        "four"
    } else if ball.extras.wides + ball.extras.noballs + ball.extras.byes + ball.extras.legbyes > 0 {
        "extra"
    } else if ball.total == 0 {
        "dot"
    } else {
        "runs"
    };
    view! {
        <span class=format!("chip {kind}") title=format!("{}.{}", ball.over, ball.ball)>{ball.label()}</span>
    }
}

#[component]
fn Commentary(feed: Vec<Ball>) -> impl IntoView {
    if feed.is_empty() {
        return view! { <p class="empty">"No ball bowled yet."</p> }.into_any();
    }
    view! {
        <ol class="feed">
            {feed.into_iter().map(|ball| {
                let text = ball.commentary.clone().unwrap_or_else(|| describe(&ball));
                view! {
                    <li>
                        <span class="ball-no">{format!("{}.{}", ball.over, ball.ball)}</span>
                        <BallChip ball=ball.clone()/>
                        <span class="text">{text}</span>
                    </li>
                }
            }).collect_view()}
        </ol>
    }
    .into_any()
}

/// Words for a ball that came without commentary.
fn describe(ball: &Ball) -> String {
    if ball.wicket {
        return "Wicket!".to_owned();
    }
    match (ball.boundary, ball.batter_runs) {
        (true, 6) => "Six!".to_owned(),
        (true, _) => "Four.".to_owned(),
        _ if ball.extras.wides > 0 => "Wide.".to_owned(),
        _ if ball.extras.noballs > 0 => "No-ball.".to_owned(),
        _ if ball.total == 0 => "No run.".to_owned(),
        _ if ball.total == 1 => "One run.".to_owned(),
        _ => format!("{} runs.", ball.total),
    }
}

/// The worm for both innings, and a Manhattan per innings (super overs left out).
#[component]
fn Charts(board: Scoreboard) -> impl IntoView {
    let main: Vec<&Innings> = board.innings.iter().filter(|i| !i.super_over).collect();
    if main.is_empty() {
        return ().into_any();
    }
    let max_overs = board
        .info
        .as_ref()
        .and_then(|info| info.scheduled_overs)
        .map_or(0, u32::from);
    let lines = main
        .iter()
        .map(|innings| WormLine {
            team: innings.batting_team.clone(),
            start: innings.opening_penalty,
            totals: innings.worm(),
            wickets: innings.overs.iter().map(|o| o.wickets).collect(),
        })
        .collect();
    let max_runs = main
        .iter()
        .flat_map(|i| i.overs.iter().map(|o| o.runs))
        .max()
        .unwrap_or(0);
    let legend = main
        .iter()
        .enumerate()
        .map(|(i, innings)| {
            view! { <li class=format!("series-{}", i + 1)>{innings.batting_team.clone()}</li> }
        })
        .collect_view();
    let manhattans = main
        .iter()
        .map(|innings| {
            let bars = innings
                .overs
                .iter()
                .map(|o| OverBar {
                    runs: o.runs,
                    wickets: o.wickets,
                })
                .collect();
            view! {
                <figure>
                    <Manhattan innings=innings.number bars max_overs max_runs/>
                    <figcaption>{format!("{}: runs per over, • wicket", innings.batting_team)}</figcaption>
                </figure>
            }
        })
        .collect_view();
    let chances = board.chase_chances();
    let win = (!chances.is_empty())
        .then(|| main.get(1).map(|chase| chase.batting_team.clone()))
        .flatten()
        .map(|team| {
            let caption = format!(
                "{team}'s chance of winning after each over, in %: a simple model from the first innings' scoring rate, wickets in hand, and the runs and balls left"
            );
            view! {
                <figure>
                    <WinChart team chances max_overs/>
                    <figcaption>{caption}</figcaption>
                </figure>
            }
        });
    view! {
        <section class="charts" aria-labelledby="charts-heading">
            <h2 id="charts-heading">"Charts"</h2>
            <figure>
                <WormChart lines max_overs/>
                <figcaption>"Worm: runs after each over " <ul class="legend">{legend}</ul></figcaption>
            </figure>
            <div class="manhattans">{manhattans}</div>
            {win}
        </section>
    }
    .into_any()
}

/// Batting and bowling cards, extras and the fall of wickets of one innings.
#[component]
fn InningsCard(innings: Innings, balls_per_over: u8) -> impl IntoView {
    let heading = format::innings_heading(
        &innings.batting_team,
        innings.super_over,
        innings.runs,
        innings.wickets,
        innings.overs(),
    );
    let batting = innings
        .batters
        .iter()
        .map(|b| {
            view! {
                <tr>
                    <th scope="row">{b.name.clone()}</th>
                    <td class="how-out">{b.how_out()}</td>
                    <td class="num">{b.runs}</td>
                    <td class="num">{b.balls}</td>
                    <td class="num">{b.fours}</td>
                    <td class="num">{b.sixes}</td>
                    <td class="num">{format::rate(b.strike_rate())}</td>
                </tr>
            }
        })
        .collect_view();
    let bowling = innings
        .bowlers
        .iter()
        .map(|b| {
            view! {
                <tr>
                    <th scope="row">{b.name.clone()}</th>
                    <td class="num">{b.overs(balls_per_over).to_string()}</td>
                    <td class="num">{b.maidens}</td>
                    <td class="num">{b.runs}</td>
                    <td class="num">{b.wickets}</td>
                    <td class="num">{format::rate(b.economy(balls_per_over))}</td>
                    <td class="num">{b.wides}</td>
                    <td class="num">{b.noballs}</td>
                </tr>
            }
        })
        .collect_view();
    let extras = innings.extras;
    let extras_line = format!(
        "Extras {} (b {}, lb {}, w {}, nb {}, p {})",
        extras.byes + extras.legbyes + extras.wides + extras.noballs + extras.penalty,
        extras.byes,
        extras.legbyes,
        extras.wides,
        extras.noballs,
        extras.penalty
    );
    let fall = innings
        .fall_of_wickets
        .iter()
        .map(|f| format!("{}-{} ({}, {} ov)", f.runs, f.wicket, f.player, f.overs))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <section class="innings-card" data-innings=innings.number>
            <h2>{heading}</h2>
            <div class="table-scroll">
                <table class="batting">
                    <caption class="visually-hidden">"Batting"</caption>
                    <thead><tr>
                        <th scope="col">"Batter"</th><th scope="col"></th>
                        <th scope="col" class="num">"R"</th><th scope="col" class="num">"B"</th>
                        <th scope="col" class="num">"4s"</th><th scope="col" class="num">"6s"</th>
                        <th scope="col" class="num">"SR"</th>
                    </tr></thead>
                    <tbody>{batting}</tbody>
                </table>
            </div>
            <p class="extras">{extras_line}</p>
            {(!fall.is_empty()).then(|| view! { <p class="fow"><strong>"Fall of wickets: "</strong>{fall}</p> })}
            <div class="table-scroll">
                <table class="bowling">
                    <caption class="visually-hidden">"Bowling"</caption>
                    <thead><tr>
                        <th scope="col">"Bowler"</th>
                        <th scope="col" class="num">"O"</th><th scope="col" class="num">"M"</th>
                        <th scope="col" class="num">"R"</th><th scope="col" class="num">"W"</th>
                        <th scope="col" class="num">"Econ"</th><th scope="col" class="num">"Wd"</th>
                        <th scope="col" class="num">"Nb"</th>
                    </tr></thead>
                    <tbody>{bowling}</tbody>
                </table>
            </div>
        </section>
    }
}
