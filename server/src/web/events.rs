//! `GET /api/jobs/{id}/events?after=N`: a job's progress events as server-sent events — the
//! stored ones after N first, then live ones until the job ends (the stream then closes).
//! Each event's id is its sequence number, so a reconnecting browser resumes where it was.

use std::convert::Infallible;

use app::ssr::{AppState, SessionUser};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream, StreamExt};
use jobs::LiveEvent;
use serde::Deserialize;
use store::JobEvent;
use tokio::sync::broadcast::error::RecvError;

#[derive(Debug, Deserialize)]
pub struct After {
    #[serde(default)]
    after: i64,
}

fn event(seq: i64, data: &str) -> Event {
    let e = Event::default().data(data);
    if seq > 0 {
        e.id(seq.to_string())
    } else {
        e
    }
}

pub async fn job_events(
    State(state): State<AppState>,
    Extension(session): Extension<SessionUser>,
    Path(id): Path<i64>,
    Query(q): Query<After>,
    headers: HeaderMap,
) -> Response {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(q.after);
    // Subscribe before reading what is stored, so nothing falls between the two.
    let live = state.jobs.events.subscribe();
    let missing = || (StatusCode::NOT_FOUND, format!("no job with id {id}")).into_response();
    let job = match state.store.job(id).await {
        Ok(j) => j,
        Err(_) => return missing(),
    };
    // An inspection's reply is its owner's (and whoever it is shared with); a reviewer sees
    // only the runs shared with them.
    let visible = match &session.user {
        Some(user) => state.store.may_see_job(user, id).await.unwrap_or(false),
        None => false,
    };
    if !visible {
        return missing();
    }
    let stored = match state.store.job_events(id, after).await {
        Ok(e) => e,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let last = stored.last().map(|(s, _)| *s).unwrap_or(after);
    let ended = job.state.is_ended();
    let end_notice = JobEvent::End {
        state: job.state,
        error: job.error.clone(),
    }
    .to_json();
    let mut first: Vec<Event> = stored.iter().map(|(s, d)| event(*s, d)).collect();
    if ended {
        first.push(event(0, &end_notice));
    }
    let head = stream::iter(first.into_iter().map(Ok::<_, Infallible>));
    let tail = if ended {
        stream::empty().boxed()
    } else {
        follow(live, id, last).boxed()
    };
    Sse::new(head.chain(tail))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Live events of job `id` newer than `last`, up to and including its end notice.
fn follow(
    rx: tokio::sync::broadcast::Receiver<LiveEvent>,
    id: i64,
    last: i64,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(
        (rx, last, false),
        move |(mut rx, mut last, done)| async move {
            if done {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok(e) if e.job == id && (e.seq == 0 || e.seq > last) => {
                        let end = e.seq == 0;
                        last = last.max(e.seq);
                        return Some((Ok(event(e.seq, &e.data)), (rx, last, end)));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    )
}
