//! The warehouse's tables and views, as SQL.
//!
//! Three layers:
//!
//! - bookkeeping: `kafka_offsets` (the next offset to load per partition, written in the same
//!   transaction as the rows: this is what makes loading exactly-once) and `batches` (one row
//!   per committed batch);
//! - raw: `events` (one row per Kafka record that is a valid event, duplicates included and
//!   flagged) and `rejected` (records that are not valid events, with their raw bytes);
//! - model: one row per distinct `(match_id, seq)` event in `matches`, `innings_started`,
//!   `innings_ended`, `deliveries`, `wickets`, `replacements` and `results`, and views over
//!   them that follow the scoring rules of `cricket::scoreboard` (see `data/cricsheet/README.md`
//!   "Scoring rules"): scorecards, innings totals, results and leaderboards.
//!
//! Tables are created if missing; views are replaced at every start so they always match
//! this code. Column names avoid SQL keywords (`over_no`, `kafka_offset`) so queries need no
//! quoting. Times are `TIMESTAMPTZ` (UTC); list-like values are JSON arrays.

/// Tables, created if missing.
pub(crate) const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS kafka_offsets (
    topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
COMMENT ON TABLE kafka_offsets IS 'Next Kafka offset to load per partition, committed in the same transaction as the rows it covers';

CREATE TABLE IF NOT EXISTS batches (
    batch_id BIGINT NOT NULL,
    committed_at TIMESTAMPTZ NOT NULL,
    records INTEGER NOT NULL,
    events INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    oldest_ingest_time TIMESTAMPTZ,
    newest_ingest_time TIMESTAMPTZ
);
COMMENT ON TABLE batches IS 'One row per committed load batch';

CREATE TABLE IF NOT EXISTS events (
    kafka_topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    kafka_key VARCHAR,
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    schema_version INTEGER NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    ingest_time TIMESTAMPTZ,
    loaded_at TIMESTAMPTZ NOT NULL,
    batch_id BIGINT NOT NULL,
    duplicate BOOLEAN NOT NULL,
    payload JSON NOT NULL
);
COMMENT ON TABLE events IS 'Raw: one row per Kafka record holding a valid event; duplicate = an earlier record already carried this (match_id, seq)';

CREATE TABLE IF NOT EXISTS rejected (
    kafka_topic VARCHAR NOT NULL,
    kafka_partition INTEGER NOT NULL,
    kafka_offset BIGINT NOT NULL,
    kafka_key BLOB,
    payload BLOB,
    reason VARCHAR NOT NULL,
    ingest_time TIMESTAMPTZ,
    loaded_at TIMESTAMPTZ NOT NULL,
    batch_id BIGINT NOT NULL
);
COMMENT ON TABLE rejected IS 'Raw: Kafka records that are not valid events (undecodable, invalid, or keyed under another match), with their bytes and the reason';

CREATE TABLE IF NOT EXISTS matches (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    team1 VARCHAR NOT NULL,
    team2 VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    balls_per_over INTEGER NOT NULL,
    scheduled_overs INTEGER,
    venue VARCHAR,
    city VARCHAR,
    competition VARCHAR,
    match_date DATE,
    toss_winner VARCHAR,
    toss_decision VARCHAR,
    squads JSON
);
COMMENT ON TABLE matches IS 'One row per match_started event';

CREATE TABLE IF NOT EXISTS innings_started (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    innings INTEGER NOT NULL,
    batting_team VARCHAR NOT NULL,
    bowling_team VARCHAR NOT NULL,
    super_over BOOLEAN NOT NULL,
    target_runs INTEGER,
    max_balls INTEGER,
    penalty_runs INTEGER NOT NULL
);
COMMENT ON TABLE innings_started IS 'One row per innings_started event (penalty_runs: awarded before the innings)';

CREATE TABLE IF NOT EXISTS innings_ended (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    innings INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    penalty_runs INTEGER NOT NULL,
    absent_hurt JSON
);
COMMENT ON TABLE innings_ended IS 'One row per innings_ended event (penalty_runs: awarded after the innings)';

CREATE TABLE IF NOT EXISTS deliveries (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    innings INTEGER NOT NULL,
    over_no INTEGER NOT NULL,
    ball_no INTEGER NOT NULL,
    batter VARCHAR NOT NULL,
    non_striker VARCHAR NOT NULL,
    bowler VARCHAR NOT NULL,
    runs_batter INTEGER NOT NULL,
    runs_extras INTEGER NOT NULL,
    runs_total INTEGER NOT NULL,
    non_boundary BOOLEAN NOT NULL,
    wides INTEGER NOT NULL,
    noballs INTEGER NOT NULL,
    byes INTEGER NOT NULL,
    legbyes INTEGER NOT NULL,
    penalty INTEGER NOT NULL,
    is_legal BOOLEAN NOT NULL,
    wickets INTEGER NOT NULL,
    commentary VARCHAR
);
COMMENT ON TABLE deliveries IS 'One row per delivery: over_no is 0-based, ball_no 1-based counting wides and no-balls; is_legal = neither a wide nor a no-ball';

CREATE TABLE IF NOT EXISTS wickets (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    innings INTEGER NOT NULL,
    over_no INTEGER NOT NULL,
    ball_no INTEGER NOT NULL,
    wicket_no INTEGER NOT NULL,
    batter VARCHAR NOT NULL,
    non_striker VARCHAR NOT NULL,
    bowler VARCHAR NOT NULL,
    player_out VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    fielders JSON,
    credited_to_bowler BOOLEAN NOT NULL,
    counts_as_team_wicket BOOLEAN NOT NULL
);
COMMENT ON TABLE wickets IS 'One row per dismissal (a delivery can carry two: wicket_no); kind as the scorer writes it, e.g. caught and bowled';

CREATE TABLE IF NOT EXISTS replacements (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    innings INTEGER NOT NULL,
    over_no INTEGER NOT NULL,
    ball_no INTEGER NOT NULL,
    player_in VARCHAR NOT NULL,
    player_out VARCHAR NOT NULL,
    team VARCHAR,
    role VARCHAR,
    reason VARCHAR NOT NULL
);
COMMENT ON TABLE replacements IS 'Player substitutions recorded on deliveries (role NULL: a match replacement such as a concussion substitute)';

CREATE TABLE IF NOT EXISTS results (
    match_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    event_time TIMESTAMPTZ NOT NULL,
    result VARCHAR NOT NULL,
    winner VARCHAR,
    margin_runs INTEGER,
    margin_wickets INTEGER,
    margin_innings INTEGER,
    method VARCHAR,
    eliminator VARCHAR,
    bowl_out VARCHAR,
    player_of_match JSON
);
COMMENT ON TABLE results IS 'One row per match_ended event: result is win, tie, no_result or draw';
"#;

/// Views, replaced at every start.
pub(crate) const VIEWS: &str = r#"
CREATE OR REPLACE VIEW innings AS
SELECT s.match_id, s.innings, s.batting_team, s.bowling_team, s.super_over, s.target_runs,
       s.max_balls, s.penalty_runs AS penalty_runs_before,
       coalesce(e.penalty_runs, 0) AS penalty_runs_after, e.reason AS end_reason,
       e.absent_hurt, s.event_time AS started_at, e.event_time AS ended_at
FROM innings_started s
LEFT JOIN innings_ended e ON e.match_id = s.match_id AND e.innings = s.innings;
COMMENT ON VIEW innings IS 'Each innings with how it ended (end_reason NULL while it is in progress)';

CREATE OR REPLACE VIEW innings_totals AS
WITH d AS (
    SELECT match_id, innings, sum(runs_total) AS runs,
           count(*) FILTER (WHERE is_legal) AS legal_balls,
           sum(wides) AS wides, sum(noballs) AS noballs, sum(byes) AS byes,
           sum(legbyes) AS legbyes, sum(penalty) AS penalty
    FROM deliveries GROUP BY match_id, innings
), per_over AS (
    SELECT match_id, innings, over_no, count(*) FILTER (WHERE is_legal) AS legal
    FROM deliveries GROUP BY match_id, innings, over_no
), last_over AS (
    SELECT match_id, innings, max(over_no) AS over_no, arg_max(legal, over_no) AS legal
    FROM per_over GROUP BY match_id, innings
), w AS (
    SELECT match_id, innings, count(*) FILTER (WHERE counts_as_team_wicket) AS wickets
    FROM wickets GROUP BY match_id, innings
)
SELECT i.match_id, i.innings, i.batting_team, i.bowling_team, i.super_over,
       (coalesce(d.runs, 0) + i.penalty_runs_before + i.penalty_runs_after)::INTEGER AS runs,
       coalesce(w.wickets, 0)::INTEGER AS wickets,
       coalesce(d.legal_balls, 0)::INTEGER AS legal_balls,
       CASE
           WHEN lo.over_no IS NULL THEN '0'
           WHEN lo.legal >= coalesce(m.balls_per_over, 6) THEN (lo.over_no + 1)::VARCHAR
           WHEN lo.legal = 0 THEN lo.over_no::VARCHAR
           ELSE lo.over_no::VARCHAR || '.' || lo.legal::VARCHAR
       END AS overs,
       coalesce(d.wides, 0)::INTEGER AS wides, coalesce(d.noballs, 0)::INTEGER AS noballs,
       coalesce(d.byes, 0)::INTEGER AS byes, coalesce(d.legbyes, 0)::INTEGER AS legbyes,
       (coalesce(d.penalty, 0) + i.penalty_runs_before + i.penalty_runs_after)::INTEGER AS penalty,
       round(CASE WHEN coalesce(d.legal_balls, 0) > 0
             THEN (coalesce(d.runs, 0) + i.penalty_runs_before + i.penalty_runs_after)
                  * coalesce(m.balls_per_over, 6) / d.legal_balls END, 2) AS run_rate,
       i.target_runs, i.end_reason
FROM innings i
LEFT JOIN matches m ON m.match_id = i.match_id
LEFT JOIN d ON d.match_id = i.match_id AND d.innings = i.innings
LEFT JOIN last_over lo ON lo.match_id = i.match_id AND lo.innings = i.innings
LEFT JOIN w ON w.match_id = i.match_id AND w.innings = i.innings;
COMMENT ON VIEW innings_totals IS 'Runs (deliveries plus penalty runs before and after), wickets (all but retired hurt / retired not out), legal balls and overs per innings';

CREATE OR REPLACE VIEW batting_scorecard AS
WITH seen AS (
    SELECT match_id, innings, batter AS player, 2 * min(seq) AS first_seen, max(seq) AS last_seen
    FROM deliveries GROUP BY ALL
    UNION ALL
    SELECT match_id, innings, non_striker, 2 * min(seq) + 1, max(seq)
    FROM deliveries GROUP BY ALL
    UNION ALL
    SELECT match_id, innings, player_out, 2 * min(seq) + 1, NULL
    FROM wickets GROUP BY ALL
), players AS (
    SELECT match_id, innings, player, min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM seen GROUP BY ALL
), faced AS (
    SELECT match_id, innings, batter AS player, sum(runs_batter) AS runs,
           count(*) FILTER (WHERE wides = 0) AS balls,
           count(*) FILTER (WHERE runs_batter = 4 AND NOT non_boundary) AS fours,
           count(*) FILTER (WHERE runs_batter = 6 AND NOT non_boundary) AS sixes,
           count(*) FILTER (WHERE wides = 0 AND runs_total = 0) AS dots
    FROM deliveries GROUP BY ALL
), last_wicket AS (
    SELECT match_id, innings, player_out AS player, max(seq) AS out_seq,
           arg_max(kind, seq) AS kind, arg_max(bowler, seq) AS bowler,
           arg_max(credited_to_bowler, seq) AS credited, arg_max(fielders, seq) AS fielders
    FROM wickets GROUP BY ALL
)
SELECT p.match_id, p.innings, i.batting_team,
       row_number() OVER (PARTITION BY p.match_id, p.innings ORDER BY p.first_seen)::INTEGER AS position,
       p.player AS batter,
       coalesce(f.runs, 0)::INTEGER AS runs, coalesce(f.balls, 0)::INTEGER AS balls,
       coalesce(f.fours, 0)::INTEGER AS fours, coalesce(f.sixes, 0)::INTEGER AS sixes,
       coalesce(f.dots, 0)::INTEGER AS dots,
       round(CASE WHEN f.balls > 0 THEN 100.0 * f.runs / f.balls END, 2) AS strike_rate,
       -- A batter who retired hurt (or not out) and batted again is not out.
       (w.kind IS NOT NULL AND (w.kind NOT IN ('retired hurt', 'retired not out')
                                OR coalesce(p.last_seen, 0) <= w.out_seq)) AS is_out,
       CASE WHEN w.kind IS NOT NULL AND (w.kind NOT IN ('retired hurt', 'retired not out')
                                         OR coalesce(p.last_seen, 0) <= w.out_seq)
            THEN w.kind ELSE 'not out' END AS dismissal,
       CASE WHEN w.credited THEN w.bowler END AS dismissed_by,
       w.fielders
FROM players p
LEFT JOIN faced f ON f.match_id = p.match_id AND f.innings = p.innings AND f.player = p.player
LEFT JOIN last_wicket w ON w.match_id = p.match_id AND w.innings = p.innings AND w.player = p.player
LEFT JOIN innings_started i ON i.match_id = p.match_id AND i.innings = p.innings;
COMMENT ON VIEW batting_scorecard IS 'Everyone who batted, stood at the non-striker''s end or was dismissed: runs, balls (wides excluded), 4s and 6s (non_boundary excluded), strike rate, dismissal';

CREATE OR REPLACE VIEW bowling_scorecard AS
WITH b AS (
    SELECT match_id, innings, bowler, min(seq) AS first_seq,
           count(*) FILTER (WHERE is_legal) AS legal_balls,
           sum(runs_batter + wides + noballs) AS runs,
           sum(wides) AS wides, sum(noballs) AS noballs,
           count(*) FILTER (WHERE is_legal AND runs_batter + wides + noballs = 0) AS dots,
           count(*) FILTER (WHERE runs_batter = 4 AND NOT non_boundary) AS fours,
           count(*) FILTER (WHERE runs_batter = 6 AND NOT non_boundary) AS sixes
    FROM deliveries GROUP BY ALL
), w AS (
    SELECT match_id, innings, bowler, count(*) AS wickets
    FROM wickets WHERE credited_to_bowler GROUP BY ALL
), overs AS (
    SELECT match_id, innings, over_no, arg_min(bowler, seq) AS bowler,
           count(DISTINCT bowler) = 1 AS one_bowler,
           count(*) FILTER (WHERE is_legal) AS legal,
           sum(runs_batter + wides + noballs) AS bowler_runs
    FROM deliveries GROUP BY ALL
), maidens AS (
    SELECT o.match_id, o.innings, o.bowler, count(*) AS maidens
    FROM overs o LEFT JOIN matches m ON m.match_id = o.match_id
    WHERE o.one_bowler AND o.legal >= coalesce(m.balls_per_over, 6) AND o.bowler_runs = 0
    GROUP BY ALL
)
SELECT b.match_id, b.innings, i.bowling_team,
       row_number() OVER (PARTITION BY b.match_id, b.innings ORDER BY b.first_seq)::INTEGER AS position,
       b.bowler, b.legal_balls::INTEGER AS legal_balls,
       CASE WHEN b.legal_balls % coalesce(m.balls_per_over, 6) = 0
            THEN (b.legal_balls // coalesce(m.balls_per_over, 6))::VARCHAR
            ELSE (b.legal_balls // coalesce(m.balls_per_over, 6))::VARCHAR || '.'
                 || (b.legal_balls % coalesce(m.balls_per_over, 6))::VARCHAR END AS overs,
       coalesce(md.maidens, 0)::INTEGER AS maidens,
       b.runs::INTEGER AS runs, coalesce(w.wickets, 0)::INTEGER AS wickets,
       round(CASE WHEN b.legal_balls > 0
             THEN b.runs * coalesce(m.balls_per_over, 6) / b.legal_balls END, 2) AS economy,
       b.dots::INTEGER AS dots, b.fours::INTEGER AS fours, b.sixes::INTEGER AS sixes,
       b.wides::INTEGER AS wides, b.noballs::INTEGER AS noballs
FROM b
LEFT JOIN w ON w.match_id = b.match_id AND w.innings = b.innings AND w.bowler = b.bowler
LEFT JOIN maidens md ON md.match_id = b.match_id AND md.innings = b.innings AND md.bowler = b.bowler
LEFT JOIN matches m ON m.match_id = b.match_id
LEFT JOIN innings_started i ON i.match_id = b.match_id AND i.innings = b.innings;
COMMENT ON VIEW bowling_scorecard IS 'Everyone who bowled: runs conceded (off the bat + wides + no-balls), wickets (bowled, caught, caught and bowled, lbw, stumped, hit wicket), overs, maidens, economy';

CREATE OR REPLACE VIEW match_results AS
SELECT m.match_id, m.match_date, m.competition, m.format, m.team1, m.team2, m.venue,
       r.result, r.winner, r.margin_runs, r.margin_wickets, r.margin_innings, r.method,
       r.eliminator, r.bowl_out, r.player_of_match,
       CASE r.result
           WHEN 'win' THEN r.winner || ' won' ||
               coalesce(' by ' || r.margin_innings::VARCHAR || ' innings and', '') ||
               coalesce(' by ' || r.margin_runs::VARCHAR || ' runs', '') ||
               coalesce(' by ' || r.margin_wickets::VARCHAR || ' wickets', '') ||
               coalesce(' (' || r.method || ')', '')
           WHEN 'tie' THEN 'Match tied' ||
               coalesce(' (' || r.eliminator || ' won the eliminator)', '') ||
               coalesce(' (' || r.bowl_out || ' won the bowl-out)', '')
           WHEN 'no_result' THEN 'No result'
           WHEN 'draw' THEN 'Match drawn'
           ELSE 'In progress'
       END AS summary
FROM matches m LEFT JOIN results r ON r.match_id = m.match_id;
COMMENT ON VIEW match_results IS 'Every match with its result (NULL while in progress) and a one-line summary';

CREATE OR REPLACE VIEW most_runs AS
SELECT batter, count(DISTINCT match_id) AS matches, sum(runs_batter)::BIGINT AS runs,
       count(*) FILTER (WHERE wides = 0) AS balls,
       count(*) FILTER (WHERE runs_batter = 4 AND NOT non_boundary) AS fours,
       count(*) FILTER (WHERE runs_batter = 6 AND NOT non_boundary) AS sixes,
       round(100.0 * sum(runs_batter) / nullif(count(*) FILTER (WHERE wides = 0), 0), 2) AS strike_rate
FROM deliveries
GROUP BY batter
ORDER BY runs DESC, batter;
COMMENT ON VIEW most_runs IS 'Leaderboard: runs off the bat per batter over every match loaded';

CREATE OR REPLACE VIEW most_wickets AS
WITH w AS (
    SELECT bowler, count(*) AS wickets FROM wickets WHERE credited_to_bowler GROUP BY bowler
), d AS (
    SELECT bowler, count(DISTINCT match_id) AS matches,
           count(*) FILTER (WHERE is_legal) AS legal_balls,
           sum(runs_batter + wides + noballs) AS runs
    FROM deliveries GROUP BY bowler
)
SELECT d.bowler, d.matches, coalesce(w.wickets, 0) AS wickets, d.runs::BIGINT AS runs,
       d.legal_balls, round(CASE WHEN w.wickets > 0 THEN d.runs / w.wickets END, 2) AS average,
       round(CASE WHEN d.legal_balls > 0 THEN 6.0 * d.runs / d.legal_balls END, 2) AS economy
FROM d LEFT JOIN w ON w.bowler = d.bowler
ORDER BY wickets DESC, runs, d.bowler;
COMMENT ON VIEW most_wickets IS 'Leaderboard: wickets credited to each bowler, with runs conceded, average and economy (per 6 balls)';

CREATE OR REPLACE VIEW highest_totals AS
SELECT t.match_id, t.innings, t.batting_team, t.bowling_team, t.runs, t.wickets, t.overs,
       m.match_date, m.competition
FROM innings_totals t LEFT JOIN matches m ON m.match_id = t.match_id
WHERE NOT t.super_over
ORDER BY t.runs DESC, t.match_id, t.innings;
COMMENT ON VIEW highest_totals IS 'Leaderboard: innings totals, highest first (super overs left out)';

CREATE OR REPLACE VIEW best_strike_rates AS
SELECT * FROM most_runs WHERE balls >= 100
ORDER BY strike_rate DESC, runs DESC, batter;
COMMENT ON VIEW best_strike_rates IS 'Leaderboard: strike rate of batters who faced at least 100 balls';

CREATE OR REPLACE VIEW best_economy AS
SELECT * FROM most_wickets WHERE legal_balls >= 120
ORDER BY economy, wickets DESC, bowler;
COMMENT ON VIEW best_economy IS 'Leaderboard: economy of bowlers with at least 120 legal balls';
"#;

/// Every table, in the order `warehouse export` writes them, with the column that
/// partitions its Parquet files (if any).
pub(crate) const EXPORTED: &[(&str, Option<&str>)] = &[
    ("events", Some("event_time::DATE")),
    ("deliveries", Some("event_time::DATE")),
    ("wickets", None),
    ("matches", None),
    ("innings_started", None),
    ("innings_ended", None),
    ("replacements", None),
    ("results", None),
    ("rejected", None),
    ("batches", None),
    ("kafka_offsets", None),
];
