//! The only code that writes the database: one [`Batch`] becomes one DuckDB transaction.
//!
//! In that transaction go the raw rows, the modelled rows, a `batches` row and the next
//! offset of every partition the batch read. Either all of it is committed or none of it,
//! so after a crash the stored offsets say exactly which records the tables hold: the
//! loader resumes there and nothing is lost or loaded twice. Rows go in through DuckDB's
//! appenders, which take part in the connection's open transaction.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Datelike;
use cricket::Payload;
use cricket::event::{InningsEndReason, Outcome, TossDecision};
use duckdb::types::{TimeUnit, Value};
use duckdb::{Appender, Connection, params};

use crate::model::Decoded;

/// A valid event as read from Kafka.
#[derive(Debug, Clone)]
pub(crate) struct EventRow {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) ingest_time_ms: Option<i64>,
    /// An earlier record carried the same `(match_id, seq)`: raw table only.
    pub(crate) duplicate: bool,
    pub(crate) decoded: Decoded,
}

/// A record that is not a valid event.
#[derive(Debug, Clone)]
pub(crate) struct RejectedRow {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) reason: String,
    pub(crate) ingest_time_ms: Option<i64>,
}

/// Everything read since the last commit.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) events: Vec<EventRow>,
    pub(crate) rejected: Vec<RejectedRow>,
    /// Next offset to read per partition once this batch is committed.
    pub(crate) next_offsets: BTreeMap<i32, i64>,
    /// When the first record of the batch arrived.
    pub(crate) started: Option<Instant>,
    pub(crate) duplicates: usize,
}

impl Batch {
    pub(crate) fn records(&self) -> usize {
        self.events.len() + self.rejected.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.next_offsets.is_empty()
    }

    fn note(&mut self, partition: i32, offset: i64) {
        self.next_offsets.insert(partition, offset + 1);
        self.started.get_or_insert_with(Instant::now);
    }

    pub(crate) fn push_event(&mut self, row: EventRow) {
        self.note(row.partition, row.offset);
        self.duplicates += usize::from(row.duplicate);
        self.events.push(row);
    }

    pub(crate) fn push_rejected(&mut self, row: RejectedRow) {
        self.note(row.partition, row.offset);
        self.rejected.push(row);
    }

    /// The oldest and newest ingest times in the batch (ms since the epoch).
    pub(crate) fn ingest_span(&self) -> Option<(i64, i64)> {
        let times = self
            .events
            .iter()
            .map(|e| e.ingest_time_ms)
            .chain(self.rejected.iter().map(|r| r.ingest_time_ms))
            .flatten();
        times.fold(None, |span, t| match span {
            None => Some((t, t)),
            Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
        })
    }
}

/// Rows written by one commit, by table (for metrics).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    pub(crate) events: usize,
    pub(crate) rejected: usize,
    pub(crate) modelled: usize,
}

fn from_ms(ms: i64) -> Value {
    Value::Timestamp(TimeUnit::Millisecond, ms)
}

fn time(at: &chrono::DateTime<chrono::Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, at.timestamp_micros())
}

fn json<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}

/// Days since 1970-01-01 (DuckDB's DATE).
fn date(date: chrono::NaiveDate) -> Value {
    Value::Date32(date.num_days_from_ce() - 719_163)
}

fn int(value: impl Into<i64>) -> i64 {
    value.into()
}

/// The appenders of one transaction, one per table.
struct Appenders<'conn> {
    events: Appender<'conn>,
    rejected: Appender<'conn>,
    matches: Appender<'conn>,
    innings_started: Appender<'conn>,
    innings_ended: Appender<'conn>,
    deliveries: Appender<'conn>,
    wickets: Appender<'conn>,
    replacements: Appender<'conn>,
    results: Appender<'conn>,
}

