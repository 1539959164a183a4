//! Turns a request body into validated events, or the first problem with it.
//!
//! Syntax errors (not JSON, truncated) are `400 malformed_json` with the line; JSON that is
//! not a valid event (wrong type, missing field, a value out of its bounds, broken
//! arithmetic) is `422 invalid_event` with the line, the event's index and the field's path.
//! A request with no event at all is `400 empty`. A request is all or nothing: nothing is
//! produced unless every event in it is valid.

use chrono::{DateTime, Utc};
use cricket::Event;
use serde_json::error::Category;

use crate::error::ApiError;
use crate::strict::Strict;

/// The two accepted body encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// One event per line (`application/x-ndjson`).
    Ndjson,
    /// One event object or an array of them (`application/json`).
    Json,
}

impl BodyKind {
    /// Reads the `Content-Type` header (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Result<BodyKind, ApiError> {
        let raw = content_type.unwrap_or("");
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                Ok(BodyKind::Ndjson)
            }
            "application/json" => Ok(BodyKind::Json),
            _ => Err(ApiError::UnsupportedMediaType(raw.to_owned())),
        }
    }

    /// The value written to the records' `content-type` header.
    pub fn label(self) -> &'static str {
        match self {
            BodyKind::Ndjson => "application/x-ndjson",
            BodyKind::Json => "application/json",
        }
    }
}

/// Decodes and validates every event of `body`, refusing more than `max_events`, with the
/// clock read now (an event may be at most a day ahead of it).
pub fn decode(kind: BodyKind, body: &[u8], max_events: usize) -> Result<Vec<Event>, ApiError> {
    decode_at(kind, body, max_events, Utc::now())
}

/// [`decode`] against the clock reading `now`.
pub fn decode_at(
    kind: BodyKind,
    body: &[u8],
    max_events: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, ApiError> {
    let events = match kind {
        BodyKind::Ndjson => decode_ndjson(body, max_events, now)?,
        BodyKind::Json => decode_json(body, max_events, now)?,
    };
    if events.is_empty() {
        return Err(ApiError::Empty);
    }
    Ok(events)
}

fn decode_ndjson(
    body: &[u8],
    max_events: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, ApiError> {
    let mut events = Vec::new();
    for (line_index, line) in body.split(|byte| *byte == b'\n').enumerate() {
        let line_number = line_index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if events.len() == max_events {
            return Err(ApiError::TooManyEvents { limit: max_events });
        }
        let index = events.len();
        let event = parse_one(line).map_err(|(category, message, field)| {
            classify(category, message, field, Some(line_number), index)
        })?;
        check(&event, now, Some(line_number), index)?;
        events.push(event);
    }
    Ok(events)
}

fn decode_json(body: &[u8], max_events: usize, now: DateTime<Utc>) -> Result<Vec<Event>, ApiError> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'[') {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let decoded: Result<Vec<Event>, _> =
            serde_path_to_error::deserialize(Strict(&mut deserializer));
        let events = decoded.map_err(|err| {
            let path = err.path().to_string();
            let index = array_index(&path);
            let inner = err.into_inner();
            let line = inner.line();
            let field = field_of(&path, &inner);
            classify(
                inner.classify(),
                located(&path, &inner),
                field,
                Some(line),
                index,
            )
        })?;
        deserializer.end().map_err(|err| ApiError::Malformed {
            message: err.to_string(),
            line: err.line(),
        })?;
        if events.len() > max_events {
            return Err(ApiError::TooManyEvents { limit: max_events });
        }
        for (index, event) in events.iter().enumerate() {
            check(event, now, None, index)?;
        }
        return Ok(events);
    }
    let event = parse_one(body)
        .map_err(|(category, message, field)| classify(category, message, field, None, 0))?;
    check(&event, now, None, 0)?;
    Ok(vec![event])
}

/// Why one event did not parse: the error's category, its message and the field at fault.
type ParseFailure = (Category, String, Option<String>);

/// Parses one event, reporting the JSON path of a type error.
fn parse_one(bytes: &[u8]) -> Result<Event, ParseFailure> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let event: Event =
        serde_path_to_error::deserialize(Strict(&mut deserializer)).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let field = field_of(&path, &inner);
            (inner.classify(), located(&path, &inner), field)
        })?;
    deserializer
        .end()
        .map_err(|err| (err.classify(), err.to_string(), None))?;
    Ok(event)
}

/// The field a type error is about, without the array index of a JSON body: "[3].seq" -> "seq".
fn field_of(path: &str, err: &serde_json::Error) -> Option<String> {
    if err.classify() != Category::Data {
        return None;
    }
    let field = match path.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(_, tail)| tail),
        None => path,
    };
    let field = field.trim_start_matches('.');
    (!field.is_empty() && field != ".").then(|| field.to_owned())
}

fn located(path: &str, err: &serde_json::Error) -> String {
    if path == "." || err.classify() != Category::Data {
        err.to_string()
    } else {
        format!("{path}: {err}")
    }
}

