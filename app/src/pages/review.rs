//! The review screen: one prediction at a time, judged with the keyboard alone.
//!
//! Keys: `a` verdict right, `d` wrong, `f` the label is wrong; `c` explanation correct, `p`
//! partly, `x` wrong; `1`–`5` quality score; `t` then `1`–`7` toggles a tag; `e` fix & accept
//! (edit the explanation; Ctrl+Enter saves, Esc leaves the box); `m` comment; `Enter` saves
//! and moves on; `n`/`→` skips, `b`/`←` goes back; `z` full-size images, `o` the mask, `r`
//! the raw output; `?` this help.

use leptos::prelude::*;
use review::{ExplanationCall, ReviewTag, VerdictCall};
use store::ItemKey;

use crate::api::reviews::{load_review_item, JudgementForm, ReviewScreen, SaveJudgement};
use crate::layout::Frame;

/// `/review/:id`: run `id`'s queue for the signed-in reviewer.
#[component]
pub fn ReviewPage() -> impl IntoView {
    let id = super::use_id_param();
    let query = leptos_router::hooks::use_query_map();
    let start = query.with_untracked(|q| {
        let image = q.get("image").and_then(|s| s.parse::<i64>().ok())?;
        Some(ItemKey {
            image_id: image,
            prompt: q.get("prompt").unwrap_or_default(),
        })
    });
    // None: the queue's next open item. `reload` refetches when the key stays None.
    let current = RwSignal::new(start);
    let reload = RwSignal::new(0u32);
    let screen = Resource::new(
        move || (id(), current.get(), reload.get()),
        |(id, key, _)| async move {
            let (image, prompt) = match key {
                Some(k) => (Some(k.image_id), k.prompt),
                None => (None, String::new()),
            };
            load_review_item(id, image, prompt).await
        },
    );
    view! {
        <Frame>
            <p><a href=move || format!("/evaluations/{}", id())>"← Run"</a>" · "<a href="/review">"All review queues"</a></p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || screen.get().map(|r| match r {
                    Ok(Some(s)) => view! { <Screen s current reload/> }.into_any(),
                    Ok(None) => view! {
                        <h1>{format!("Review of run #{}", id())}</h1>
                        <p class="empty" id="review-done">"Nothing is left for you to review in this run. Thank you!"</p>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert" id="review-error">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}

fn verdict_key(k: &str) -> Option<VerdictCall> {
    match k {
        "a" => Some(VerdictCall::Right),
        "d" => Some(VerdictCall::Wrong),
        "f" => Some(VerdictCall::LabelWrong),
        _ => None,
    }
}

fn explanation_key(k: &str) -> Option<ExplanationCall> {
    match k {
        "c" => Some(ExplanationCall::Correct),
        "p" => Some(ExplanationCall::Partly),
        "x" => Some(ExplanationCall::Wrong),
        _ => None,
    }
}

/// Whether keys go to a text box rather than to the shortcuts.
pub(crate) fn typing() -> bool {
    document()
        .active_element()
        .map(|e| matches!(e.tag_name().as_str(), "TEXTAREA" | "INPUT" | "SELECT"))
        .unwrap_or(false)
}

pub(crate) fn focus(id: &str) {
    use wasm_bindgen::JsCast;
    if let Some(el) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

pub(crate) fn blur() {
    use wasm_bindgen::JsCast;
    if let Some(el) = document()
        .active_element()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.blur();
    }
}

#[component]
fn Screen(
    s: ReviewScreen,
    current: RwSignal<Option<ItemKey>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let item = s.item.clone();
    let mine = item.mine.clone();
    let run = item.job_id;
    let key = item.key.clone();
    let verdict = RwSignal::new(mine.as_ref().map(|m| m.judgement.verdict));
    let explanation = RwSignal::new(mine.as_ref().map(|m| m.judgement.explanation));
    let score = RwSignal::new(mine.as_ref().map(|m| m.judgement.score.get()));
    let tags = RwSignal::new(
        mine.as_ref()
            .map(|m| m.judgement.tags.clone())
            .unwrap_or_default(),
    );
    let comment = RwSignal::new(
        mine.as_ref()
            .map(|m| m.judgement.comment.clone())
            .unwrap_or_default(),
    );
    let fix = RwSignal::new(
        mine.as_ref()
            .and_then(|m| m.judgement.fixed_explanation.clone())
            .unwrap_or_default(),
    );
    let fixing = RwSignal::new(!fix.get_untracked().is_empty());
    let version = mine.as_ref().map(|m| m.version);
    let tag_mode = RwSignal::new(false);
    let full = RwSignal::new(false);
    let mask = RwSignal::new(false);
    let raw = RwSignal::new(false);
    let help = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let save = ServerAction::<SaveJudgement>::new();
    let next = s.next.clone();
    let previous = s.previous.clone();

    let go_next = {
        let next = next.clone();
        move || match next.clone() {
            Some(k) => current.set(Some(k)),
            None => {
                current.set(None);
                reload.update(|n| *n += 1);
            }
        }
    };
    Effect::new({
        let go_next = go_next.clone();
        move || match save.value().get() {
            Some(Ok(_)) => go_next(),
            Some(Err(e)) => problem.set(Some(e.to_string())),
            None => {}
        }
    });
    let submit = {
        let key = key.clone();
        move || {
            let (Some(v), Some(e), Some(sc)) = (verdict.get(), explanation.get(), score.get())
            else {
                problem.set(Some(
                    "Give the verdict (a/d/f), the explanation (c/p/x) and a score (1–5) first."
                        .into(),
                ));
                return;
            };
            problem.set(None);
            save.dispatch(SaveJudgement {
                id: run,
                image: key.image_id,
                prompt: key.prompt.clone(),
                form: JudgementForm {
                    verdict: v.as_str().into(),
                    explanation: e.as_str().into(),
                    score: sc.to_string(),
                    tags: review::Judgement::tags_text(&tags.get()),
                    comment: comment.get(),
                    fixed_explanation: if fixing.get() {
                        fix.get()
                    } else {
                        String::new()
                    },
                    version: version.map(|v| v.to_string()).unwrap_or_default(),
                },
            });
        }
    };
    let explanation_text = item.explanation.clone();
    let handle = window_event_listener(leptos::ev::keydown, {
        let submit = submit.clone();
        let go_next = go_next.clone();
        let previous = previous.clone();
        move |ev| {
            let k = ev.key();
            if typing() {
                if k == "Escape" {
                    blur();
                } else if k == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
                    ev.prevent_default();
                    blur();
                    submit();
                }
                return;
            }
            if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            if tag_mode.get_untracked() {
                tag_mode.set(false);
                if let Some(t) = k
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| ReviewTag::ALL.get(n.wrapping_sub(1)))
                {
                    tags.update(|list| {
                        if let Some(i) = list.iter().position(|x| x == t) {
                            list.remove(i);
                        } else {
                            list.push(*t);
                        }
                    });
                }
                ev.prevent_default();
                return;
            }
            let mut handled = true;
            if let Some(v) = verdict_key(&k) {
                verdict.set(Some(v));
            } else if let Some(e) = explanation_key(&k) {
                explanation.set(Some(e));
            } else if let Some(n) = k.parse::<u8>().ok().filter(|n| (1..=5).contains(n)) {
                score.set(Some(n));
            } else {
                match k.as_str() {
                    "t" => tag_mode.set(true),
                    "e" => {
                        if fix.get_untracked().is_empty() {
                            fix.set(explanation_text.clone());
                        }
                        fixing.set(true);
                        focus("fix");
                    }
                    "m" => focus("comment"),
                    "Enter" => submit(),
                    "n" | "ArrowRight" => go_next(),
                    "b" | "ArrowLeft" => {
                        if let Some(p) = previous.clone() {
                            current.set(Some(p));
                        }
                    }
                    "z" => full.update(|f| *f = !*f),
                    "o" => mask.update(|m| *m = !*m),
                    "r" => raw.update(|r| *r = !*r),
                    "?" => help.update(|h| *h = !*h),
                    _ => handled = false,
                }
            }
            if handled {
                ev.prevent_default();
            }
        }
    });
    on_cleanup(move || handle.remove());

    let image_id = key.image_id;
    let src = move |kind: &str, id: i64| {
        if full.get() || kind == "masks" {
            format!("/files/{kind}/{id}")
        } else {
            format!("/files/thumbs/{id}")
        }
    };
    let p = s.progress.clone();
    let label_anomalous = item.label != "good";
    view! {
        <h1>{format!("Review of run #{run}")}</h1>
        <p class="muted" id="review-progress">
            {format!("{} of {} judgements given · {} item(s) left for you · {}",
                p.given, p.needed, p.left_for_me,
                p.per_reviewer.iter().map(|(n, c)| format!("{n}: {c}")).collect::<Vec<_>>().join(", "))}
        </p>
        <section class="review" id="review-item" data-image=image_id data-prompt=key.prompt.clone()>
            <div class="side-by-side">
                {item.template_id.map(|t| view! {
                    <figure><img src=move || src("images", t) alt="template image" id="review-template"/>
                        <figcaption>"Template (normal)"</figcaption></figure>
                })}
                <figure class="masked">
                    <img src=move || src("images", image_id) alt="test image" id="review-image"/>
                    {item.has_mask.then(|| view! {
                        <img class="mask-overlay" src=move || src("masks", image_id) alt="defect mask"
                            id="review-mask" hidden=move || !mask.get()/>
                    })}
                    <figcaption>{format!("{} · {} · label {}", item.rel_path, item.category, item.label)}</figcaption>
                </figure>
            </div>
            <p>{format!("{} · prompt {} · ", item.model, item.key.prompt)}
                "model says " <strong id="review-model-verdict" class=format!("verdict verdict-{}", item.verdict)>{item.verdict.clone()}</strong>
                {format!(" · the label says {}", if label_anomalous { "anomalous" } else { "normal" })}
                {item.bert_f1.map(|f| format!(" · BERTScore F1 {f:.3}"))}
            </p>
            <blockquote id="review-explanation">{item.explanation.clone()}</blockquote>
            <pre class="reply" id="review-raw" hidden=move || !raw.get()>{item.raw.clone()}</pre>
            {(!item.references.is_empty()).then(|| view! {
                <details open><summary>"Reference answers"</summary>
                    <ul id="review-references">{item.references.iter().map(|r| view! { <li>{r.clone()}</li> }).collect_view()}</ul>
                </details>
            })}
            <div class="judgement" id="judgement">
                <p>"Verdict: "
                    {VerdictCall::ALL.iter().zip(["a", "d", "f"]).map(|(v, k)| {
                        let v = *v;
                        view! { <button type="button" class:chosen=move || verdict.get() == Some(v)
                            data-call=v.as_str() on:click=move |_| verdict.set(Some(v))>
                            {format!("{} [{k}]", match v { VerdictCall::Right => "right", VerdictCall::Wrong => "wrong", VerdictCall::LabelWrong => "the label is wrong" })}
                        </button> }
                    }).collect_view()}
                </p>
                <p>"Explanation: "
                    {ExplanationCall::ALL.iter().zip(["c", "p", "x"]).map(|(e, k)| {
                        let e = *e;
                        view! { <button type="button" class:chosen=move || explanation.get() == Some(e)
                            data-call=e.as_str() on:click=move |_| explanation.set(Some(e))>
                            {format!("{} [{k}]", e.as_str())}
                        </button> }
                    }).collect_view()}
                </p>
                <p>"Quality: "
                    {(1u8..=5).map(|n| view! {
                        <button type="button" class:chosen=move || score.get() == Some(n) data-score=n
                            on:click=move |_| score.set(Some(n))>{n.to_string()}</button>
                    }).collect_view()}
                </p>
                <p class:tag-mode=move || tag_mode.get()>"Tags [t, then 1–7]: "
                    {ReviewTag::ALL.iter().enumerate().map(|(i, t)| {
                        let t = *t;
                        view! { <button type="button" class:chosen=move || tags.get().contains(&t) data-tag=t.as_str()
                            on:click=move |_| tags.update(|l| if let Some(i) = l.iter().position(|x| *x == t) { l.remove(i); } else { l.push(t); })>
                            {format!("{} {}", i + 1, t.label())}
                        </button> }
                    }).collect_view()}
                </p>
                <label class="block" hidden=move || !fixing.get()>"Corrected explanation (fix & accept) [e; Ctrl+Enter saves]"
                    <textarea id="fix" rows="3" maxlength=review::MAX_FIX_CHARS
                        prop:value=move || fix.get() on:input=move |ev| fix.set(event_target_value(&ev))></textarea>
                </label>
                <label class="block">"Comment [m]"
                    <textarea id="comment" rows="2" maxlength=review::MAX_COMMENT_CHARS
                        prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev))></textarea>
                </label>
                <p class="actions">
                    <button type="button" id="review-save" disabled=move || save.pending().get()
                        on:click={let submit = submit.clone(); move |_| submit()}>
                        {if version.is_some() { "Save changes & next [Enter]" } else { "Save & next [Enter]" }}
                    </button>
                    " "
                    <button type="button" id="review-skip" on:click={let go_next = go_next.clone(); move |_| go_next()}>"Skip [n]"</button>
                    " "
                    <button type="button" id="review-back" disabled=previous.is_none()
                        on:click={let previous = previous.clone(); move |_| if let Some(p) = previous.clone() { current.set(Some(p)) }}>"Back [b]"</button>
                    " "
                    <button type="button" on:click=move |_| help.update(|h| *h = !*h)>"Keys [?]"</button>
                </p>
                {move || problem.get().map(|m| view! { <p class="error" role="alert" id="review-problem">{m}</p> })}
            </div>
            {(!item.others.is_empty()).then(|| view! {
                <details id="review-others"><summary>{format!("Other reviewers ({})", item.others.len())}</summary>
                    <ul>{item.others.iter().map(|o| view! {
                        <li>{format!("{}: verdict {}, explanation {}, score {}{}", o.reviewer, o.judgement.verdict,
                            o.judgement.explanation, o.judgement.score.get(),
                            if o.judgement.comment.is_empty() { String::new() } else { format!(" — {}", o.judgement.comment) })}</li>
                    }).collect_view()}</ul>
                </details>
            })}
            {(item.mine.is_none() && item.judged > 0).then(|| view! {
                <p class="muted" id="review-blind">"Another reviewer judged this item too; you see their judgement once yours is in."</p>
            })}
        </section>
        <aside class="card" id="review-help" hidden=move || !help.get()>
            <pre>{HELP}</pre>
        </aside>
        // The next item's images, fetched while this one is judged.
        {next.map(|k| view! { <link rel="prefetch" href=format!("/files/thumbs/{}", k.image_id)/> })}
    }
}

const HELP: &str = "a / d / f   verdict right / wrong / the label is wrong
c / p / x   explanation correct / partly / wrong
1 - 5       quality score
t, 1 - 7    toggle a tag
e           fix & accept: edit the explanation (Ctrl+Enter saves, Esc leaves the box)
m           comment
Enter       save and go on
n / →       skip
b / ←       back to the item you judged before
z / o / r   full-size images / mask / raw output";
