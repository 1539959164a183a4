//! `GET /openapi.json`: the HTTP API as OpenAPI 3.1, generated from the handlers'
//! annotations and from the `cricket` types the handlers serialise (their schemas come with
//! the crate's `openapi` feature), so the document describes the bytes the server writes.
//! `tests/schemathesis.rs` holds the two together.
//!
//! OpenAPI has no words for a WebSocket: `/v1/ws` is described as the GET that opens it, and
//! the messages both ways are the `ClientMessage` and `ServerMessage` components.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Schema, Type};
use utoipa::{OpenApi, PartialSchema, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cricket stream-stats API",
        description = "Live scoreboards folded from the match-events topic, served over HTTP and pushed over a WebSocket (`/v1/ws`, protocol `cricket::live`). Every instance serves every match."
    ),
    paths(
        crate::http::list,
        crate::http::scoreboard,
        crate::http::scorecard,
        crate::ws::upgrade,
        crate::http::healthz,
        crate::http::readyz,
        crate::http::prometheus,
    ),
    components(schemas(cricket::live::ClientMessage, cricket::live::ServerMessage))
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The `snapshot` variant of `cricket::live::ServerMessage` on its own: the body of
/// `GET /v1/matches/{id}` is exactly that message, and the derived schema only knows the
/// whole enum. Never a value; only a name for the schema.
#[derive(Debug)]
pub(crate) enum SnapshotMessage {}

impl PartialSchema for SnapshotMessage {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", string().enum_values(Some(["snapshot"])))
            .property("match_id", cricket::schema::match_id())
            .property(
                "stale",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some(
                        "The match's stream has a gap: scores may be behind until it heals.",
                    )),
            )
            .property(
                "status",
                string().description(Some(
                    "The status line, e.g. \"India need 12 runs from 9 balls\".",
                )),
            )
            .property(
                "scoreboard",
                Ref::from_schema_name(cricket::Scoreboard::name()),
            )
            .required("type")
            .required("match_id")
            .required("stale")
            .required("status")
            .required("scoreboard")
            .into()
    }
}

impl ToSchema for SnapshotMessage {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Snapshot")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            cricket::Scoreboard::name().into_owned(),
            cricket::Scoreboard::schema(),
        ));
        cricket::Scoreboard::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` names a schema the document holds, and the path parameter carries the
    /// validator's bounds.
    #[test]
    fn the_document_is_complete() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        let mut stack = vec![&doc];
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                        let name = target.trim_start_matches("#/components/schemas/");
                        assert!(schemas.get(name).is_some(), "{target} is missing");
                    }
                    stack.extend(map.values());
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        let id = &doc["paths"]["/v1/matches/{id}/scorecard"]["get"]["parameters"][0];
        assert_eq!(id["required"], true);
        assert_eq!(
            id["schema"]["maxLength"],
            cricket::validate::MAX_MATCH_ID_LEN
        );
        for path in ["/v1/matches", "/v1/matches/{id}", "/v1/ws", "/metrics"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path} undocumented");
        }
    }
}
