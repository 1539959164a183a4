//! Which upstream paths the pass-throughs may reach, decided on the parsed path.
//!
//! `/api/live/...` goes to stream-stats and `/api/warehouse/...` to the warehouse. Gluing the
//! client's path onto a base URL would let `..%2f`, `%2e%2e`, `%3F`, doubled slashes or
//! backslashes reach whatever else those services serve (every `/metrics`, anything added
//! later), depending on how each HTTP library normalises. So the raw path is split into
//! segments, each decoded exactly once and checked, the segments are matched against a short
//! list of routes, and the upstream path is rebuilt from them with every byte that could mean
//! something to a URL parser percent-encoded again. The upstream sees one of the listed paths
//! or nothing at all. Queries are rebuilt the same way from the keys a route accepts.

use axum::http::Method;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Bytes left as they are in a rebuilt segment or query value: RFC 3986's unreserved set.
/// Dot segments are refused before encoding, so a literal `.` cannot form one.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The service behind a pass-through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upstream {
    /// stream-stats, behind `/api/live/`.
    Live,
    /// The warehouse, behind `/api/warehouse/`.
    Warehouse,
}

/// Why a pass-through request is refused before anything is sent upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: the path is not a plain sequence of segments.
    BadPath(String),
    /// 404: well formed, but not a route of the pass-through.
    Unknown(String),
    /// 405: the route exists for other methods.
    Method { allowed: &'static str },
    /// 400: a query parameter the route does not take.
    BadQuery(String),
}

/// One allowed route: its method, its segments (`None` matches one match id), the query keys
/// it passes on.
struct Route {
    method: Method,
    segments: &'static [Option<&'static str>],
    query: &'static [&'static str],
}

const ID: Option<&str> = None;

fn routes(upstream: Upstream) -> &'static [Route] {
    const LIVE: &[Route] = &[
        Route {
            method: Method::GET,
            segments: &[Some("matches")],
            query: &[],
        },
        Route {
            method: Method::GET,
            segments: &[Some("matches"), ID],
            query: &[],
        },
        Route {
            method: Method::GET,
            segments: &[Some("matches"), ID, Some("scorecard")],
            query: &[],
        },
    ];
    const WAREHOUSE: &[Route] = &[
        Route {
            method: Method::POST,
            segments: &[Some("sql")],
            query: &["format"],
        },
        Route {
            method: Method::GET,
            segments: &[Some("tables")],
            query: &[],
        },
        Route {
            method: Method::GET,
            segments: &[Some("matches"), ID, Some("scorecard")],
            query: &[],
        },
    ];
    match upstream {
        Upstream::Live => LIVE,
        Upstream::Warehouse => WAREHOUSE,
    }
}

/// The upstream path and query (`/v1/...`) for `rest`, the raw (still percent-encoded) path
/// after the pass-through's prefix, and the raw query; or why not.
pub(crate) fn upstream_target(
    upstream: Upstream,
    method: &Method,
    rest: &str,
    query: Option<&str>,
) -> Result<String, Refusal> {
    let segments = decode_segments(rest)?;
    let shape_matches = |route: &Route| {
        route.segments.len() == segments.len()
            && route
                .segments
                .iter()
                .zip(&segments)
                .all(|(want, got)| want.is_none_or(|literal| literal == got))
    };
    let candidates: Vec<&Route> = routes(upstream)
        .iter()
        .filter(|r| shape_matches(r))
        .collect();
    if candidates.is_empty() {
        return Err(Refusal::Unknown(format!(
            "/{rest} is not an endpoint of this pass-through"
        )));
    }
    let Some(route) = candidates.iter().find(|r| r.method == *method) else {
        return Err(Refusal::Method {
            allowed: candidates[0].method.as_str(),
        });
    };
    let mut target = String::from("/v1");
    for segment in &segments {
        target.push('/');
        target.extend(utf8_percent_encode(segment, ENCODE));
    }
    let pairs = decode_query(query.unwrap_or_default())?;
    let mut separator = '?';
    for (key, value) in pairs {
        if !route.query.contains(&key.as_str()) {
            return Err(Refusal::BadQuery(format!(
                "this endpoint takes no query parameter {key:?}{}",
                if route.query.is_empty() {
                    String::new()
                } else {
                    format!(" (it takes: {})", route.query.join(", "))
                }
            )));
        }
        target.push(separator);
        target.push_str(&key);
        target.push('=');
        target.extend(utf8_percent_encode(&value, ENCODE));
        separator = '&';
    }
    Ok(target)
}