/// "[3].payload.delivery" -> 3.
fn array_index(path: &str) -> usize {
    path.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

fn classify(
    category: Category,
    message: String,
    field: Option<String>,
    line: Option<usize>,
    index: usize,
) -> ApiError {
    match category {
        Category::Data => ApiError::InvalidEvent {
            message,
            field,
            line,
            index,
        },
        // serde_json counts lines within the bytes it parsed: for NDJSON that is one line.
        Category::Syntax | Category::Eof | Category::Io => ApiError::Malformed {
            message,
            line: line.unwrap_or(1),
        },
    }
}

fn check(
    event: &Event,
    now: DateTime<Utc>,
    line: Option<usize>,
    index: usize,
) -> Result<(), ApiError> {
    event
        .validate_at(now)
        .map_err(|err| ApiError::InvalidEvent {
            message: err.to_string(),
            field: Some(err.field),
            line,
            index,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"schema":1,"match_id":"m1","seq":1,"time":"2024-01-01T00:00:00Z","payload":{"innings_ended":{"innings":1,"reason":"all_out"}}}"#;

    #[test]
    fn content_types() {
        assert_eq!(
            BodyKind::from_content_type(Some("application/x-ndjson")),
            Ok(BodyKind::Ndjson)
        );
        assert_eq!(
            BodyKind::from_content_type(Some("application/json; charset=utf-8")),
            Ok(BodyKind::Json)
        );
        assert!(BodyKind::from_content_type(Some("text/plain")).is_err());
        assert!(BodyKind::from_content_type(None).is_err());
    }

    #[test]
    fn ndjson_lines_count_from_one_and_skip_blanks() {
        let body = format!("{GOOD}\n\n{GOOD}\n");
        assert_eq!(
            decode(BodyKind::Ndjson, body.as_bytes(), 10).map(|e| e.len()),
            Ok(2)
        );
        let body = format!("{GOOD}\n\n{{\"schema\": 1,\n");
        match decode(BodyKind::Ndjson, body.as_bytes(), 10) {
            Err(ApiError::Malformed { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected malformed on line 3, got {other:?}"),
        }
    }

    #[test]
    fn type_errors_are_invalid_events_with_their_path() {
        let bad = GOOD.replace(r#""seq":1"#, r#""seq":"one""#);
        let body = format!("{GOOD}\n{bad}\n");
        match decode(BodyKind::Ndjson, body.as_bytes(), 10) {
            Err(ApiError::InvalidEvent {
                line,
                index,
                message,
                field,
            }) => {
                assert_eq!((line, index), (Some(2), 1));
                assert!(message.starts_with("seq:"), "{message}");
                assert_eq!(field.as_deref(), Some("seq"));
            }
            other => panic!("expected invalid event, got {other:?}"),
        }
        // In a JSON array the index is reported apart, not as part of the field.
        let body = format!("[{GOOD},{bad}]");
        match decode(BodyKind::Json, body.as_bytes(), 10) {
            Err(ApiError::InvalidEvent { field, index, .. }) => {
                assert_eq!((field.as_deref(), index), (Some("seq"), 1));
            }
            other => panic!("expected invalid event, got {other:?}"),
        }
    }

    #[test]
    fn out_of_bounds_values_name_their_field() {
        let now = DateTime::parse_from_rfc3339("2024-01-01T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let cases = [
            (r#""seq":1"#, r#""seq":9223372036854775806"#, "seq"),
            (r#""schema":1"#, r#""schema":0"#, "schema"),
            (r#""match_id":"m1""#, r#""match_id":"""#, "match_id"),
            (
                r#""time":"2024-01-01T00:00:00Z""#,
                r#""time":"2024-01-02T12:00:01Z""#,
                "time",
            ),
            (
                r#""innings":1"#,
                r#""innings":21"#,
                "payload.innings_ended.innings",
            ),
        ];
        for (from, to, want) in cases {
            let bad = GOOD.replace(from, to);
            assert_ne!(bad, GOOD, "{to}");
            match decode_at(BodyKind::Ndjson, bad.as_bytes(), 10, now) {
                Err(ApiError::InvalidEvent { field, .. }) => {
                    assert_eq!(field.as_deref(), Some(want), "{to}");
                }
                other => panic!("{to}: expected invalid event, got {other:?}"),
            }
        }
        // A day ahead of the clock is still fine (skew, synthetic matches sent early).
        let ahead = GOOD.replace("2024-01-01T00:00:00Z", "2024-01-02T12:00:00Z");
        assert!(decode_at(BodyKind::Ndjson, ahead.as_bytes(), 10, now).is_ok());
    }

    #[test]
    fn json_arrays_report_the_failing_index() {
        let bad = GOOD.replace(r#""seq":1"#, r#""seq":0"#);
        let body = format!("[{GOOD},{GOOD},{bad}]");
        match decode(BodyKind::Json, body.as_bytes(), 10) {
            Err(ApiError::InvalidEvent { index, .. }) => assert_eq!(index, 2),
            other => panic!("expected invalid event, got {other:?}"),
        }
        let wrong_type = GOOD.replace(r#""seq":1"#, r#""seq":true"#);
        let body = format!("[{GOOD},{wrong_type}]");
        match decode(BodyKind::Json, body.as_bytes(), 10) {
            Err(ApiError::InvalidEvent { index, .. }) => assert_eq!(index, 1),
            other => panic!("expected invalid event, got {other:?}"),
        }
    }

    #[test]
    fn limits_and_empties() {
        let body = format!("{GOOD}\n{GOOD}\n{GOOD}\n");
        assert_eq!(
            decode(BodyKind::Ndjson, body.as_bytes(), 2),
            Err(ApiError::TooManyEvents { limit: 2 })
        );
        assert_eq!(decode(BodyKind::Ndjson, b"\n \n", 2), Err(ApiError::Empty));
        assert_eq!(decode(BodyKind::Json, b"[]", 2), Err(ApiError::Empty));
        assert!(matches!(
            decode(BodyKind::Json, b"{} {}", 2),
            Err(ApiError::Malformed { .. } | ApiError::InvalidEvent { .. })
        ));
    }
}
