use leptos::prelude::*;

use crate::api::inspections::{inspection, InspectionView};
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
    }
}
