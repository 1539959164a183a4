//! Opening the database file and reading back what the loader needs to resume.
//!
//! DuckDB allows one process at a time to open a file. The server holds the warehouse's file
//! (the loader and the scorecards, trusted SQL only); the user-SQL replica process holds its
//! own copy, where [`lock_down`] turns off file and network access, spilling, and any further
//! configuration change for the whole instance. `warehouse query` and `warehouse export`
//! open the file on their own instead, read-only, while the server is stopped.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use duckdb::{AccessMode, Config, Connection};

use crate::model::SeqState;
use crate::schema;

/// Opens (creating if needed) the database at `path` read-write, with the schema in place.
pub fn open(path: &Path, memory_limit: &str) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    let config = Config::default()
        .max_memory(memory_limit)
        .context("bad memory limit")?
        // Nothing is ever installed or downloaded at run time.
        .enable_autoload_extension(false)?;
    let conn = Connection::open_with_flags(path, config).map_err(|err| locked_hint(path, err))?;
    conn.execute_batch("SET GLOBAL TimeZone = 'UTC';")
        .context("cannot set the time zone")?;
    conn.execute_batch(schema::TABLES)
        .context("cannot create the tables")?;
    conn.execute_batch(schema::VIEWS)
        .context("cannot create the views")?;
    Ok(conn)
}

/// Opens the file read-only for the CLI (file access stays on: `export` writes Parquet).
pub fn open_read_only(path: &Path) -> Result<Connection> {
    anyhow::ensure!(
        path.exists(),
        "no database at {} (set --db or WAREHOUSE_DB)",
        path.display()
    );
    let config = Config::default()
        .access_mode(AccessMode::ReadOnly)?
        .enable_autoload_extension(false)?;
    let conn = Connection::open_with_flags(path, config).map_err(|err| locked_hint(path, err))?;
    // Dates of TIMESTAMPTZ values (export partitions) are UTC dates, whatever the machine's zone.
    conn.execute_batch("SET TimeZone = 'UTC';")
        .context("cannot set the time zone")?;
    Ok(conn)
}

fn locked_hint(path: &Path, err: duckdb::Error) -> anyhow::Error {
    let text = err.to_string();
    if text.contains("lock") {
        anyhow::anyhow!(
            "cannot open {}: another process holds it ({text}). DuckDB lets one process open a \
             file at a time: while `warehouse serve` runs, query it with POST /v1/sql instead",
            path.display()
        )
    } else {
        anyhow::Error::new(err).context(format!("cannot open {}", path.display()))
    }
}

/// Makes the whole instance fit for untrusted queries (the user-SQL replica): `threads`
/// worker threads, no spilling to temp files (a query that needs more than the memory limit
/// fails instead of filling the disk), no file or network access (no `read_csv`, `COPY`,
/// `ATTACH` of files, `INSTALL`, `LOAD`...), and no setting can be changed any more (`SET`,
/// `RESET`, `PRAGMA` that set options). Irreversible for this instance.
pub fn lock_down(conn: &Connection, threads: usize) -> Result<()> {
    conn.execute_batch(&format!(
        "SET threads = {threads};
         SET temp_directory = '';
         SET enable_external_access = false;
         SET allow_community_extensions = false;
         SET autoinstall_known_extensions = false;
         SET autoload_known_extensions = false;
         SET lock_configuration = true;",
        threads = threads.max(1)
    ))
    .context("cannot lock the database down")
}

