//! `warehouse query` and `warehouse export`: the database file from the command line.
//!
//! Both open the file read-only in their own DuckDB instance, which DuckDB only allows while
//! no other process (such as `warehouse serve`) holds it; they say so clearly when one does.
//! This instance keeps file access on: `export` writes Parquet with DuckDB's `COPY`, which
//! the server's locked-down instance refuses by design.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::{RecordBatch, StructArray};

use crate::config::QueryFormat;
use crate::sql::encode::with_utc_offsets;
use crate::{db, schema};

/// Runs `sql` and prints the result to `out`.
pub fn query(db_path: &Path, sql: &str, format: QueryFormat, out: &mut impl Write) -> Result<()> {
    let conn = db::open_read_only(db_path)?;
    let mut stmt = conn.prepare(sql).context("cannot prepare the query")?;
    let schema = stmt
        .stream_arrow([])
        .context("the query failed")?
        .get_schema();
    let mut batches = Vec::new();
    while let Some(chunk) = stmt.step().context("the query failed")? {
        let chunk: StructArray = chunk;
        batches.push(with_utc_offsets(&RecordBatch::from(&chunk))?);
    }
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    match format {
        QueryFormat::Table => {
            let table = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(out, "{table}")?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
        }
        QueryFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for batch in &batches {
                writer.write(batch)?;
            }
        }
    }
    Ok(())
}

/// Writes every table as Parquet under `dir`; returns (table, rows) for each.
pub fn export(db_path: &Path, dir: &Path) -> Result<Vec<(String, i64)>> {
    let conn = db::open_read_only(db_path)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let base = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?
        .display()
        .to_string()
        .replace('\'', "''");
    let mut written = Vec::new();
    for (table, partition) in schema::EXPORTED {
        let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })?;
        let copy = match partition {
            Some(expr) => format!(
                "COPY (SELECT *, {expr} AS event_date FROM {table}) TO '{base}/{table}' \
                 (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date), OVERWRITE_OR_IGNORE)"
            ),
            None => format!(
                "COPY {table} TO '{base}/{table}.parquet' (FORMAT parquet, COMPRESSION zstd)"
            ),
        };
        conn.execute_batch(&copy)
            .with_context(|| format!("cannot export {table}"))?;
        written.push(((*table).to_owned(), rows));
    }
    Ok(written)
}
