//! The bounds of [`crate::validate`] as JSON Schema, for the published contracts (ingest's
//! `/openapi.json` and `/v1/schema/event.json`; stream-stats' and the warehouse's
//! `/openapi.json` describe their answers with the same types). Each bounded field of
//! [`crate::event`] names one of these functions in `#[schema(schema_with = ...)]`; they read
//! the validator's own constants, so the document and the checks cannot drift apart. Only built with the
//! `openapi` feature (the browser build has no use for it).
//!
//! What JSON Schema cannot say stays in the descriptions and is refused with 422 by ingest:
//! rules across fields (runs add up, the two teams differ, a squad's team is one of them) and
//! the one bound that needs a clock (an event at most a day ahead of ingest's).

use std::borrow::Cow;

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat,
    Type,
};
use utoipa::openapi::{KnownFormat, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

use crate::event::{
    Delivery, Fielder, InningsEnded, InningsStarted, MatchEnded, MatchStarted, Payload,
    Replacement, SCHEMA_VERSION, Squad, Wicket,
};
use crate::validate::{
    MAX_BALL_IN_OVER, MAX_BALLS_PER_OVER, MAX_COMMENTARY_LEN, MAX_EXTRAS_PER_DELIVERY, MAX_INNINGS,
    MAX_INNINGS_BALLS, MAX_LISTED_PLAYERS, MAX_MARGIN_INNINGS, MAX_MATCH_ID_LEN, MAX_MATCH_RUNS,
    MAX_NAME_LEN, MAX_OVERS, MAX_PENALTY_RUNS, MAX_RUNS_PER_DELIVERY, MAX_RUNS_PER_KIND,
    MAX_SECONDS_AHEAD, MAX_SEQ, MAX_SQUAD_PLAYERS, MAX_SQUADS, MAX_TEXT_LEN, MAX_WICKETS,
    MAX_WICKETS_PER_DELIVERY, time_bounds,
};

/// The characters [`crate::validate::is_valid_match_id`] accepts.
const MATCH_ID_PATTERN: &str = "^[A-Za-z0-9_.:-]+$";

/// Control characters (`char::is_control`: Unicode category Cc), which no name may hold.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// What `str::trim` removes (Unicode `White_Space`) beyond the control characters.
const SPACE: &str = r" \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

fn integer(min: u64, max: u64, nullable: bool) -> ObjectBuilder {
    let kind = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::new(Type::Integer)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .minimum(Some(min))
        .maximum(Some(max))
}

fn string(nullable: bool) -> ObjectBuilder {
    let kind = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::new(Type::String)
    };
    ObjectBuilder::new().schema_type(kind)
}

/// Not blank, no control characters, 1 to `max` characters: `validate`'s rule for names.
fn text(max: usize, nullable: bool) -> Schema {
    let pattern = format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$");
    string(nullable)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .into()
}

fn array(items: impl Into<RefOr<Schema>>, max: usize) -> Schema {
    let items: RefOr<Schema> = items.into();
    ArrayBuilder::new().items(items).max_items(Some(max)).into()
}

/// A regular expression for the zero-padded numbers `from..=to` of `width` digits, e.g.
/// 1877..=9999 -> `1(8(7[7-9]|[8-9][0-9])|9[0-9]{2})|[2-9][0-9]{3}`.
fn number_range(from: u32, to: u32, width: u32) -> String {
    if width == 0 {
        return String::new();
    }
    let unit = 10u32.pow(width - 1);
    let full = unit - 1;
    let (first, last) = (from / unit, to / unit);
    let (from_rest, to_rest) = (from % unit, to % unit);
    let any = |count: u32| match count {
        0 => String::new(),
        1 => "[0-9]".to_owned(),
        _ => format!("[0-9]{{{count}}}"),
    };
    let digits = |low: u32, high: u32| {
        if low == high {
            low.to_string()
        } else {
            format!("[{low}-{high}]")
        }
    };
    let tail = |low: u32, high: u32| {
        if low == 0 && high == full {
            any(width - 1)
        } else {
            let inner = number_range(low, high, width - 1);
            if inner.contains('|') {
                format!("({inner})")
            } else {
                inner
            }
        }
    };
    if first == last {
        return format!("{first}{}", tail(from_rest, to_rest));
    }
    let mut parts = Vec::new();
    let mut middle_from = first + 1;
    let mut middle_to = last - 1;
    if from_rest == 0 {
        middle_from = first;
    } else {
        parts.push(format!("{first}{}", tail(from_rest, full)));
    }
    let last_part = if to_rest == full {
        middle_to = last;
        None
    } else {
        Some(format!("{last}{}", tail(0, to_rest)))
    };
    if middle_from <= middle_to {
        parts.push(format!(
            "{}{}",
            digits(middle_from, middle_to),
            any(width - 1)
        ));
    }
    parts.extend(last_part);
    parts.join("|")
}

/// `^(years)-`: the bounded years of [`time_bounds`], as a date or date-time starts.
fn year_pattern() -> String {
    use chrono::Datelike;
    let (earliest, latest) = time_bounds();
    let year = |y: i32| u32::try_from(y).unwrap_or(0);
    format!(
        "^({})-",
        number_range(year(earliest.year()), year(latest.year()), 4)
    )
}

