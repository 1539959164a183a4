//! The browser's live state: one WebSocket to stream-stats (through the web server), the match
//! list and the scoreboards of the matches on screen, as signals the pages read.
//!
//! Reconciliation is by `seq`, with the scoring engine itself: a snapshot replaces a match's
//! scoreboard, and each event is folded in with [`Scoreboard::apply`]. A duplicate changes
//! nothing; a gap (or an event the engine refuses) asks the server for a fresh snapshot. After a
//! reconnect every subscription is sent again, and the snapshots that answer replace whatever
//! the page had, so nothing missed while offline survives as a wrong score.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cricket::live::{ClientMessage, ServerMessage};
use cricket::scoreboard::{ApplyError, Ball, MatchSummary};
use cricket::{Payload, Scoreboard};
use leptos::prelude::*;

/// Balls kept in a match's commentary feed.
pub const FEED_LENGTH: usize = 60;

/// Reads a [`ServerMessage`]. The same as `serde_json::from_slice::<ServerMessage>`, but
/// without serde's buffering of internally tagged enums, which would compile a second copy of
/// every scoreboard type's decoder into the browser code: this reads each field straight off
/// the JSON and keeps the browser code about 130 KB smaller.
pub fn parse_server_message(bytes: &[u8]) -> Option<ServerMessage> {
    #[derive(serde::Deserialize)]
    struct Fields {
        #[serde(rename = "type")]
        kind: String,
        matches: Option<Vec<MatchSummary>>,
        summary: Option<MatchSummary>,
        match_id: Option<String>,
        stale: Option<bool>,
        status: Option<String>,
        scoreboard: Option<Box<Scoreboard>>,
        seq: Option<u64>,
        event: Option<Box<cricket::Event>>,
        ingested_at_ms: Option<i64>,
        reason: Option<String>,
        message: Option<String>,
    }
    let f: Fields = serde_json::from_slice(bytes).ok()?;
    Some(match f.kind.as_str() {
        "matches" => ServerMessage::Matches {
            matches: f.matches?,
        },
        "summary" => ServerMessage::Summary {
            summary: f.summary?,
        },
        "snapshot" => ServerMessage::Snapshot {
            match_id: f.match_id?,
            stale: f.stale.unwrap_or(false),
            status: f.status.unwrap_or_default(),
            scoreboard: f.scoreboard?,
        },
        "event" => ServerMessage::Event {
            match_id: f.match_id?,
            seq: f.seq?,
            status: f.status.unwrap_or_default(),
            event: f.event?,
            ingested_at_ms: f.ingested_at_ms,
        },
        "stale" => ServerMessage::Stale {
            match_id: f.match_id?,
            reason: f.reason.unwrap_or_default(),
        },
        "not_found" => ServerMessage::NotFound {
            match_id: f.match_id?,
        },
        "error" => ServerMessage::Error {
            message: f.message.unwrap_or_default(),
        },
        _ => return None,
    })
}

/// The connection as the header's indicator shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Rendered on the server, or the first connection is being made.
    Connecting,
    Live,
    /// The socket closed; the next try is in `retry_in_ms`.
    Reconnecting {
        attempt: u32,
        retry_in_ms: u32,
    },
}

/// One followed match.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveMatch {
    pub board: Scoreboard,
    pub status: String,
    /// The stream has a gap: the score may be behind until it heals.
    pub stale: bool,
    /// Newest first.
    pub feed: VecDeque<Ball>,
}

impl LiveMatch {
    pub fn from_snapshot(board: Scoreboard, status: String, stale: bool) -> LiveMatch {
        let feed = recent_balls(&board);
        LiveMatch {
            board,
            status,
            stale,
            feed,
        }
    }
}

/// The balls the snapshot remembers (the current innings' last twelve), newest first.
pub fn recent_balls(board: &Scoreboard) -> VecDeque<Ball> {
    board
        .current_innings()
        .map(|innings| innings.recent.iter().rev().cloned().collect())
        .unwrap_or_default()
}

/// What the pages on screen want to hear about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wants {
    pub list: bool,
    pub matches: BTreeSet<String>,
}

impl Wants {
    /// The subscription that restores all of it (after a reconnect).
    pub fn subscribe_all(&self) -> Option<ClientMessage> {
        (self.list || !self.matches.is_empty()).then(|| ClientMessage::Subscribe {
            list: self.list,
            matches: self.matches.iter().cloned().collect(),
        })
    }
}

