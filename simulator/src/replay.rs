//! Real matches from Cricsheet ball-by-ball files.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use cricket::{Event, Scoreboard, cricsheet};

/// A replayed match's id is its file stem ("1370353.json" -> "1370353"), optionally prefixed.
pub fn match_id_for(path: &Path, prefix: &str) -> Result<String> {
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .with_context(|| {
            format!(
                "{}: cannot derive a match id from this file name",
                path.display()
            )
        })?;
    Ok(format!("{prefix}{stem}"))
}

/// Reads and imports one Cricsheet file.
pub fn load(path: &Path, prefix: &str) -> Result<Vec<Event>> {
    let match_id = match_id_for(path, prefix)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(cricsheet::import(
        &match_id,
        &path.display().to_string(),
        &bytes,
    )?)
}

/// Writes the canonical scorecard of each file as one JSON line.
pub fn print_scorecards(paths: &[impl AsRef<Path>], out: &mut impl Write) -> Result<()> {
    for path in paths {
        let path = path.as_ref();
        let events = load(path, "")?;
        let match_id = match_id_for(path, "")?;
        let board = Scoreboard::from_events(&match_id, &events)
            .with_context(|| format!("{}: events do not score", path.display()))?;
        serde_json::to_writer(&mut *out, &board.scorecard())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes a match's events as NDJSON: exactly the lines the simulator sends to ingest.
pub fn print_events(path: &Path, prefix: &str, out: &mut impl Write) -> Result<()> {
    for event in load(path, prefix)? {
        serde_json::to_writer(&mut *out, &event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads NDJSON event files, grouped by match in file order (as `events` prints them).
pub fn load_ndjson(paths: &[impl AsRef<Path>]) -> Result<Vec<Vec<Event>>> {
    let mut matches: Vec<Vec<Event>> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let event: Event = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not an event", path.display(), number + 1))?;
            let slot = *index.entry(event.match_id.clone()).or_insert_with(|| {
                matches.push(Vec::new());
                matches.len() - 1
            });
            matches[slot].push(event);
        }
    }
    Ok(matches)
}
