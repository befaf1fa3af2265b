//! The drafts screen: a drafting job's drafts one at a time, decided with the keyboard alone.
//!
//! Keys: `a` accept the draft; `e` edit it (Ctrl+Enter saves the edit, Esc leaves the box);
//! `r` reject it (type the reason, Enter saves); `m` write your own answer instead (Ctrl+Enter
//! saves); `n`/`→` next, `b`/`←` previous; `o` the mask; `?` this help. A decision moves on to
//! the next draft nobody has decided.

use leptos::prelude::*;
use store::{DraftInfo, DraftStatus};

use super::review::{blur, focus, typing};
use super::review_sharing::ReviewSharing;
use crate::api::drafts::{load_draft_queue, DecideDraft, DecisionForm, DraftQueue};
use crate::layout::Frame;

/// `/drafts/:id`: drafting job `id`'s drafts.
#[component]
pub fn DraftsPage() -> impl IntoView {
    let id = super::use_id_param();
    let reload = RwSignal::new(0u32);
    // Kept here, not in the screen: a conflict reloads the queue, which builds a new screen, and
    // its message must outlive that.
    let problem = RwSignal::new(None::<String>);
    let queue = Resource::new(move || (id(), reload.get()), |(id, _)| load_draft_queue(id));
    view! {
        <Frame>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || queue.get().map(|r| match r {
                    Ok(q) => view! { <Screen q reload problem/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert" id="drafts-error">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}

/// The first draft nobody has decided at or after `from`, wrapping around; `from` when all are.
fn next_pending(drafts: &[DraftInfo], from: usize) -> usize {
    let n = drafts.len();
    (0..n)
        .map(|i| (from + i) % n.max(1))
        .find(|&i| drafts[i].status == DraftStatus::Pending)
        .unwrap_or(from.min(n.saturating_sub(1)))
}

/// What the text box is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writing {
    Nothing,
    Edit,
    Reason,
    Manual,
}

#[component]
fn Screen(
    q: DraftQueue,
    reload: RwSignal<u32>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let job = q.job.clone();
    let id = job.job.id;
    let drafts = RwSignal::new(q.drafts.clone());
    let pos = RwSignal::new(next_pending(&q.drafts, 0));
    let writing = RwSignal::new(Writing::Nothing);
    let text = RwSignal::new(String::new());
    let mask = RwSignal::new(false);
    let help = RwSignal::new(false);
    let decide = ServerAction::<DecideDraft>::new();
    let current = move || drafts.with(|d| d.get(pos.get()).cloned());

    let send = move |action: &str| {
        let Some(d) = current() else { return };
        problem.set(None);
        decide.dispatch(DecideDraft {
            draft: d.id,
            version: d.version,
            form: DecisionForm {
                action: action.into(),
                text: if action == "accept" {
                    String::new()
                } else {
                    text.get_untracked()
                },
            },
        });
    };
    Effect::new(move || match decide.value().get() {
        Some(Ok(saved)) => {
            let mut at = pos.get_untracked();
            drafts.update(|list| {
                if let Some(i) = list.iter().position(|d| d.id == saved.id) {
                    list[i] = saved.clone();
                    at = i;
                }
            });
            writing.set(Writing::Nothing);
            text.set(String::new());
            drafts.with_untracked(|list| pos.set(next_pending(list, (at + 1) % list.len().max(1))));
        }
        // A conflict says whose decision came first; the queue reloads with it.
        Some(Err(e)) => {
            problem.set(Some(e.to_string()));
            if matches!(e, crate::ApiError::Conflict(_)) {
                reload.update(|n| *n += 1);
            }
        }
        None => {}
    });
    let start_writing = move |what: Writing| {
        let Some(d) = current() else { return };
        text.set(match what {
            Writing::Edit => d.answer.clone().unwrap_or(d.draft.clone()),
            _ => String::new(),
        });
        writing.set(what);
        focus(if what == Writing::Reason {
            "draft-reason"
        } else {
            "draft-text"
        });
    };
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        let k = ev.key();
        if typing() {
            let save = match writing.get_untracked() {
                Writing::Reason => k == "Enter",
                Writing::Edit | Writing::Manual => k == "Enter" && (ev.ctrl_key() || ev.meta_key()),
                Writing::Nothing => false,
            };
            if k == "Escape" {
                blur();
                writing.set(Writing::Nothing);
            } else if save {
                ev.prevent_default();
                blur();
                send(match writing.get_untracked() {
                    Writing::Edit => "edit",
                    Writing::Reason => "reject",
                    _ => "manual",
                });
            }
            return;
        }
        if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        let n = drafts.with_untracked(|d| d.len());
        let mut handled = true;
        match k.as_str() {
            "a" => send("accept"),
            "e" => start_writing(Writing::Edit),
            "r" => start_writing(Writing::Reason),
            "m" => start_writing(Writing::Manual),
            "n" | "ArrowRight" => pos.update(|p| *p = (*p + 1).min(n.saturating_sub(1))),
            "b" | "ArrowLeft" => pos.update(|p| *p = p.saturating_sub(1)),
            "o" => mask.update(|m| *m = !*m),
            "?" => help.update(|h| *h = !*h),
            _ => handled = false,
        }
        if handled {
            ev.prevent_default();
        }
    });
    on_cleanup(move || handle.remove());

    let progress = move || {
        drafts.with(|d| {
            let decided = d
                .iter()
                .filter(|x| x.status != DraftStatus::Pending)
                .count();
            format!("{decided} of {} drafts decided", d.len())
        })
    };
    view! {
        <p><a href=format!("/datasets/{}", job.dataset)>{format!("← {}", job.dataset)}</a></p>
        <h1>{format!("Drafted annotations #{id}")}</h1>
        <p class="muted">{format!("{} on {} · job {}", job.model, job.dataset, job.job.state)}</p>
        <p class="muted" id="drafts-progress">{progress}</p>
        {q.can_share.then(|| view! {
            <details id="drafts-sharing">
                <summary>"Who decides these drafts"</summary>
                <p class="muted">"Members and admins always may; reviewers when shared with them here."</p>
                <ReviewSharing id shared_with=q.shared_with.clone() changed=reload/>
            </details>
        })}
        {move || match current() {
            None => view! { <p class="empty" id="drafts-none">"This job has no drafts yet."</p> }.into_any(),
            Some(d) => {
                let image = d.image_id;
                view! {
                    <section class="review" id="draft-item" data-draft=d.id data-status=d.status.as_str()>
                        <figure class="masked">
                            <img src=format!("/files/thumbs/{image}") alt="image" id="draft-image"/>
                            {d.has_mask.then(|| view! {
                                <img class="mask-overlay" src=format!("/files/masks/{image}") alt="defect mask"
                                    id="draft-mask" hidden=move || !mask.get()/>
                            })}
                            <figcaption>
                                <a href=format!("/images/{image}")>{d.rel_path.clone()}</a>
                                {format!(" · {} · label {}", d.category, d.label)}
                            </figcaption>
                        </figure>
                        <p><strong>"Question: "</strong>{d.question.clone()}</p>
                        <blockquote id="draft-text-shown">{d.draft.clone()}</blockquote>
                        <details><summary>"What the model was told"</summary><pre class="reply">{d.prompt.clone()}</pre></details>
                        <p id="draft-status" class=format!("status status-{}", d.status.as_str())>
                            {match d.status {
                                DraftStatus::Pending => "Nobody has decided yet.".to_string(),
                                s => format!("{s} by {} (version {}){}", d.decided_by.clone().unwrap_or_default(), d.version,
                                    d.answer.clone().or(d.reason.clone()).map(|t| format!(": {t}")).unwrap_or_default()),
                            }}
                        </p>
                        <p class="actions">
                            <button type="button" id="draft-accept" disabled=move || decide.pending().get() on:click=move |_| send("accept")>"Accept [a]"</button>
                            <button type="button" id="draft-edit" on:click=move |_| start_writing(Writing::Edit)>"Edit [e]"</button>
                            <button type="button" id="draft-reject" on:click=move |_| start_writing(Writing::Reason)>"Reject [r]"</button>
                            <button type="button" id="draft-manual" on:click=move |_| start_writing(Writing::Manual)>"Write my own [m]"</button>
                            <button type="button" on:click=move |_| help.update(|h| *h = !*h)>"Keys [?]"</button>
                        </p>
                    </section>
                }.into_any()
            }
        }}
        <label class="block" hidden=move || !matches!(writing.get(), Writing::Edit | Writing::Manual)>
            {move || if writing.get() == Writing::Edit { "Corrected answer (Ctrl+Enter saves)" } else { "Your answer (Ctrl+Enter saves)" }}
            <textarea id="draft-text" rows="3" maxlength=store::MAX_DRAFT_ANSWER
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
        </label>
        <label class="block" hidden=move || writing.get() != Writing::Reason>"Why it is rejected (Enter saves)"
            <input id="draft-reason" type="text" maxlength=store::MAX_DRAFT_REASON
                prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))/>
        </label>
        {move || problem.get().map(|m| view! { <p class="error" role="alert" id="draft-problem">{m}</p> })}
        <aside class="card" id="drafts-help" hidden=move || !help.get()><pre>{HELP}</pre></aside>
        // The next draft's image, fetched while this one is decided.
        {move || drafts.with(|d| d.get(pos.get() + 1).map(|n| view! { <link rel="prefetch" href=format!("/files/thumbs/{}", n.image_id)/> }))}
    }
}

const HELP: &str = "a          accept the draft
e          edit it (Ctrl+Enter saves, Esc leaves the box)
r          reject it (type why; Enter saves)
m          write your own answer instead (Ctrl+Enter saves)
n / →      next draft
b / ←      previous draft
o          the defect's mask";
