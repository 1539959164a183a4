"""Schemathesis hooks for ingest's contract test (ingest/tests/schemathesis.rs).

Loaded with SCHEMATHESIS_HOOKS=hooks. Three things the stock tool cannot know:

- how to send `application/x-ndjson` (one JSON value per line);
- that event times must not be more than a day ahead of ingest's clock, a bound JSON Schema
  cannot state, so generated times stay between the schema's earliest year and now;
- which refusals of schema-valid events are legitimate: only the rules across fields that
  JSON Schema cannot express (`cricket/src/validate.rs`). Any other 422 for a schema-valid
  event means the published schema is missing a bound, which is a failure.
"""

import datetime
import json
import re

import schemathesis
from hypothesis import strategies as st


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    values = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(item) for item in values).encode()


# RFC 3339 in UTC, from the schema's earliest year up to now: what ingest's clock allows.
schemathesis.openapi.format(
    "date-time",
    st.datetimes(
        min_value=datetime.datetime(1877, 1, 1),
        max_value=datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None),
    ).map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")),
)

# (field path, words of the message) of every rule that relates two values of an event.
CROSS_FIELD_RULES = [
    (r"payload\.match_started\.teams", "must differ"),
    (r"payload\.match_started\.squads\[\d+\]\.team", "not one of the match's teams"),
    (r"payload\.match_started\.toss\.winner", "not one of the match's teams"),
    (r"payload\.innings_started\.bowling_team", "must differ"),
    (r"payload\.delivery\.non_striker", "must differ"),
    (r"payload\.delivery\.runs\.extras", "extras add up"),
    (r"payload\.delivery\.runs\.total", "batter + extras"),
    (r"payload\.delivery\.extras\.wides", "a wide cannot"),
    (r"payload\.delivery\.wickets", "out twice"),
]


@schemathesis.check
def refused_only_for_rules_across_fields(ctx, response, case):
    """A schema-valid request refused with 422 must name a rule the schema cannot state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    error = response.json().get("error", {})
    message = error.get("message") or ""
    # `field` names the value; the message starts "invalid event: <field>: ..." as well.
    field = error.get("field") or message.removeprefix("invalid event: ").split(": ")[0]
    for pattern, words in CROSS_FIELD_RULES:
        if re.fullmatch(pattern, field) and words in message:
            return None
    raise AssertionError(
        f"a schema-valid event was refused at `{field}`: {message}. "
        "The published schema is missing this bound."
    )
