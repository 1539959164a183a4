//! The match centre's charts, drawn as plain SVG from the scoreboard's per-over records: the
//! worm (cumulative runs by over, both innings) and the Manhattan (runs per over, wickets
//! marked), plus the pipeline page's sparkline. Every chart has a fixed viewBox, so the page
//! keeps its layout while the data grows.

use leptos::prelude::*;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One innings' line on the worm chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WormLine {
    pub team: String,
    /// Runs before the first ball (penalty runs awarded earlier).
    pub start: u32,
    /// Cumulative runs at the end of each over.
    pub totals: Vec<u32>,
    /// Wickets that fell in each over.
    pub wickets: Vec<u32>,
}

/// One over's bar on the Manhattan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct OverBar {
    pub runs: u32,
    pub wickets: u32,
}

/// A round upper bound for an axis and its tick step: at most five gridlines.
pub(crate) fn axis(max: u32) -> (u32, u32) {
    let step = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500]
        .into_iter()
        .find(|step| max.div_ceil(*step) <= 5)
        .unwrap_or(1_000);
    let top = max.div_ceil(step).max(1) * step;
    (top, step)
}

/// Over ticks: every over for short innings, then every 2, 5 or 10.
fn over_step(overs: u32) -> u32 {
    match overs {
        0..=10 => 1,
        11..=20 => 2,
        21..=50 => 5,
        _ => 10,
    }
}

struct Frame {
    max_x: f64,
    max_y: f64,
}

