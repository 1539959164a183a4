//! The canonical scorecard of a match ([`cricket::scorecard::Scorecard`]), computed by SQL
//! from the modelled tables with the same rules as the scoring engine, so it can be compared
//! line for line with `simulator scorecard`, stream-stats and `expected.jsonl`:
//!
//! - team runs: every delivery's `runs_total` plus penalty runs awarded before and after;
//! - team wickets: every dismissal except retired hurt and retired not out;
//! - legal balls: neither a wide nor a no-ball;
//! - batters: everyone who faced, stood at the non-striker's end or was dismissed, with
//!   runs off the bat, balls faced (wides excluded), and 4s and 6s (`non_boundary` excluded);
//! - bowlers: runs off the bat plus wides and no-balls, and the wickets credited to them.
//!
//! The queries run in one read-only transaction, so a batch committed meanwhile cannot make
//! the totals and the player lines disagree.

use std::collections::BTreeMap;

use cricket::scorecard::{InningsScorecard, Scorecard};
use duckdb::Connection;

use crate::sql::SqlError;

fn failed(err: duckdb::Error) -> SqlError {
    SqlError::Internal(format!("scorecard query failed: {err}"))
}

fn count(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The scorecard of `match_id`, or `None` if the warehouse has never seen the match.
pub(crate) fn scorecard(conn: &Connection, match_id: &str) -> Result<Option<Scorecard>, SqlError> {
    let mut innings: BTreeMap<i64, InningsScorecard> = BTreeMap::new();
    let mut stmt = conn
        .prepare(
            "SELECT innings, batting_team, super_over,
                    (penalty_runs_before + penalty_runs_after)::BIGINT
             FROM innings WHERE match_id = ? ORDER BY innings",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([match_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .map_err(failed)?;
    for row in rows {
        let (number, team, super_over, penalty) = row.map_err(failed)?;
        innings.insert(
            number,
            InningsScorecard {
                team,
                super_over,
                runs: count(penalty),
                wickets: 0,
                legal_balls: 0,
                batters: BTreeMap::new(),
                bowlers: BTreeMap::new(),
            },
        );
    }
    if innings.is_empty() {
        let known: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM matches WHERE match_id = $1)
                      + (SELECT count(*) FROM events WHERE match_id = $1)",
                [match_id],
                |row| row.get(0),
            )
            .map_err(failed)?;
        if known == 0 {
            return Ok(None);
        }
    }

    let mut stmt = conn
        .prepare(
            "SELECT innings, sum(runs_total)::BIGINT, count(*) FILTER (WHERE is_legal)
             FROM deliveries WHERE match_id = ? GROUP BY innings",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([match_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })
        .map_err(failed)?;
    for row in rows {
        let (number, runs, legal_balls) = row.map_err(failed)?;
        if let Some(card) = innings.get_mut(&number) {
            card.runs += count(runs);
            card.legal_balls = count(legal_balls);
        }
    }

    let mut stmt = conn
        .prepare(
            "SELECT innings, count(*) FILTER (WHERE counts_as_team_wicket)
             FROM wickets WHERE match_id = ? GROUP BY innings",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([match_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        })
        .map_err(failed)?;
    for row in rows {
        let (number, wickets) = row.map_err(failed)?;
        if let Some(card) = innings.get_mut(&number) {
            card.wickets = count(wickets);
        }
    }

    let mut stmt = conn
        .prepare(
            "WITH d AS (SELECT * FROM deliveries WHERE match_id = $1),
             players AS (
                 SELECT innings, batter AS name FROM d
                 UNION SELECT innings, non_striker FROM d
                 UNION SELECT innings, player_out FROM wickets WHERE match_id = $1
             ),
             faced AS (
                 SELECT innings, batter AS name, sum(runs_batter) AS runs,
                        count(*) FILTER (WHERE wides = 0) AS balls,
                        count(*) FILTER (WHERE runs_batter = 4 AND NOT non_boundary) AS fours,
                        count(*) FILTER (WHERE runs_batter = 6 AND NOT non_boundary) AS sixes
                 FROM d GROUP BY innings, batter
             )
             SELECT p.innings, p.name, coalesce(f.runs, 0)::BIGINT, coalesce(f.balls, 0)::BIGINT,
                    coalesce(f.fours, 0)::BIGINT, coalesce(f.sixes, 0)::BIGINT
             FROM players p LEFT JOIN faced f ON f.innings = p.innings AND f.name = p.name",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([match_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                [
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, i64>(5)?,
                ],
            ))
        })
        .map_err(failed)?;
    for row in rows {
        let (number, name, figures) = row.map_err(failed)?;
        if let Some(card) = innings.get_mut(&number) {
            card.batters.insert(name, figures.map(count));
        }
    }

    let mut stmt = conn
        .prepare(
            "WITH b AS (
                 SELECT innings, bowler, sum(runs_batter + wides + noballs)::BIGINT AS runs
                 FROM deliveries WHERE match_id = $1 GROUP BY innings, bowler
             ), w AS (
                 SELECT innings, bowler, count(*) AS wickets
                 FROM wickets WHERE match_id = $1 AND credited_to_bowler GROUP BY innings, bowler
             )
             SELECT b.innings, b.bowler, b.runs, coalesce(w.wickets, 0)::BIGINT
             FROM b LEFT JOIN w ON w.innings = b.innings AND w.bowler = b.bowler",
        )
        .map_err(failed)?;
    let rows = stmt
        .query_map([match_id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                [row.get::<_, i64>(2)?, row.get::<_, i64>(3)?],
            ))
        })
        .map_err(failed)?;
    for row in rows {
        let (number, name, figures) = row.map_err(failed)?;
        if let Some(card) = innings.get_mut(&number) {
            card.bowlers.insert(name, figures.map(count));
        }
    }

    Ok(Some(Scorecard {
        match_id: match_id.to_owned(),
        innings: innings.into_values().collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Record, SeqTracker, decode};
    use crate::store::{self, Batch, EventRow};
    use cricket::Scoreboard;

    /// Every real match through the model and the SQL gives the engine's scorecard.
    #[test]
    fn sql_scorecards_equal_the_engines_for_the_real_matches() -> anyhow::Result<()> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/cricsheet");
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(crate::schema::TABLES)?;
        conn.execute_batch(crate::schema::VIEWS)?;
        let mut tracker = SeqTracker::default();
        let mut batch = Batch::default();
        let mut cards = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned();
            let events = cricket::cricsheet::import(
                &id,
                &path.display().to_string(),
                &std::fs::read(&path)?,
            )?;
            cards.push(Scoreboard::from_events(&id, &events)?.scorecard());
            // Every event twice: the second copy must not count.
            for (offset, event) in events.iter().chain(events.iter()).enumerate() {
                let text = serde_json::to_vec(event)?;
                let record = Record {
                    key: Some(id.as_bytes()),
                    payload: Some(&text),
                    ingest_time_ms: None,
                };
                let decoded = decode(&record).map_err(anyhow::Error::msg)?;
                let duplicate = !tracker.observe(&id, event.seq);
                batch.push_event(EventRow {
                    partition: 0,
                    offset: offset as i64,
                    ingest_time_ms: None,
                    duplicate,
                    decoded,
                });
            }
        }
        store::write(&mut conn, "t", &batch, 1, 0)?;
        assert_eq!(cards.len(), 20);
        for card in cards {
            let sql = scorecard(&conn, &card.match_id)
                .map_err(anyhow::Error::msg)?
                .ok_or_else(|| anyhow::anyhow!("no scorecard"))?;
            assert_eq!(sql, card, "match {}", card.match_id);
        }
        assert_eq!(scorecard(&conn, "nope").map_err(anyhow::Error::msg)?, None);
        // The views run too.
        for view in [
            "innings_totals",
            "batting_scorecard",
            "bowling_scorecard",
            "match_results",
            "most_runs",
            "most_wickets",
            "highest_totals",
            "best_strike_rates",
            "best_economy",
        ] {
            let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {view}"), [], |row| {
                row.get(0)
            })?;
            assert!(rows > 0, "{view} is empty");
        }
        Ok(())
    }
}