/// The live state, shared by every page through the context.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    pub connection: RwSignal<Connection>,
    /// Every match's summary by id; `None` until the server has sent the list.
    pub summaries: RwSignal<Option<BTreeMap<String, MatchSummary>>>,
    pub matches: RwSignal<BTreeMap<String, LiveMatch>>,
    wants: RwSignal<Wants>,
    /// Summaries received since the last frame: stream-stats sends one per event of every
    /// match, so the list is redrawn once per animation frame, not once per message.
    pending: StoredValue<BTreeMap<String, MatchSummary>>,
    flush_scheduled: StoredValue<bool>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            connection: RwSignal::new(Connection::Connecting),
            summaries: RwSignal::new(None),
            matches: RwSignal::new(BTreeMap::new()),
            wants: RwSignal::new(Wants::default()),
            pending: StoredValue::new(BTreeMap::new()),
            flush_scheduled: StoredValue::new(false),
        }
    }

    pub fn wants(&self) -> Wants {
        self.wants.get_untracked()
    }

    /// Follows the match list (the home page) until `unfollow_list`.
    pub fn follow_list(&self) {
        self.wants.update(|w| w.list = true);
        self.send(ClientMessage::Subscribe {
            list: true,
            matches: Vec::new(),
        });
    }

    pub fn unfollow_list(&self) {
        self.wants.update(|w| w.list = false);
        self.summaries.set(None);
        self.send(ClientMessage::Unsubscribe {
            list: true,
            matches: Vec::new(),
        });
    }

    /// Follows one match (the match centre): a snapshot, then its events.
    pub fn follow_match(&self, id: &str) {
        self.wants.update(|w| {
            w.matches.insert(id.to_owned());
        });
        self.resync(id);
    }

    pub fn unfollow_match(&self, id: &str) {
        self.wants.update(|w| {
            w.matches.remove(id);
        });
        self.matches.update(|m| {
            m.remove(id);
        });
        self.send(ClientMessage::Unsubscribe {
            list: false,
            matches: vec![id.to_owned()],
        });
    }

    /// Asks for a fresh snapshot of a match.
    fn resync(&self, id: &str) {
        self.send(ClientMessage::Subscribe {
            list: false,
            matches: vec![id.to_owned()],
        });
    }

    fn send(&self, message: ClientMessage) {
        #[cfg(feature = "hydrate")]
        socket::send(&message);
        #[cfg(not(feature = "hydrate"))]
        let _ = message;
    }

    /// Folds one server message into the state.
    pub fn receive(&self, message: ServerMessage) {
        match message {
            ServerMessage::Matches { matches } => {
                if self.wants.get_untracked().list {
                    let by_id = matches
                        .into_iter()
                        .map(|summary| (summary.match_id.clone(), summary))
                        .collect();
                    self.summaries.set(Some(by_id));
                }
            }
            ServerMessage::Summary { summary } => self.queue_summary(summary),
            ServerMessage::Snapshot {
                match_id,
                stale,
                status,
                scoreboard,
            } => {
                if self.wants.get_untracked().matches.contains(&match_id) {
                    let followed = LiveMatch::from_snapshot(*scoreboard, status, stale);
                    self.matches.update(|m| {
                        m.insert(match_id, followed);
                    });
                }
            }
            ServerMessage::Event {
                match_id,
                status,
                event,
                ..
            } => self.apply_event(&match_id, status, &event),
            ServerMessage::Stale { match_id, .. } => self.matches.update(|m| {
                if let Some(followed) = m.get_mut(&match_id) {
                    followed.stale = true;
                }
            }),
            // Not known yet (the match has not started, or stream-stats is still restoring
            // after a restart): ask again shortly, for as long as the page wants it.
            ServerMessage::NotFound { match_id } => self.retry_later(match_id),
            ServerMessage::Error { .. } => {}
        }
    }

    fn queue_summary(&self, summary: MatchSummary) {
        self.pending.update_value(|pending| {
            pending.insert(summary.match_id.clone(), summary);
        });
        if self.flush_scheduled.get_value() {
            return;
        }
        self.flush_scheduled.set_value(true);
        #[cfg(feature = "hydrate")]
        {
            let live = *self;
            request_animation_frame(move || live.flush_summaries());
        }
        #[cfg(not(feature = "hydrate"))]
        self.flush_summaries();
    }

    /// Folds the queued summaries into the list in one update; a summary older than what the
    /// list holds (a full list arrived since) is dropped.
    pub fn flush_summaries(&self) {
        self.flush_scheduled.set_value(false);
        let pending = std::mem::take(&mut *self.pending.write_value());
        if pending.is_empty() {
            return;
        }
        self.summaries.update(|list| {
            let Some(list) = list else { return };
            for (id, summary) in pending {
                if list
                    .get(&id)
                    .is_none_or(|held| held.last_seq <= summary.last_seq)
                {
                    list.insert(id, summary);
                }
            }
        });
    }

    fn apply_event(&self, match_id: &str, status: String, event: &cricket::Event) {
        let mut resync = false;
        self.matches.update(|m| {
            let Some(followed) = m.get_mut(match_id) else {
                return;
            };
            match followed.board.apply(event) {
                Ok(cricket::scoreboard::Applied::Changed) => {
                    followed.status = status;
                    followed.stale = false;
                    if matches!(event.payload, Payload::Delivery(_))
                        && let Some(ball) = followed
                            .board
                            .current_innings()
                            .and_then(|innings| innings.recent.back())
                    {
                        followed.feed.push_front(ball.clone());
                        followed.feed.truncate(FEED_LENGTH);
                    }
                }
                Ok(cricket::scoreboard::Applied::Duplicate) => {}
                Err(ApplyError::Gap { .. } | ApplyError::Contract { .. }) => {
                    followed.stale = true;
                    resync = true;
                }
                Err(ApplyError::WrongMatch { .. }) => {}
            }
        });
        if resync {
            self.resync(match_id);
        }
    }

    fn retry_later(&self, match_id: String) {
        #[cfg(feature = "hydrate")]
        {
            /// How long to wait before asking again for a match the server does not know.
            const NOT_FOUND_RETRY_MS: u64 = 1_000;
            let live = *self;
            set_timeout(
                move || {
                    if live.wants.get_untracked().matches.contains(&match_id) {
                        live.resync(&match_id);
                    }
                },
                std::time::Duration::from_millis(NOT_FOUND_RETRY_MS),
            );
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = match_id;
    }

    /// Starts the connection (in the browser; nothing on the server).
    pub fn connect(&self) {
        #[cfg(feature = "hydrate")]
        socket::connect(*self);
    }
}

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

