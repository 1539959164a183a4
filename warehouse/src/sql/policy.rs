//! What user SQL may be, decided by DuckDB's own parser and never by reading the text.
//!
//! `json_serialize_sql` parses the text with DuckDB's grammar (the one statement extraction
//! and `prepare` use) and serialises SELECT trees only: anything else (DDL, DML, `SET`,
//! `PRAGMA`, `ATTACH`, `COPY`, transaction control, `EXPLAIN`, ...) comes back as "not
//! implemented". From the tree we require exactly one statement, read every function call
//! and every table reference, and check them against allowlists. The text that was checked
//! is returned unchanged to be prepared: one statement, so `prepare` executes nothing else.

use std::collections::HashSet;
use std::sync::LazyLock;

use duckdb::Connection;
use serde_json::Value;

use super::{Explain, MAX_SQL_BYTES, SqlError, allowed};

static FUNCTIONS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| allowed::FUNCTIONS.iter().copied().collect());

/// `SHOW TABLES` and `SHOW ALL TABLES` as the parser names them; other unqualified `SHOW`s
/// (databases, settings) say more about the server than a query writer needs.
const ALLOWED_SHOWS: &[&str] = &["\"tables\"", "__show_tables_expanded"];

/// The tables and views a query may read: the warehouse's own (schema `main`), plus
/// `information_schema`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    tables: HashSet<String>,
}

impl Policy {
    /// Reads the table and view names of the database `conn` belongs to.
    pub(crate) fn load(conn: &Connection) -> Result<Policy, SqlError> {
        let failed = |err: duckdb::Error| SqlError::Internal(format!("cannot list tables: {err}"));
        let mut stmt = conn
            .prepare(
                "SELECT lower(table_name) FROM duckdb_tables()
                 WHERE schema_name = 'main' AND database_name = current_database()
                 UNION ALL
                 SELECT lower(view_name) FROM duckdb_views()
                 WHERE schema_name = 'main' AND database_name = current_database()
                   AND NOT internal",
            )
            .map_err(failed)?;
        let tables = stmt
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(failed)?
            .collect::<Result<_, _>>()
            .map_err(failed)?;
        Ok(Policy { tables })
    }

    /// Checks `sql` and returns the text to prepare: `sql` itself, or with `EXPLAIN` in
    /// front when a plan is asked for (the prefix cannot change what the one checked
    /// statement is, only whether it is described or run).
    pub(crate) fn check(
        &self,
        conn: &Connection,
        sql: &str,
        explain: Explain,
    ) -> Result<String, SqlError> {
        if sql.len() > MAX_SQL_BYTES {
            return Err(SqlError::TooLong {
                limit: MAX_SQL_BYTES,
            });
        }
        if sql.contains('\0') {
            // DuckDB's C interface would end the text at the NUL; refuse rather than guess.
            return Err(SqlError::Syntax(
                "the SQL contains a NUL character".to_owned(),
            ));
        }
        let tree = parse(conn, sql)?;
        let statements = tree["statements"].as_array().map_or(0, Vec::len);
        match statements {
            0 => return Err(SqlError::Empty),
            1 => {}
            n => return Err(SqlError::MultipleStatements(n)),
        }
        let mut found = Found::default();
        found.walk(&tree);
        for (name, schema, catalog) in &found.functions {
            let lower = name.to_ascii_lowercase();
            if !catalog.is_empty() || !(schema.is_empty() || schema.eq_ignore_ascii_case("main")) {
                return Err(SqlError::FunctionNotAllowed(format!(
                    "the function {catalog}.{schema}.{name}() is not allowed here: call \
                     functions by their plain name"
                )));
            }
            if !FUNCTIONS.contains(lower.as_str()) {
                return Err(SqlError::FunctionNotAllowed(format!(
                    "the function {name}() is not allowed here (user SQL may call \
                     computations only: no file, network, settings, dynamic SQL or \
                     maintenance functions)"
                )));
            }
        }
        let ctes: HashSet<String> = found
            .ctes
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect();
        for table in &found.tables {
            self.check_table(table, &ctes)?;
        }
        for show in &found.shows {
            if !ALLOWED_SHOWS.contains(&show.as_str()) {
                return Err(SqlError::TableNotAllowed(format!(
                    "SHOW {show} is not allowed here (SHOW TABLES and DESCRIBE are)"
                )));
            }
        }
        Ok(match explain {
            Explain::No => sql.to_owned(),
            Explain::Plan => format!("EXPLAIN {sql}"),
            Explain::Analyze => format!("EXPLAIN ANALYZE {sql}"),
        })
    }

