//! The API description, generated from the code: `/openapi.json` (OpenAPI 3.1) and
//! `/v1/schema/event.json` (the event's JSON Schema, for producers in any language).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cricket ingest API",
        description = "Ball-by-ball cricket events into Kafka. Answers 202 only after the broker acknowledged every event."
    ),
    paths(crate::http::post_events, crate::http::healthz, crate::http::readyz),
    components(schemas(cricket::Event, crate::http::Accepted, crate::error::ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

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