/// Delay before reconnect attempt `attempt` (1-based): doubling from half a second to ten,
/// with up to a quarter of it added at random (`jitter` in 0..1) so a restarted server is not
/// hit by every browser in the same millisecond.
pub fn backoff_ms(attempt: u32, jitter: f64) -> u32 {
    let base = 500u32.saturating_mul(1 << attempt.saturating_sub(1).min(5));
    let base = base.min(10_000);
    base + (f64::from(base) * 0.25 * jitter.clamp(0.0, 1.0)) as u32
}

#[cfg(feature = "hydrate")]
mod socket {
    //! The one WebSocket of the page, held by the browser's single thread.

    use std::cell::RefCell;
    use std::time::Duration;

    use cricket::live::ClientMessage;
    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{CloseEvent, MessageEvent, WebSocket};

    use super::{Connection, Live, backoff_ms};

    thread_local! {
        static SOCKET: RefCell<Option<WebSocket>> = const { RefCell::new(None) };
        static ATTEMPT: RefCell<u32> = const { RefCell::new(0) };
    }

    fn url() -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/api/live/ws", location.host().ok()?))
    }

    pub(super) fn send(message: &ClientMessage) {
        SOCKET.with(|socket| {
            if let Some(socket) = socket.borrow().as_ref()
                && socket.ready_state() == WebSocket::OPEN
                && let Ok(text) = serde_json::to_string(message)
            {
                let _ = socket.send_with_str(&text);
            }
        });
    }

    pub(super) fn connect(live: Live) {
        let already = SOCKET.with(|socket| socket.borrow().is_some());
        if already {
            return;
        }
        open(live);
    }

    fn open(live: Live) {
        let Some(url) = url() else { return };
        let socket = match WebSocket::new(&url) {
            Ok(socket) => socket,
            Err(_) => {
                retry(live);
                return;
            }
        };

        let on_open = Closure::<dyn FnMut()>::new(move || {
            ATTEMPT.with(|attempt| *attempt.borrow_mut() = 0);
            live.connection.set(Connection::Live);
            if let Some(subscribe) = live.wants().subscribe_all() {
                send(&subscribe);
            }
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string()
                && let Some(message) = super::parse_server_message(text.as_bytes())
            {
                live.receive(message);
            }
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
            SOCKET.with(|socket| socket.borrow_mut().take());
            retry(live);
        });
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();

        SOCKET.with(|slot| *slot.borrow_mut() = Some(socket));
    }

    fn retry(live: Live) {
        let attempt = ATTEMPT.with(|attempt| {
            let mut attempt = attempt.borrow_mut();
            *attempt += 1;
            *attempt
        });
        let delay = backoff_ms(attempt, js_sys::Math::random());
        live.connection.set(Connection::Reconnecting {
            attempt,
            retry_in_ms: delay,
        });
        set_timeout(move || open(live), Duration::from_millis(u64::from(delay)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real match's events, from data/cricsheet.
    fn real_match(id: &str) -> Vec<cricket::Event> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../data/cricsheet/{id}.json"));
        let bytes = std::fs::read(&path).expect("match file");
        cricket::cricsheet::import(id, &format!("{id}.json"), &bytes).expect("import")
    }

    /// Every kind of server message, built from a real match, reads back as itself.
    #[test]
    fn server_messages_parse_without_loss() {
        let events = real_match("1144504");
        let half = events.len() / 2;
        let board = Scoreboard::from_events("1144504", &events[..half]).expect("engine");
        let messages = vec![
            ServerMessage::Matches {
                matches: vec![board.summary()],
            },
            ServerMessage::Summary {
                summary: board.summary(),
            },
            ServerMessage::Snapshot {
                match_id: "1144504".into(),
                stale: true,
                status: board.status(),
                scoreboard: Box::new(board.clone()),
            },
            ServerMessage::Event {
                match_id: "1144504".into(),
                seq: events[half].seq,
                status: "status".into(),
                event: Box::new(events[half].clone()),
                ingested_at_ms: Some(1_764_000_000_000),
            },
            ServerMessage::Event {
                match_id: "1144504".into(),
                seq: events[0].seq,
                status: String::new(),
                event: Box::new(events[0].clone()),
                ingested_at_ms: None,
            },
            ServerMessage::Stale {
                match_id: "m".into(),
                reason: "gap".into(),
            },
            ServerMessage::NotFound {
                match_id: "m".into(),
            },
            ServerMessage::Error {
                message: "bad".into(),
            },
        ];
        for message in messages {
            let json = serde_json::to_vec(&message).expect("json");
            assert_eq!(parse_server_message(&json), Some(message));
        }
        assert_eq!(parse_server_message(br#"{"type":"nonsense"}"#), None);
        assert_eq!(parse_server_message(br#"{"type":"snapshot"}"#), None);
        assert_eq!(parse_server_message(b"not json"), None);
    }

    /// The page's state follows the server by `seq`: events fold in with the engine, repeats
    /// change nothing, a gap marks the match stale, and an older summary never replaces a newer.
    #[test]
    fn live_state_reconciles_by_seq() {
        let events = real_match("1144504");
        let half = events.len() / 2;
        let board = Scoreboard::from_events("1144504", &events[..half]).expect("engine");
        let owner = Owner::new();
        owner.with(|| {
            let live = Live::new();
            live.follow_match("1144504");
            live.receive(ServerMessage::Snapshot {
                match_id: "1144504".into(),
                stale: false,
                status: board.status(),
                scoreboard: Box::new(board.clone()),
            });
            let event = |i: usize| ServerMessage::Event {
                match_id: "1144504".into(),
                seq: events[i].seq,
                status: format!("after {i}"),
                event: Box::new(events[i].clone()),
                ingested_at_ms: None,
            };
            let seq = || live.matches.with_untracked(|m| m["1144504"].board.last_seq);
            live.receive(event(half));
            live.receive(event(half + 1));
            assert_eq!(seq(), events[half + 1].seq);
            live.receive(event(half));
            assert_eq!(seq(), events[half + 1].seq, "a repeat changes nothing");
            live.receive(event(half + 5));
            assert_eq!(seq(), events[half + 1].seq, "a gap is not applied");
            assert!(live.matches.with_untracked(|m| m["1144504"].stale));
            let engine = Scoreboard::from_events("1144504", &events[..half + 2]).expect("engine");
            assert_eq!(
                live.matches.with_untracked(|m| m["1144504"].board.clone()),
                engine
            );

            live.follow_list();
            let mut summary = board.summary();
            live.receive(ServerMessage::Matches {
                matches: vec![summary.clone()],
            });
            summary.last_seq += 2;
            live.receive(ServerMessage::Summary {
                summary: summary.clone(),
            });
            let mut older = summary.clone();
            older.last_seq -= 1;
            live.receive(ServerMessage::Summary { summary: older });
            let held = live
                .summaries
                .with_untracked(|l| l.as_ref().map(|l| l["1144504"].last_seq));
            assert_eq!(held, Some(summary.last_seq));
        });
    }

    #[test]
    fn backoff_doubles_to_a_ceiling_and_jitters_upwards() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(2, 0.0), 1_000);
        assert_eq!(backoff_ms(4, 0.0), 4_000);
        assert_eq!(backoff_ms(6, 0.0), 10_000);
        assert_eq!(backoff_ms(60, 0.0), 10_000);
        assert_eq!(backoff_ms(1, 1.0), 625);
        assert_eq!(backoff_ms(0, 0.0), 500);
    }

    #[test]
    fn resubscribing_restores_every_subscription() {
        let mut wants = Wants::default();
        assert_eq!(wants.subscribe_all(), None);
        wants.list = true;
        wants.matches.insert("m2".into());
        wants.matches.insert("m1".into());
        assert_eq!(
            wants.subscribe_all(),
            Some(ClientMessage::Subscribe {
                list: true,
                matches: vec!["m1".into(), "m2".into()],
            })
        );
    }
}