impl<'conn> Appenders<'conn> {
    fn new(conn: &'conn Connection) -> Result<Appenders<'conn>> {
        Ok(Appenders {
            events: conn.appender("events")?,
            rejected: conn.appender("rejected")?,
            matches: conn.appender("matches")?,
            innings_started: conn.appender("innings_started")?,
            innings_ended: conn.appender("innings_ended")?,
            deliveries: conn.appender("deliveries")?,
            wickets: conn.appender("wickets")?,
            replacements: conn.appender("replacements")?,
            results: conn.appender("results")?,
        })
    }

    fn flush(&mut self) -> Result<()> {
        for appender in [
            &mut self.events,
            &mut self.rejected,
            &mut self.matches,
            &mut self.innings_started,
            &mut self.innings_ended,
            &mut self.deliveries,
            &mut self.wickets,
            &mut self.replacements,
            &mut self.results,
        ] {
            appender.flush()?;
        }
        Ok(())
    }

    /// The modelled rows of one distinct event; returns how many.
    fn model(&mut self, decoded: &Decoded) -> Result<usize> {
        let event = &decoded.event;
        let id = event.match_id.as_str();
        let seq = event.seq as i64;
        let at = time(&event.time);
        let mut rows = 1;
        match &event.payload {
            Payload::MatchStarted(m) => self.matches.append_row(params![
                id,
                seq,
                at,
                m.teams[0],
                m.teams[1],
                m.format.label(),
                int(m.balls_per_over),
                m.scheduled_overs.map(int),
                m.venue,
                m.city,
                m.competition,
                m.date.map(date),
                m.toss.as_ref().map(|t| t.winner.as_str()),
                m.toss.as_ref().map(|t| match t.decision {
                    TossDecision::Bat => "bat",
                    TossDecision::Field => "field",
                }),
                (!m.squads.is_empty()).then(|| json(&m.squads)).flatten(),
            ])?,
            Payload::InningsStarted(s) => self.innings_started.append_row(params![
                id,
                seq,
                at,
                int(s.innings),
                s.batting_team,
                s.bowling_team,
                s.super_over,
                s.target_runs.map(int),
                s.max_balls.map(int),
                int(s.penalty_runs),
            ])?,
            Payload::InningsEnded(e) => self.innings_ended.append_row(params![
                id,
                seq,
                at,
                int(e.innings),
                end_reason(e.reason),
                int(e.penalty_runs),
                (!e.absent_hurt.is_empty())
                    .then(|| json(&e.absent_hurt))
                    .flatten(),
            ])?,
            Payload::Delivery(d) => {
                self.deliveries.append_row(params![
                    id,
                    seq,
                    at,
                    int(d.innings),
                    int(d.over),
                    int(d.ball),
                    d.batter,
                    d.non_striker,
                    d.bowler,
                    int(d.runs.batter),
                    int(d.runs.extras),
                    int(d.runs.total),
                    d.runs.non_boundary,
                    int(d.extras.wides),
                    int(d.extras.noballs),
                    int(d.extras.byes),
                    int(d.extras.legbyes),
                    int(d.extras.penalty),
                    d.is_legal(),
                    d.wickets.len() as i64,
                    d.commentary,
                ])?;
                for (index, wicket) in d.wickets.iter().enumerate() {
                    rows += 1;
                    self.wickets.append_row(params![
                        id,
                        seq,
                        at,
                        int(d.innings),
                        int(d.over),
                        int(d.ball),
                        index as i64 + 1,
                        d.batter,
                        d.non_striker,
                        d.bowler,
                        wicket.player_out,
                        wicket.kind.label(),
                        (!wicket.fielders.is_empty())
                            .then(|| json(&wicket.fielders))
                            .flatten(),
                        wicket.kind.credited_to_bowler(),
                        wicket.kind.counts_as_team_wicket(),
                    ])?;
                }
                for replacement in &d.replacements {
                    rows += 1;
                    self.replacements.append_row(params![
                        id,
                        seq,
                        int(d.innings),
                        int(d.over),
                        int(d.ball),
                        replacement.player_in,
                        replacement.player_out,
                        replacement.team,
                        replacement.role,
                        replacement.reason,
                    ])?;
                }
            }
            Payload::MatchEnded(e) => {
                let (result, winner, margin, method, eliminator, bowl_out) = match &e.outcome {
                    Outcome::Win {
                        winner,
                        margin,
                        method,
                    } => (
                        "win",
                        Some(winner.as_str()),
                        *margin,
                        method.as_deref(),
                        None,
                        None,
                    ),
                    Outcome::Tie {
                        eliminator,
                        bowl_out,
                    } => (
                        "tie",
                        None,
                        Default::default(),
                        None,
                        eliminator.as_deref(),
                        bowl_out.as_deref(),
                    ),
                    Outcome::NoResult => ("no_result", None, Default::default(), None, None, None),
                    Outcome::Draw => ("draw", None, Default::default(), None, None, None),
                };
                self.results.append_row(params![
                    id,
                    seq,
                    at,
                    result,
                    winner,
                    margin.runs.map(int),
                    margin.wickets.map(int),
                    margin.innings.map(int),
                    method,
                    eliminator,
                    bowl_out,
                    (!e.player_of_match.is_empty())
                        .then(|| json(&e.player_of_match))
                        .flatten(),
                ])?;
            }
        }
        Ok(rows)
    }
}

fn end_reason(reason: InningsEndReason) -> &'static str {
    match reason {
        InningsEndReason::AllOut => "all_out",
        InningsEndReason::OversComplete => "overs_complete",
        InningsEndReason::TargetReached => "target_reached",
        InningsEndReason::Declared => "declared",
        InningsEndReason::Forfeited => "forfeited",
        InningsEndReason::Interrupted => "interrupted",
    }
}

