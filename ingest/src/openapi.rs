//! The API description, generated from the code: `/openapi.json` (OpenAPI 3.1) and
//! `/v1/schema/event.json` (the event's JSON Schema, for producers in any language).
//!
//! Every bound ingest enforces on a single value is in the schema, taken from the constants
//! the validator uses (`cricket::schema`), so a client generated from it, or a fuzzer such as
//! schemathesis, is refused only for what the schema cannot state: rules across fields and
//! an event time more than a day ahead of ingest's clock (both 422 naming the field).

use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Ref};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cricket ingest API",
        description = "Ball-by-ball cricket events into Kafka. Answers 202 only after the broker acknowledged every event."
    ),
    paths(crate::http::post_events, crate::http::healthz, crate::http::readyz),
    components(schemas(cricket::Event, crate::http::Accepted, crate::error::ErrorBody)),
    modifiers(&BearerAuth, &EventBatches)
)]
struct ApiDoc;

/// States what the request body of `POST /v1/events` really is: at least one event (an empty
/// body or array is `400 empty`), and for JSON either one event object or an array of them.
struct EventBatches;

impl EventBatches {
    fn batch() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Ref::from_schema_name("Event"))
            .min_items(Some(1))
            .description(Some(
                "At least one event; at most the server's --max-batch-events (5,000 by \
                 default), beyond which the request is 413.",
            ))
            .into()
    }
}

impl Modify for EventBatches {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/v1/events")
            .and_then(|item| item.post.as_mut())
            .and_then(|operation| operation.request_body.as_mut());
        let Some(body) = body else {
            return;
        };
        for (media_type, content) in &mut body.content {
            content.schema = Some(if media_type == "application/json" {
                OneOfBuilder::new()
                    .item(Ref::from_schema_name("Event"))
                    .item(EventBatches::batch())
                    .into()
            } else {
                EventBatches::batch()
            });
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// A standalone JSON Schema (2020-12) for one event, built from the OpenAPI components
/// (OpenAPI 3.1 schemas are JSON Schema) with references moved to `$defs`.
pub fn event_json_schema() -> serde_json::Value {
    let schemas = document()
        .components
        .map(|components| components.schemas)
        .unwrap_or_default();
    let defs = serde_json::to_string(&schemas)
        .unwrap_or_else(|_| "{}".to_owned())
        .replace("#/components/schemas/", "#/$defs/");
    let defs: serde_json::Value = serde_json::from_str(&defs).unwrap_or_default();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Cricket match event",
        "$ref": "#/$defs/Event",
        "$defs": defs,
    })
}