impl Frame {
    fn x(&self, over: f64) -> f64 {
        LEFT + over / self.max_x.max(1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, value: f64) -> f64 {
        HEIGHT - BOTTOM - value / self.max_y.max(1.0) * (HEIGHT - TOP - BOTTOM)
    }
}

/// An SVG `points` attribute: "x,y x,y ...".
fn polyline(points: impl IntoIterator<Item = (f64, f64)>) -> String {
    points
        .into_iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Gridlines with their labels, and the over ticks.
fn grid(frame: &Frame, overs: u32, y_top: u32, y_step: u32) -> impl IntoView + use<> {
    let horizontal = (0..=y_top / y_step)
        .map(|i| {
            let value = i * y_step;
            let y = frame.y(f64::from(value));
            view! {
                <line class="grid" x1=LEFT x2=WIDTH - RIGHT y1=y y2=y></line>
                <text class="tick" x=LEFT - 6.0 y=y + 4.0 text-anchor="end">{value}</text>
            }
        })
        .collect_view();
    let step = over_step(overs);
    let vertical = (0..=overs / step)
        .map(|i| {
            let over = i * step;
            view! {
                <text class="tick" x=frame.x(f64::from(over)) y=HEIGHT - 8.0 text-anchor="middle">
                    {over}
                </text>
            }
        })
        .collect_view();
    view! { <g aria-hidden="true">{horizontal}{vertical}</g> }
}

/// Cumulative runs by over; one line (and one point per over) per innings.
#[component]
pub(crate) fn WormChart(lines: Vec<WormLine>, max_overs: u32) -> impl IntoView {
    let played = lines.iter().map(|l| l.totals.len()).max().unwrap_or(0) as u32;
    let overs = max_overs.max(played).max(1);
    let highest = lines
        .iter()
        .flat_map(|l| l.totals.iter().copied().chain([l.start]))
        .max()
        .unwrap_or(0);
    let (y_top, y_step) = axis(highest.max(10));
    let frame = Frame {
        max_x: f64::from(overs),
        max_y: f64::from(y_top),
    };
    let grid = grid(&frame, overs, y_top, y_step);
    let series = lines
        .into_iter()
        .enumerate()
        .map(|(index, line)| {
            let mut points = vec![(frame.x(0.0), frame.y(f64::from(line.start)))];
            points.extend(line.totals.iter().enumerate().map(|(over, total)| {
                (frame.x(over as f64 + 1.0), frame.y(f64::from(*total)))
            }));
            let path = polyline(points);
            let markers = line
                .totals
                .iter()
                .zip(&line.wickets)
                .enumerate()
                .map(|(over, (total, wickets))| {
                    let (x, y) = (frame.x(over as f64 + 1.0), frame.y(f64::from(*total)));
                    let class = if *wickets > 0 { "point wicket" } else { "point" };
                    let radius = if *wickets > 0 { 4.5 } else { 2.5 };
                    view! {
                        <circle class=class cx=x cy=y r=radius data-over=over + 1>
                            <title>{format!("{} after {} overs: {total}", line.team, over + 1)}</title>
                        </circle>
                    }
                })
                .collect_view();
            view! {
                <g class=format!("series series-{}", index + 1) data-innings=index + 1>
                    <polyline class="line" points=path></polyline>
                    {markers}
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class="chart worm" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img"
            aria-label="Worm: cumulative runs by over">
            {grid}
            {series}
        </svg>
    }
}

/// Runs per over as bars, a dot above the bar for each wicket.
#[component]
pub(crate) fn Manhattan(
    innings: u8,
    bars: Vec<OverBar>,
    max_overs: u32,
    /// Shared by both innings' charts so their bars compare.
    max_runs: u32,
) -> impl IntoView {
    let overs = max_overs.max(bars.len() as u32).max(1);
    let (y_top, y_step) = axis(max_runs.max(6));
    let frame = Frame {
        max_x: f64::from(overs),
        max_y: f64::from(y_top),
    };
    let grid = grid(&frame, overs, y_top, y_step);
    let slot = frame.x(1.0) - frame.x(0.0);
    let bars = bars
        .into_iter()
        .enumerate()
        .map(|(over, bar)| {
            let x = frame.x(over as f64) + slot * 0.15;
            let y = frame.y(f64::from(bar.runs));
            let height = frame.y(0.0) - y;
            let wickets = (0..bar.wickets)
                .map(|w| {
                    view! {
                        <circle class="wicket" cx=x + slot * 0.35 cy=y - 6.0 - f64::from(w) * 9.0 r=3.5></circle>
                    }
                })
                .collect_view();
            view! {
                <g data-over=over + 1>
                    <rect class="bar" x=x y=y width=slot * 0.7 height=height>
                        <title>{format!("Over {}: {} runs, {} wickets", over + 1, bar.runs, bar.wickets)}</title>
                    </rect>
                    {wickets}
                </g>
            }
        })
        .collect_view();
    view! {
        <svg class=format!("chart manhattan series-{innings}") viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img" aria-label=format!("Manhattan, innings {innings}: runs per over") data-innings=innings>
            {grid}
            {bars}
        </svg>
    }
}

/// The chasing side's chance of winning after each over, 0 to 100 %.
#[component]
pub(crate) fn WinChart(
    team: String,
    chances: Vec<cricket::win_probability::ChancePoint>,
    max_overs: u32,
) -> impl IntoView {
    let played = chances.last().map_or(0, |p| p.over);
    let overs = max_overs.max(played).max(1);
    let frame = Frame {
        max_x: f64::from(overs),
        max_y: 100.0,
    };
    let grid = grid(&frame, overs, 100, 25);
    let points: Vec<(f64, f64, u32, f64)> = chances
        .iter()
        .map(|p| {
            (
                frame.x(f64::from(p.over)),
                frame.y(p.chance * 100.0),
                p.over,
                p.chance,
            )
        })
        .collect();
    let path = polyline(points.iter().map(|(x, y, ..)| (*x, *y)));
    let markers = points
        .into_iter()
        .map(|(x, y, over, chance)| {
            view! {
                <circle class="point" cx=x cy=y r=2.5 data-over=over>
                    <title>{format!("{team} after {over} overs: {:.0}%", chance * 100.0)}</title>
                </circle>
            }
        })
        .collect_view();
    view! {
        <svg class="chart win series-2" viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img"
            aria-label="The chasing side's chance of winning, by over">
            {grid}
            <line class="even" x1=LEFT x2=WIDTH - RIGHT y1=frame.y(50.0) y2=frame.y(50.0)></line>
            <g class="series series-2">
                <polyline class="line" points=path></polyline>
                {markers}
            </g>
        </svg>
    }
}

/// A small line of the last values (oldest first), scaled to its own maximum.
#[component]
pub(crate) fn Sparkline(values: Vec<f64>) -> impl IntoView {
    let (width, height) = (200.0, 40.0);
    let max = values.iter().copied().fold(1.0_f64, f64::max);
    let step = width / (values.len().max(2) - 1) as f64;
    let points = polyline(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 * step, height - v / max * (height - 2.0) - 1.0)),
    );
    view! {
        <svg class="sparkline" viewBox=format!("0 0 {width} {height}") aria-hidden="true"
            preserveAspectRatio="none">
            <polyline points=points></polyline>
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_round_up_to_at_most_five_steps() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(6), (6, 2));
        assert_eq!(axis(23), (25, 5));
        assert_eq!(axis(187), (200, 50));
        assert_eq!(axis(410), (500, 100));
        for max in 0..2_000 {
            let (top, step) = axis(max);
            assert!(top >= max && top / step <= 5 && top % step == 0, "{max}");
        }
    }
}