fn time_range_text() -> String {
    let (earliest, latest) = time_bounds();
    format!(
        "from {} to {}",
        earliest.format("%Y-%m-%dT%H:%M:%SZ"),
        latest.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

pub fn schema_version() -> Schema {
    let version = u64::from(SCHEMA_VERSION);
    integer(version, version, false).into()
}

pub fn match_id() -> Schema {
    string(false)
        .min_length(Some(1))
        .max_length(Some(MAX_MATCH_ID_LEN))
        .pattern(Some(MATCH_ID_PATTERN))
        .into()
}

pub fn seq() -> Schema {
    integer(1, MAX_SEQ, false)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .into()
}

pub fn time() -> Schema {
    let description = format!(
        "When it happened on the field (not when it was ingested): RFC 3339, {}, and at most \
         {} hours ahead of ingest's clock.",
        time_range_text(),
        MAX_SECONDS_AHEAD / 3600
    );
    string(false)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(year_pattern()))
        .description(Some(description))
        .into()
}

pub fn date() -> Schema {
    let description = format!("The match's first day, {}.", time_range_text());
    string(true)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .pattern(Some(year_pattern()))
        .description(Some(description))
        .into()
}

pub fn name() -> Schema {
    text(MAX_NAME_LEN, false)
}

pub fn optional_name() -> Schema {
    text(MAX_NAME_LEN, true)
}

pub fn short_text() -> Schema {
    text(MAX_TEXT_LEN, false)
}

pub fn optional_text() -> Schema {
    text(MAX_TEXT_LEN, true)
}

pub fn commentary() -> Schema {
    string(true).max_length(Some(MAX_COMMENTARY_LEN)).into()
}

pub fn teams() -> Schema {
    ArrayBuilder::new()
        .items(RefOr::T(name()))
        .min_items(Some(2))
        .max_items(Some(2))
        .description(Some(
            "The two sides, in the order the source lists them; they differ.",
        ))
        .into()
}

pub fn squads() -> Schema {
    array(Ref::from_schema_name("Squad"), MAX_SQUADS)
}

pub fn squad_players() -> Schema {
    array(name(), MAX_SQUAD_PLAYERS)
}

/// Fielders, absent hurt, players of the match.
pub fn listed_players() -> Schema {
    array(name(), MAX_LISTED_PLAYERS)
}

pub fn fielders() -> Schema {
    array(Ref::from_schema_name("Fielder"), MAX_LISTED_PLAYERS)
}

pub fn wickets() -> Schema {
    array(Ref::from_schema_name("Wicket"), MAX_WICKETS_PER_DELIVERY)
}

pub fn replacements() -> Schema {
    array(Ref::from_schema_name("Replacement"), MAX_LISTED_PLAYERS)
}

pub fn innings() -> Schema {
    integer(1, u64::from(MAX_INNINGS), false)
        .description(Some(
            "1-based innings number in match order, super overs included.",
        ))
        .into()
}

pub fn balls_per_over() -> Schema {
    integer(1, u64::from(MAX_BALLS_PER_OVER), false)
        .description(Some(
            "6 almost everywhere; 5 in The Hundred. Never assume 6.",
        ))
        .into()
}

pub fn scheduled_overs() -> Schema {
    integer(1, u64::from(MAX_OVERS), true)
        .description(Some(
            "Scheduled overs per innings; absent for unlimited (multi-day) cricket.",
        ))
        .into()
}

pub fn over() -> Schema {
    integer(0, u64::from(MAX_OVERS) - 1, false)
        .description(Some("0-based over number."))
        .into()
}

pub fn ball() -> Schema {
    integer(1, u64::from(MAX_BALL_IN_OVER), false)
        .description(Some(
            "1-based position of this delivery in its over, counting wides and no-balls.",
        ))
        .into()
}

pub fn runs_of_one_kind() -> Schema {
    integer(0, u64::from(MAX_RUNS_PER_KIND), false).into()
}

pub fn delivery_extras() -> Schema {
    integer(0, u64::from(MAX_EXTRAS_PER_DELIVERY), false)
        .description(Some("The sum of the delivery's extras."))
        .into()
}

pub fn delivery_total() -> Schema {
    integer(0, u64::from(MAX_RUNS_PER_DELIVERY), false)
        .description(Some("batter + extras."))
        .into()
}

pub fn target_runs() -> Schema {
    integer(1, u64::from(MAX_MATCH_RUNS), true)
        .description(Some("Runs needed to win, when this innings is a chase."))
        .into()
}

pub fn max_balls() -> Schema {
    integer(1, u64::from(MAX_INNINGS_BALLS), true)
        .description(Some(
            "The innings' length limit in legal balls (scheduled or revised), if it has one.",
        ))
        .into()
}

pub fn penalty_runs() -> Schema {
    integer(0, u64::from(MAX_PENALTY_RUNS), false).into()
}

pub fn margin_runs() -> Schema {
    integer(0, u64::from(MAX_MATCH_RUNS), true).into()
}

pub fn margin_wickets() -> Schema {
    integer(0, u64::from(MAX_WICKETS), true).into()
}

pub fn margin_innings() -> Schema {
    integer(0, u64::from(MAX_MARGIN_INNINGS), true).into()
}

/// An innings' extras so far (`scoreboard::Innings::extras`): the delivery's `Extras` type
/// summed, so each kind is bounded only by its `u16`, not by a delivery's bound.
pub fn extras_totals() -> Schema {
    let mut totals = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Extras of the innings so far by kind; a kind still at zero is left out.",
        ));
    for kind in ["wides", "noballs", "byes", "legbyes", "penalty"] {
        totals = totals.property(kind, integer(0, u64::from(u16::MAX), false));
    }
    totals.into()
}

