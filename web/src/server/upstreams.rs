//! Calls to the services behind the dashboard. Errors are sentences for the page to show
//! ("stream-stats at http://... is not answering: ..."), not codes.

use std::time::Duration;

use cricket::live::ServerMessage;
use cricket::scoreboard::MatchSummary;
use cricket::scorecard::Scorecard;
use reqwest::{Client, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Config;
use crate::api::{LiveSnapshot, SqlAnswer, SqlOutcome, StoredMatch};

/// The services' base URLs and one pooled HTTP client.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub http: Client,
    pub stream_stats: String,
    pub warehouse: String,
    pub ingest: String,
}

impl Upstreams {
    pub fn new(config: &Config) -> anyhow::Result<Upstreams> {
        let http = Client::builder()
            .timeout(Duration::from_millis(config.upstream_timeout_ms))
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Upstreams {
            http,
            stream_stats: config.stream_stats_url.trim_end_matches('/').to_owned(),
            warehouse: config.warehouse_url.trim_end_matches('/').to_owned(),
            ingest: config.ingest_url.trim_end_matches('/').to_owned(),
        })
    }

    /// `GET {base}{path}` as JSON; `Ok(None)` on 404.
    async fn get_json<T: DeserializeOwned>(
        &self,
        service: &str,
        base: &str,
        path: &str,
    ) -> Result<Option<T>, String> {
        let url = format!("{base}{path}");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|err| format!("{service} at {base} is not answering ({err})"))?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => response
                .json()
                .await
                .map(Some)
                .map_err(|err| format!("{service} sent an unreadable answer to {path}: {err}")),
            status => Err(format!("{service} answered {path} with {status}")),
        }
    }

    pub async fn matches(&self) -> Result<Vec<MatchSummary>, String> {
        let list = self
            .get_json("stream-stats", &self.stream_stats, "/v1/matches")
            .await?;
        Ok(list.unwrap_or_default())
    }

    pub async fn snapshot(&self, id: &str) -> Result<Option<LiveSnapshot>, String> {
        let path = format!("/v1/matches/{}", encode(id));
        let message: Option<ServerMessage> = self
            .get_json("stream-stats", &self.stream_stats, &path)
            .await?;
        Ok(match message {
            Some(ServerMessage::Snapshot {
                stale,
                status,
                scoreboard,
                ..
            }) => Some(LiveSnapshot {
                stale,
                status,
                scoreboard: *scoreboard,
            }),
            _ => None,
        })
    }

    /// One query in the warehouse's sandbox. A refusal (bad SQL, a forbidden function, a
    /// timeout) is an outcome to show, not an error.
    pub async fn sql(&self, sql: &str) -> Result<SqlOutcome, String> {
        let response = self
            .http
            .post(format!("{}/v1/sql", self.warehouse))
            .json(&serde_json::json!({ "sql": sql }))
            .send()
            .await
            .map_err(|err| {
                format!(
                    "the warehouse at {} is not answering ({err})",
                    self.warehouse
                )
            })?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|err| format!("the warehouse sent an unreadable answer: {err}"))?;
        if status.is_success() {
            serde_json::from_value::<SqlAnswer>(body)
                .map(SqlOutcome::Rows)
                .map_err(|err| format!("the warehouse sent an unexpected answer: {err}"))
        } else {
            let text = |key: &str| body["error"][key].as_str().unwrap_or_default().to_owned();
            Ok(SqlOutcome::Refused {
                code: text("code"),
                message: text("message"),
            })
        }
    }

    pub async fn stored_matches(&self) -> Result<Vec<StoredMatch>, String> {
        let sql = "SELECT match_id, match_date::VARCHAR AS match_date, competition, \
                   team1 || ' v ' || team2 AS teams, summary \
                   FROM match_results ORDER BY match_date DESC NULLS LAST, match_id";
        let answer = match self.sql(sql).await? {
            SqlOutcome::Rows(answer) => answer,
            SqlOutcome::Refused { message, .. } => return Err(message),
        };
        let text = |v: &Value| v.as_str().map(str::to_owned);
        Ok(answer
            .rows
            .iter()
            .filter_map(|row| {
                Some(StoredMatch {
                    match_id: text(row.first()?)?,
                    match_date: row.get(1).and_then(text),
                    competition: row.get(2).and_then(text),
                    teams: row.get(3).and_then(text).unwrap_or_default(),
                    summary: row.get(4).and_then(text).unwrap_or_default(),
                })
            })
            .collect())
    }

    pub async fn stored_scorecard(&self, id: &str) -> Result<Option<Scorecard>, String> {
        let path = format!("/v1/matches/{}/scorecard", encode(id));
        self.get_json("the warehouse", &self.warehouse, &path).await
    }

    /// A service's Prometheus text.
    pub async fn metrics(&self, base: &str) -> Option<String> {
        let response = self
            .http
            .get(format!("{base}/metrics"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }
}

/// A path segment, percent-encoded.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}