    fn check_table(&self, table: &TableRef, ctes: &HashSet<String>) -> Result<(), SqlError> {
        let name = table.name.to_ascii_lowercase();
        let schema = table.schema.to_ascii_lowercase();
        let allowed = table.catalog.is_empty()
            && match schema.as_str() {
                "" => self.tables.contains(&name) || ctes.contains(&name),
                "main" => self.tables.contains(&name),
                "information_schema" => true,
                _ => false,
            };
        if allowed {
            Ok(())
        } else {
            let full = [&table.catalog, &table.schema, &table.name]
                .iter()
                .filter(|part| !part.is_empty())
                .map(|part| part.as_str())
                .collect::<Vec<_>>()
                .join(".");
            Err(SqlError::TableNotAllowed(format!(
                "no table or view named {full:?} here: queries read the warehouse's tables and \
                 views (GET /v1/tables lists them), not files or other databases"
            )))
        }
    }
}

/// DuckDB's parse of `sql`, as JSON.
fn parse(conn: &Connection, sql: &str) -> Result<Value, SqlError> {
    let serialized: String = conn
        .query_row("SELECT json_serialize_sql(?::VARCHAR)", [sql], |row| {
            row.get(0)
        })
        .map_err(|err| match SqlError::from_duckdb(&err) {
            // Parsing needs little memory: if even that fails, queries running at once have
            // taken the replica's ceiling. Not this query's fault; it can be retried.
            SqlError::TooBig(_) => SqlError::Unavailable(
                "the queries running at once have used up the memory user queries may have; \
                 retry shortly"
                    .to_owned(),
            ),
            _ => SqlError::Internal(format!("cannot parse: {err}")),
        })?;
    let tree: Value = serde_json::from_str(&serialized)
        .map_err(|err| SqlError::Internal(format!("bad parser output: {err}")))?;
    if tree["error"].as_bool() == Some(true) {
        let message = tree["error_message"].as_str().unwrap_or("").to_owned();
        return Err(if tree["error_type"].as_str() == Some("not implemented") {
            SqlError::NotAQuery("this is not a SELECT-type statement".to_owned())
        } else {
            SqlError::Syntax(message)
        });
    }
    Ok(tree)
}

#[derive(Debug, Default)]
struct TableRef {
    catalog: String,
    schema: String,
    name: String,
}

/// Everything in a parse tree that reaches beyond plain computation.
#[derive(Debug, Default)]
struct Found {
    /// `(name, schema, catalog)` of every function call, operators included.
    functions: Vec<(String, String, String)>,
    tables: Vec<TableRef>,
    /// Names of common table expressions, which table references may use.
    ctes: Vec<String>,
    /// Table names of unqualified `SHOW` references.
    shows: Vec<String>,
}