/// Writes `batch` as batch `batch_id` in one transaction; nothing is written on error.
pub(crate) fn write(
    conn: &mut Connection,
    topic: &str,
    batch: &Batch,
    batch_id: i64,
    now_ms: i64,
) -> Result<Written> {
    let tx = conn.transaction().context("cannot begin a transaction")?;
    let mut written = Written::default();
    {
        let mut app = Appenders::new(&tx).context("cannot create the appenders")?;
        let loaded_at = from_ms(now_ms);
        for row in &batch.events {
            let event = &row.decoded.event;
            app.events.append_row(params![
                topic,
                row.partition,
                row.offset,
                event.match_id,
                event.match_id,
                event.seq as i64,
                event.payload.kind(),
                int(event.schema),
                time(&event.time),
                row.ingest_time_ms.map(from_ms),
                loaded_at,
                batch_id,
                row.duplicate,
                row.decoded.text,
            ])?;
            written.events += 1;
            if !row.duplicate {
                written.modelled += app.model(&row.decoded)?;
            }
        }
        for row in &batch.rejected {
            app.rejected.append_row(params![
                topic,
                row.partition,
                row.offset,
                row.key,
                row.payload,
                row.reason,
                row.ingest_time_ms.map(from_ms),
                loaded_at,
                batch_id,
            ])?;
            written.rejected += 1;
        }
        app.flush().context("cannot append the rows")?;
    }
    let span = batch.ingest_span();
    tx.execute(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            batch_id,
            from_ms(now_ms),
            batch.records() as i64,
            (batch.events.len() - batch.duplicates) as i64,
            batch.duplicates as i64,
            batch.rejected.len() as i64,
            span.map(|(oldest, _)| from_ms(oldest)),
            span.map(|(_, newest)| from_ms(newest)),
        ],
    )?;
    {
        let mut update = tx.prepare(
            "UPDATE kafka_offsets SET next_offset = ?, updated_at = ? \
             WHERE topic = ? AND kafka_partition = ?",
        )?;
        let mut insert = tx.prepare("INSERT INTO kafka_offsets VALUES (?, ?, ?, ?)")?;
        for (&partition, &next) in &batch.next_offsets {
            if update.execute(params![next, from_ms(now_ms), topic, partition])? == 0 {
                insert.execute(params![topic, partition, next, from_ms(now_ms)])?;
            }
        }
    }
    tx.commit().context("cannot commit the batch")?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Record, decode};

    fn event_row(offset: i64, json: &str) -> EventRow {
        let record = Record {
            key: Some(b"m1"),
            payload: Some(json.as_bytes()),
            ingest_time_ms: Some(1_700_000_000_123),
        };
        EventRow {
            partition: 3,
            offset,
            ingest_time_ms: record.ingest_time_ms,
            duplicate: false,
            decoded: decode(&record).unwrap_or_else(|err| panic!("{err}")),
        }
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap_or(-1)
    }

    #[test]
    fn a_batch_lands_whole_with_its_offsets() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(crate::schema::TABLES)?;
        conn.execute_batch(crate::schema::VIEWS)?;
        let mut batch = Batch::default();
        batch.push_event(event_row(
            7,
            r#"{"schema":1,"match_id":"m1","seq":1,"time":"2024-01-01T10:00:00Z","payload":{"match_started":{"teams":["A","B"],"format":"t20","balls_per_over":6,"date":"2024-01-01"}}}"#,
        ));
        batch.push_event(event_row(
            8,
            r#"{"schema":1,"match_id":"m1","seq":2,"time":"2024-01-01T10:01:00Z","payload":{"delivery":{"innings":1,"over":0,"ball":1,"batter":"x","non_striker":"y","bowler":"z","runs":{"batter":0,"extras":0,"total":0},"wickets":[{"player_out":"x","kind":"caught","fielders":[{"name":"f"}]}]}}}"#,
        ));
        batch.push_rejected(RejectedRow {
            partition: 3,
            offset: 9,
            key: None,
            payload: Some(b"\xff".to_vec()),
            reason: "not an event".to_owned(),
            ingest_time_ms: None,
        });
        let written = write(&mut conn, "t", &batch, 1, 1_700_000_001_000)?;
        assert_eq!(
            (written.events, written.rejected, written.modelled),
            (2, 1, 3)
        );
        for (table, rows) in [
            ("events", 2),
            ("rejected", 1),
            ("matches", 1),
            ("deliveries", 1),
            ("wickets", 1),
            ("batches", 1),
        ] {
            assert_eq!(count(&conn, table), rows, "{table}");
        }
        let (next, ingest, date): (i64, i64, String) = conn.query_row(
            "SELECT next_offset, (SELECT epoch_ms(ingest_time) FROM events WHERE seq = 1),
                    (SELECT match_date::VARCHAR FROM matches)
             FROM kafka_offsets WHERE topic = 't' AND kafka_partition = 3",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        assert_eq!(
            (next, ingest, date.as_str()),
            (10, 1_700_000_000_123, "2024-01-01")
        );
        Ok(())
    }

    #[test]
    fn appended_rows_roll_back_with_their_transaction() -> Result<()> {
        let mut conn = Connection::open_in_memory()?;
        conn.execute_batch(crate::schema::TABLES)?;
        {
            let tx = conn.transaction()?;
            let mut app = tx.appender("batches")?;
            app.append_row(params![1, from_ms(0), 1, 1, 0, 0, None::<i64>, None::<i64>])?;
            app.flush()?;
            drop(app);
            tx.rollback()?;
        }
        assert_eq!(count(&conn, "batches"), 0);
        Ok(())
    }
}