/// Each segment decoded once; a path that is not plain segments is refused.
fn decode_segments(rest: &str) -> Result<Vec<String>, Refusal> {
    rest.split('/')
        .map(|raw| {
            let segment = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| Refusal::BadPath("the path is not UTF-8".to_owned()))?;
            if segment.is_empty() {
                return Err(Refusal::BadPath(
                    "empty path segment (a doubled or trailing slash)".to_owned(),
                ));
            }
            if segment == "." || segment == ".." {
                return Err(Refusal::BadPath(
                    "dot segments (. and ..) are not allowed".to_owned(),
                ));
            }
            if segment.contains(['/', '\\']) {
                return Err(Refusal::BadPath(
                    "a path segment may not contain a slash or backslash, encoded or not"
                        .to_owned(),
                ));
            }
            if segment.chars().any(char::is_control) {
                return Err(Refusal::BadPath(
                    "a path segment may not contain control characters".to_owned(),
                ));
            }
            Ok(segment.into_owned())
        })
        .collect()
}

/// `application/x-www-form-urlencoded` pairs, decoded; empty pieces are skipped.
fn decode_query(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let decode = |text: &str| {
                percent_decode_str(&text.replace('+', " "))
                    .decode_utf8()
                    .map(|text| text.into_owned())
                    .map_err(|_| Refusal::BadQuery("the query is not UTF-8".to_owned()))
            };
            Ok((decode(key)?, decode(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(rest: &str) -> Result<String, Refusal> {
        upstream_target(Upstream::Live, &Method::GET, rest, None)
    }

    #[test]
    fn the_listed_routes_pass_with_their_ids_encoded() {
        assert_eq!(live("matches").as_deref(), Ok("/v1/matches"));
        assert_eq!(
            live("matches/1370353").as_deref(),
            Ok("/v1/matches/1370353")
        );
        assert_eq!(
            live("matches/a%20b/scorecard").as_deref(),
            Ok("/v1/matches/a%20b/scorecard")
        );
        assert_eq!(
            upstream_target(
                Upstream::Warehouse,
                &Method::POST,
                "sql",
                Some("format=csv")
            )
            .as_deref(),
            Ok("/v1/sql?format=csv")
        );
        assert_eq!(
            upstream_target(Upstream::Warehouse, &Method::GET, "tables", Some("")).as_deref(),
            Ok("/v1/tables")
        );
    }

    #[test]
    fn tricks_never_leave_the_listed_routes() {
        for rest in [
            "..%2fmetrics",
            "%2e%2e/metrics",
            "%2E%2E/%2E%2E/metrics",
            "../metrics",
            "./matches",
            "matches/..",
            "matches//scorecard",
            "matches/",
            "/metrics",
            "matches%2f1",
            "matches/1%2f..%2f..%2fmetrics",
            "matches\\..\\metrics",
            "matches/%5c..%5cmetrics",
            "matches/1%00",
            "matches/%ff",
        ] {
            assert!(
                matches!(live(rest), Err(Refusal::BadPath(_))),
                "{rest}: {:?}",
                live(rest)
            );
        }
        for rest in [
            "metrics",
            "healthz",
            "ws",
            "matches/1/scorecard/x",
            "v1/matches",
        ] {
            assert!(matches!(live(rest), Err(Refusal::Unknown(_))), "{rest}");
        }
        // An encoded `?` or `#` stays inside its segment: it is an odd match id, not a query.
        assert_eq!(
            live("matches/x%3Fa=1").as_deref(),
            Ok("/v1/matches/x%3Fa%3D1")
        );
        assert_eq!(live("matches/x%23y").as_deref(), Ok("/v1/matches/x%23y"));
        // `...` is a name, not a dot segment.
        assert_eq!(live("matches/...").as_deref(), Ok("/v1/matches/..."));
    }

    #[test]
    fn methods_and_queries_are_per_route() {
        assert_eq!(
            upstream_target(Upstream::Warehouse, &Method::GET, "sql", None),
            Err(Refusal::Method { allowed: "POST" })
        );
        assert_eq!(
            upstream_target(Upstream::Live, &Method::DELETE, "matches", None),
            Err(Refusal::Method { allowed: "GET" })
        );
        assert!(matches!(
            upstream_target(Upstream::Live, &Method::GET, "matches", Some("debug=1")),
            Err(Refusal::BadQuery(_))
        ));
        // A value cannot smuggle another parameter or a path.
        assert_eq!(
            upstream_target(
                Upstream::Warehouse,
                &Method::POST,
                "sql",
                Some("format=csv%26x%3D..%2Fmetrics")
            )
            .as_deref(),
            Ok("/v1/sql?format=csv%26x%3D..%2Fmetrics")
        );
    }
}