/// The next offset to load per partition of `topic`, as committed.
pub(crate) fn stored_offsets(conn: &Connection, topic: &str) -> Result<HashMap<i32, i64>> {
    let mut stmt =
        conn.prepare("SELECT kafka_partition, next_offset FROM kafka_offsets WHERE topic = ?")?;
    let rows = stmt.query_map([topic], |row| Ok((row.get::<_, i32>(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The id the next batch gets.
pub(crate) fn next_batch_id(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT coalesce(max(batch_id), 0) + 1 FROM batches",
        [],
        |row| row.get(0),
    )?)
}

/// Which `(match_id, seq)` pairs the modelled tables hold, per match: the highest `seq` and
/// the gaps below it. Most matches have none, so gaps are only looked for where the count
/// says there are some. The arithmetic is done in HUGEINT: whatever a row already stored
/// holds (an older version accepted any `seq` up to `i64::MAX`), start-up cannot overflow.
pub(crate) fn seq_states(conn: &Connection) -> Result<HashMap<String, SeqState>> {
    let mut states = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT match_id, max(seq), count(*)::HUGEINT < max(seq)::HUGEINT - min(seq) + 1,
                min(seq)
         FROM events WHERE NOT duplicate GROUP BY match_id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, bool>(2)?,
            row.get::<_, i64>(3)?,
        ))
    })?;
    let mut any_gaps = false;
    for row in rows {
        let (match_id, max, gappy, min) = row?;
        let mut state = SeqState {
            max: u64::try_from(max).unwrap_or_default(),
            ..SeqState::default()
        };
        if min > 1 {
            state
                .missing
                .insert(1, u64::try_from(min - 1).unwrap_or_default());
        }
        any_gaps |= gappy;
        states.insert(match_id, state);
    }
    if any_gaps {
        let mut stmt = conn.prepare(
            "WITH gappy AS (
                 SELECT match_id FROM events WHERE NOT duplicate GROUP BY match_id
                 HAVING count(*)::HUGEINT < max(seq)::HUGEINT - min(seq) + 1
             ), ordered AS (
                 SELECT match_id, seq::HUGEINT AS seq,
                        lead(seq::HUGEINT) OVER (PARTITION BY match_id ORDER BY seq) AS next
                 FROM events WHERE NOT duplicate AND match_id IN (SELECT match_id FROM gappy)
             )
             SELECT match_id, seq + 1, next - 1 FROM ordered WHERE next > seq + 1",
        )?;
        let gaps = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i128>(1)?,
                row.get::<_, i128>(2)?,
            ))
        })?;
        for gap in gaps {
            let (match_id, start, end) = gap?;
            if let (Some(state), Ok(start), Ok(end)) = (
                states.get_mut(&match_id),
                u64::try_from(start),
                u64::try_from(end),
            ) {
                state.missing.insert(start, end);
            }
        }
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_created_twice_without_harm_and_locks_down() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("warehouse-db-{}", std::process::id()));
        let path = dir.join("schema.duckdb");
        let _ = std::fs::remove_dir_all(&dir);
        drop(open(&path, "1GB")?);
        let conn = open(&path, "1GB")?;
        lock_down(&conn, 1)?;
        let refused = conn
            .execute_batch("SET enable_external_access = true")
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();
        assert!(refused.contains("locked"), "{refused}");
        let clone = conn.try_clone()?;
        let refused = clone
            .query_row(
                "SELECT count(*) FROM read_text('/etc/hostname')",
                [],
                |row| row.get::<_, i64>(0),
            )
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();
        assert!(refused.contains("disabled"), "{refused}");
        drop((conn, clone));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn rows_at_the_edge_of_bigint_do_not_stop_a_start() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(schema::TABLES)?;
        conn.execute_batch(
            "INSERT INTO events (kafka_topic, kafka_partition, kafka_offset, match_id, seq, kind,
                 schema_version, event_time, loaded_at, batch_id, duplicate, payload)
             SELECT 't', 0, s, m, s, 'delivery', 1, now(), now(), 1, false, '{}'
             FROM (VALUES ('big', 9223372036854775807), ('big', 9223372036854775805),
                          ('neg', -9223372036854775808), ('neg', 9223372036854775807))
                  AS v(m, s)",
        )?;
        let states = seq_states(&conn)?;
        assert_eq!(states["big"].max, i64::MAX as u64);
        assert_eq!(
            states["big"]
                .missing
                .iter()
                .map(|(s, e)| (*s, *e))
                .collect::<Vec<_>>(),
            vec![
                (1, i64::MAX as u64 - 3),
                (i64::MAX as u64 - 1, i64::MAX as u64 - 1)
            ]
        );
        assert_eq!(states["neg"].max, i64::MAX as u64);
        Ok(())
    }

    #[test]
    fn seq_states_find_gaps() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(schema::TABLES)?;
        conn.execute_batch(
            "INSERT INTO events (kafka_topic, kafka_partition, kafka_offset, match_id, seq, kind,
                 schema_version, event_time, loaded_at, batch_id, duplicate, payload)
             SELECT 't', 0, s, m, s, 'delivery', 1, now(), now(), 1, d, '{}'
             FROM (VALUES ('a', 1, false), ('a', 2, false), ('a', 5, false), ('a', 6, false),
                          ('a', 9, false), ('a', 9, true), ('b', 3, false), ('b', 4, false))
                  AS v(m, s, d)",
        )?;
        let states = seq_states(&conn)?;
        assert_eq!(states["a"].max, 9);
        assert_eq!(
            states["a"]
                .missing
                .iter()
                .map(|(s, e)| (*s, *e))
                .collect::<Vec<_>>(),
            vec![(3, 4), (7, 8)]
        );
        assert_eq!(states["b"].max, 4);
        assert_eq!(
            states["b"]
                .missing
                .iter()
                .map(|(s, e)| (*s, *e))
                .collect::<Vec<_>>(),
            vec![(1, 2)]
        );
        Ok(())
    }
}
