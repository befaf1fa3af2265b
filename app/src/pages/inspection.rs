use leptos::prelude::*;

use super::inspection_review::InspectionJudging;
use crate::api::inspections::{inspection, InspectionView, ShareInspection};
use crate::layout::Frame;
use crate::live::follow_job;
use store::{JobEvent, JobState};

/// One inspection: the template and the test image side by side, the reply streaming in token
/// by token, then the verdict.
#[component]
pub fn InspectionPage() -> impl IntoView {
    let id = super::use_id_param();
    let ended = RwSignal::new(0u32);
    let view_of = Resource::new(move || (id(), ended.get()), |(id, _)| inspection(id));
    view! {
        <Frame>
            <p><a href="/inspect">"← Inspect another image"</a></p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || view_of.get().map(|r| match r {
                    Ok(v) => view! { <Inspection v ended/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}

#[component]
fn Inspection(v: InspectionView, ended: RwSignal<u32>) -> impl IntoView {
    let id = v.job.id;
    let text = RwSignal::new(v.text.clone());
    let state = RwSignal::new(v.job.state);
    if v.job.state.is_live() {
        follow_job(id, v.last_seq, move |e| match e {
            JobEvent::Text { text: piece } => {
                state.set(JobState::Running);
                text.update(|t| t.push_str(&piece));
            }
            JobEvent::End { state: s, .. } => {
                state.set(s);
                ended.update(|n| *n += 1);
            }
            _ => {}
        });
    }
    let verdict = v.verdict.clone().unwrap_or_default();
    view! {
        <h1>{format!("Inspection #{id}")}</h1>
        <p>{format!("{} · prompt {}", v.model, v.prompt)}</p>
        <p class="muted" id="job-device">{format!("device {}", v.ran_on.clone().unwrap_or(v.device.clone()))}</p>
        <div class="side-by-side">
            {v.template_url.clone().map(|u| view! {
                <figure><img src=u alt="template image" id="template-image"/><figcaption>"Template (normal)"</figcaption></figure>
            })}
            <figure><img src=v.image_url.clone() alt="test image" id="test-image"/><figcaption>"Test image"</figcaption></figure>
        </div>
        <p id="inspect-state" data-state=move || state.get().as_str()>{move || state.get().as_str()}</p>
        <pre class="reply" id="reply">{move || text.get()}</pre>
        {(!verdict.is_empty()).then(|| view! {
            <p>"Verdict: " <strong id="verdict" class=format!("verdict verdict-{verdict}")>{verdict.clone()}</strong>
                {v.new_tokens.map(|n| format!(" · {n} tokens"))}
                {v.latency_ms.map(|ms| format!(" · {:.1} s", ms as f64 / 1000.0))}
            </p>
        })}
        {v.job.error.clone().map(|e| view! { <p class="error" role="alert" id="inspect-job-error">{e}</p> })}
        {(v.job.state == JobState::Succeeded).then(|| view! { <InspectionJudging id/> })}
        <Sharing id shared=v.shared_with.clone()/>
    }
}

/// Who else sees this inspection (its owner and admins always do); the owner adds and removes
/// people here.
#[component]
fn Sharing(id: i64, shared: Vec<String>) -> impl IntoView {
    let share = ServerAction::<ShareInspection>::new();
    let names = RwSignal::new(shared);
    Effect::new(move || {
        if let Some(Ok(list)) = share.value().get() {
            names.set(list);
        }
    });
    view! {
        <section class="card" id="sharing">
            <h2>"Shared with"</h2>
            {move || {
                let list = names.get();
                if list.is_empty() {
                    view! { <p class="empty">"Nobody else: only you and the admins see it."</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain" id="shared-with">
                            {list.into_iter().map(|name| {
                                let who = name.clone();
                                view! {
                                    <li>{name}" "
                                        <button class="unshare" on:click=move |_| {
                                            share.dispatch(ShareInspection { id, username: who.clone(), share: false });
                                        }>"Remove"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
            <ActionForm action=share attr:class="inline" attr:id="share-form">
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="share" value="true"/>
                <label>"Username " <input type="text" name="username" required maxlength="64"/></label>
                <button type="submit" disabled=move || share.pending().get()>"Share"</button>
            </ActionForm>
            {move || share.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        </section>
    }
}