impl Found {
    fn walk(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or("");
                if let Some(name) = map.get("function_name").and_then(Value::as_str) {
                    self.functions.push((
                        name.to_owned(),
                        text("schema").to_owned(),
                        text("catalog").to_owned(),
                    ));
                }
                match text("type") {
                    "BASE_TABLE" => self.tables.push(TableRef {
                        catalog: text("catalog_name").to_owned(),
                        schema: text("schema_name").to_owned(),
                        name: text("table_name").to_owned(),
                    }),
                    "SHOW_REF" if !text("table_name").is_empty() => {
                        self.shows.push(text("table_name").to_owned());
                    }
                    _ => {}
                }
                if let Some(entries) = map
                    .get("cte_map")
                    .and_then(|cte| cte.get("map"))
                    .and_then(Value::as_array)
                {
                    for entry in entries {
                        if let Some(name) = entry.get("key").and_then(Value::as_str) {
                            self.ctes.push(name.to_owned());
                        }
                    }
                }
                for child in map.values() {
                    self.walk(child);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Result<(Connection, Policy), duckdb::Error> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(crate::schema::TABLES)?;
        conn.execute_batch(crate::schema::VIEWS)?;
        let policy = Policy::load(&conn).map_err(|err| {
            duckdb::Error::InvalidParameterName(format!("cannot load the policy: {err}"))
        })?;
        Ok((conn, policy))
    }

    #[test]
    fn every_allowlisted_function_exists_in_this_duckdb() -> Result<(), duckdb::Error> {
        let conn = Connection::open_in_memory()?;
        let mut stmt =
            conn.prepare("SELECT DISTINCT lower(function_name) FROM duckdb_functions()")?;
        let known: HashSet<String> = stmt
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        let missing: Vec<_> = allowed::FUNCTIONS
            .iter()
            .filter(|name| !known.contains(**name))
            .collect();
        assert!(
            missing.is_empty(),
            "not functions of this DuckDB: {missing:?}"
        );
        Ok(())
    }

    #[test]
    fn honest_queries_pass_unchanged() -> Result<(), duckdb::Error> {
        let (conn, policy) = setup()?;
        for sql in [
            "SELECT 1",
            "select 1;",
            "  -- a comment\n /* another */ (WITH a AS (SELECT 1 AS x) SELECT * FROM a)",
            "SELECT batter, sum(runs_batter) FROM deliveries GROUP BY ALL ORDER BY 2 DESC LIMIT 10",
            "FROM most_runs LIMIT 5",
            "DESCRIBE deliveries",
            "SUMMARIZE deliveries",
            "SHOW TABLES",
            "TABLE matches",
            "VALUES (1, 'a')",
            "SELECT * FROM information_schema.columns WHERE table_name = 'deliveries'",
            "SELECT count(*) FILTER (WHERE kind = 'delivery'), max(seq) FROM main.events",
            "SELECT row_number() OVER (PARTITION BY match_id ORDER BY seq) FROM events",
            "SELECT x, x || 'a', upper(s) FROM range(3) t(x), (SELECT 'b' AS s)",
            "SELECT date_trunc('day', event_time), payload->>'$.delivery.batter' FROM events",
            "SELECT * FROM duckdb_tables()",
        ] {
            assert_eq!(
                policy.check(&conn, sql, Explain::No).as_deref(),
                Ok(sql),
                "{sql}"
            );
        }
        assert_eq!(
            policy.check(&conn, "SELECT 1", Explain::Analyze).as_deref(),
            Ok("EXPLAIN ANALYZE SELECT 1")
        );
        Ok(())
    }

    #[test]
    fn the_parser_decides_what_a_statement_is() -> Result<(), duckdb::Error> {
        let (conn, policy) = setup()?;
        let refused = |sql: &str| policy.check(&conn, sql, Explain::No).err();
        // The reported escape: `\r` ends a `--` comment for DuckDB.
        assert!(matches!(
            refused(
                "EXPLAIN --\rSELECT 1; COMMIT; CREATE TABLE probe AS SELECT 42 AS x;\nSELECT 1"
            ),
            Some(SqlError::NotAQuery(_))
        ));
        assert_eq!(
            refused("SELECT 1 --\r; DROP TABLE events"),
            Some(SqlError::NotAQuery(
                "this is not a SELECT-type statement".to_owned()
            ))
        );
        assert_eq!(
            refused("SELECT 1; SELECT 2"),
            Some(SqlError::MultipleStatements(2))
        );
        assert_eq!(refused(" ; -- nothing"), Some(SqlError::Empty));
        assert_eq!(refused(""), Some(SqlError::Empty));
        for sql in [
            "DROP TABLE events",
            "COMMIT",
            "BEGIN",
            "SET search_path = 'temp'",
            "RESET memory_limit",
            "PRAGMA show_tables",
            "CREATE TEMP VIEW deliveries AS SELECT 1",
            "ATTACH ':memory:' AS m",
            "COPY events TO '/tmp/x.csv'",
            "EXPLAIN SELECT 1",
            "CALL pragma_version()",
            "CHECKPOINT",
            "INSTALL httpfs",
            "LOAD httpfs",
            "PIVOT events ON kind",
        ] {
            assert!(
                matches!(refused(sql), Some(SqlError::NotAQuery(_))),
                "{sql}: {:?}",
                refused(sql)
            );
        }
        assert!(matches!(refused("selec 1"), Some(SqlError::Syntax(_))));
        assert!(matches!(refused("SELECT '\0'"), Some(SqlError::Syntax(_))));
        assert!(matches!(
            refused(&format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES))),
            Some(SqlError::TooLong { .. })
        ));
        Ok(())
    }

    #[test]
    fn functions_and_tables_come_from_allowlists() -> Result<(), duckdb::Error> {
        let (conn, policy) = setup()?;
        let refused = |sql: &str| policy.check(&conn, sql, Explain::No).err();
        for sql in [
            "SELECT * FROM query('SELECT 1')",
            "SELECT * FROM query_table('events')",
            "SELECT * FROM read_csv('/etc/passwd')",
            "SELECT * FROM \"READ_TEXT\"('/etc/hostname')",
            "SELECT getenv('HOME')",
            "SELECT current_setting('temp_directory')",
            "SELECT * FROM duckdb_settings()",
            "SELECT * FROM duckdb_databases()",
            "SELECT * FROM glob('/*')",
            "SELECT system.main.upper('x')",
            "SELECT json_execute_serialized_sql('{}')",
            "SELECT * FROM (SELECT 1) WHERE EXISTS (SELECT * FROM read_parquet('x'))",
        ] {
            assert!(
                matches!(refused(sql), Some(SqlError::FunctionNotAllowed(_))),
                "{sql}: {:?}",
                refused(sql)
            );
        }
        for sql in [
            "SELECT * FROM '/etc/passwd'",
            "SELECT * FROM 'data.parquet'",
            "SELECT * FROM temp.main.deliveries",
            "SELECT * FROM system.main.deliveries",
            "SELECT * FROM pg_catalog.pg_tables",
            "SELECT * FROM no_such_table",
            "DESCRIBE '/etc/passwd'",
            "SHOW databases",
        ] {
            assert!(
                matches!(refused(sql), Some(SqlError::TableNotAllowed(_))),
                "{sql}: {:?}",
                refused(sql)
            );
        }
        Ok(())
    }
}
