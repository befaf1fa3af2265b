//! What the evaluation and training run pages share: the frame, loading the job's detail again
//! whenever it is cancelled, resumed or ends, the cancel and resume buttons, and their errors.

use std::future::Future;

use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};
use store::JobState;

use crate::api::jobs::{CancelJob, ResumeJob};
use crate::layout::Frame;
use crate::ApiError;

/// The actions of a job page and a counter bumped when a followed job ends.
#[derive(Clone, Copy)]
pub struct JobControls {
    pub cancel: ServerAction<CancelJob>,
    pub resume: ServerAction<ResumeJob>,
    pub ended: RwSignal<u32>,
}

impl JobControls {
    fn new() -> Self {
        JobControls {
            cancel: ServerAction::new(),
            resume: ServerAction::new(),
            ended: RwSignal::new(0),
        }
    }

    /// Changes whenever the page should load its data again.
    fn version(self) -> (usize, usize, u32) {
        (
            self.cancel.version().get(),
            self.resume.version().get(),
            self.ended.get(),
        )
    }

    /// Tells the page that the followed job ended.
    pub fn job_ended(self) {
        self.ended.update(|n| *n += 1);
    }
}

/// A job page: the detail `fetch` loads for the id in the route, drawn by `body`.
#[component]
pub fn JobPage<F, Fut, T>(fetch: F, body: fn(T, JobControls) -> AnyView) -> impl IntoView
where
    F: Fn(i64) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ApiError>> + Send + 'static,
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let id = super::use_id_param();
    let controls = JobControls::new();
    let detail = Resource::new(move || (id(), controls.version()), move |(id, _)| fetch(id));
    let error = |e: ApiError| view! { <p class="error" role="alert">{e.to_string()}</p> };
    view! {
        <Frame>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || detail.get().map(|r| match r {
                    Ok(d) => body(d, controls),
                    Err(e) => error(e).into_any(),
                })}
            </Transition>
            {move || controls.cancel.value().get().and_then(Result::err).map(error)}
            {move || controls.resume.value().get().and_then(Result::err).map(error)}
        </Frame>
    }
}

/// Cancel while the job is queued or running, resume once it failed or was cancelled; the
/// buttons' ids are `cancel-{prefix}` and `resume-{prefix}`.
#[component]
pub fn JobActions(
    id: i64,
    state: RwSignal<JobState>,
    controls: JobControls,
    prefix: &'static str,
    resume_label: &'static str,
) -> impl IntoView {
    view! {
        <p class="actions">
            {move || state.get().is_live().then(|| view! {
                <button id=format!("cancel-{prefix}") on:click=move |_| { controls.cancel.dispatch(CancelJob { id }); }>"Cancel"</button>
            })}
            {move || state.get().is_resumable().then(|| view! {
                <button id=format!("resume-{prefix}") on:click=move |_| { controls.resume.dispatch(ResumeJob { id }); }>{resume_label}</button>
            })}
        </p>
    }
}