/// The `{id}` segment of a match's URL (`/v1/matches/{id}/...` at stream-stats and the
/// warehouse), stated with the bounds of an event's `match_id`: no other id can name a match.
/// Its example is a real match of `data/cricsheet`, so a fuzzer starting from the examples
/// asks for a match the tests have loaded.
#[derive(Debug)]
pub struct MatchIdPath;

impl utoipa::IntoParams for MatchIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The match id, as in its events' `match_id`."))
                .schema(Some(match_id()))
                .example(Some(serde_json::Value::from(MATCH_ID_EXAMPLE)))
                .build(),
        ]
    }
}

/// A real match (Gujarat Titans v Chennai Super Kings, the 2023 IPL final).
pub const MATCH_ID_EXAMPLE: &str = "1370353";

/// The payload's kinds and the type each carries.
const PAYLOAD_KINDS: [&str; 5] = [
    "match_started",
    "innings_started",
    "delivery",
    "innings_ended",
    "match_ended",
];
const PAYLOAD_TYPES: [&str; 5] = [
    "MatchStarted",
    "InningsStarted",
    "Delivery",
    "InningsEnded",
    "MatchEnded",
];

impl PartialSchema for Payload {
    /// One object with exactly one key, the kind: serde refuses a second key as malformed
    /// JSON, so the schema must not allow one (the derived schema did).
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new();
        for (kind, type_name) in PAYLOAD_KINDS.into_iter().zip(PAYLOAD_TYPES) {
            one_of = one_of.item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property(kind, Ref::from_schema_name(type_name))
                    .required(kind)
                    .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false))),
            );
        }
        one_of
            .description(Some(
                "What happened: an object with exactly one key, the kind of event.",
            ))
            .into()
    }
}

impl ToSchema for Payload {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Payload")
    }

    /// Every schema the payload refers to, including those only the hand-written list
    /// schemas above name (squads, wickets, fielders, replacements), which the derive cannot see.
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((T::name().into_owned(), T::schema()));
            T::schemas(schemas);
        }
        add::<MatchStarted>(schemas);
        add::<InningsStarted>(schemas);
        add::<Delivery>(schemas);
        add::<InningsEnded>(schemas);
        add::<MatchEnded>(schemas);
        add::<Squad>(schemas);
        add::<Wicket>(schemas);
        add::<Fielder>(schemas);
        add::<Replacement>(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_ranges_cover_exactly_the_range() {
        assert_eq!(
            number_range(1877, 9999, 4),
            "1(8(7[7-9]|[8-9][0-9])|9[0-9]{2})|[2-9][0-9]{3}"
        );
        assert_eq!(number_range(0, 9999, 4), "[0-9][0-9]{3}");
        assert_eq!(
            number_range(1877, 2030, 4),
            "1(8(7[7-9]|[8-9][0-9])|9[0-9]{2})|2(0([0-2][0-9]|30))"
        );
        assert_eq!(number_range(5, 5, 1), "5");
        assert_eq!(
            year_pattern(),
            "^(1(8(7[7-9]|[8-9][0-9])|9[0-9]{2})|[2-9][0-9]{3})-"
        );
    }

    #[derive(utoipa::OpenApi)]
    #[openapi(components(schemas(
        crate::Event,
        crate::Scoreboard,
        crate::MatchSummary,
        crate::Scorecard,
        crate::live::ClientMessage,
        crate::live::ServerMessage
    )))]
    struct Doc;

    /// Every `$ref` in the document names a schema it holds (the list schemas refer by name).
    #[test]
    fn every_reference_resolves() {
        use utoipa::OpenApi;
        let doc = serde_json::to_value(Doc::openapi()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        let mut stack = vec![&doc];
        let mut refs = 0;
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        let name = target.trim_start_matches("#/components/schemas/");
                        assert!(
                            schemas.get(name).is_some(),
                            "{target} is not in the document"
                        );
                        refs += 1;
                    }
                    stack.extend(map.values());
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        assert!(refs > 10, "only {refs} references");
        for name in PAYLOAD_TYPES
            .iter()
            .chain(&["Squad", "Wicket", "Fielder", "Replacement"])
            .chain(&[
                "Innings",
                "Batter",
                "Bowler",
                "Ball",
                "Overs",
                "InningsScorecard",
            ])
        {
            assert!(schemas.get(name).is_some(), "{name} missing");
        }
    }
}
