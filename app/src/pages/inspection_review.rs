//! The judgement card of an inspection's page: whoever may see a finished inspection judges
//! its verdict and explanation (as a run's items are judged), and sees the others' judgements
//! once theirs is in; the owner and admins see them all.

use leptos::prelude::*;
use review::{ExplanationCall, Judgement, ReviewTag, VerdictCall};
use store::{InspectionReview, JudgementInfo};

use crate::api::inspection_reviews::{load_inspection_review, JudgeInspection};

/// One judgement in words: "right · partly correct · 3/5 · vague — comment".
fn summary(j: &Judgement) -> String {
    let mut s = format!(
        "verdict {} · explanation {} · {}/5",
        j.verdict,
        j.explanation,
        j.score.get()
    );
    if !j.tags.is_empty() {
        let tags: Vec<&str> = j.tags.iter().map(|t| t.label()).collect();
        s.push_str(&format!(" · {}", tags.join(", ")));
    }
    if !j.comment.is_empty() {
        s.push_str(&format!(" — {}", j.comment));
    }
    s
}

#[component]
pub fn InspectionJudging(id: i64) -> impl IntoView {
    let changed = RwSignal::new(0u32);
    let review = Resource::new(move || changed.get(), move |_| load_inspection_review(id));
    view! {
        <section class="card" id="inspection-review">
            <h2>"Judgements"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || review.get().map(|r| match r {
                    Ok(r) => view! { <Judging id r changed/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Judging(id: i64, r: InspectionReview, changed: RwSignal<u32>) -> impl IntoView {
    let judge = ServerAction::<JudgeInspection>::new();
    Effect::new(move || {
        if let Some(Ok(_)) = judge.value().get() {
            changed.update(|n| *n += 1);
        }
    });
    let mine = r.mine.clone();
    let start = mine.as_ref().map(|m| m.judgement.clone());
    let tags = RwSignal::new(start.as_ref().map(|j| j.tags.clone()).unwrap_or_default());
    let verdict = start.as_ref().map_or(VerdictCall::Right, |j| j.verdict);
    let explanation = start
        .as_ref()
        .map_or(ExplanationCall::Correct, |j| j.explanation);
    let score = start.as_ref().map_or(3, |j| j.score.get());
    let hidden = r
        .judgements
        .saturating_sub(r.others.len() + usize::from(mine.is_some()));
    view! {
        <p class="muted" id="inspection-judgement-count">{format!("{} judgement(s)", r.judgements)}
            {(hidden > 0).then(|| format!("; {hidden} by others, shown once yours is in"))}
        </p>
        <ul class="plain" id="inspection-judgements">
            {r.others.iter().map(|j: &JudgementInfo| view! {
                <li><strong>{j.reviewer.clone()}</strong>": "{summary(&j.judgement)}
                    {j.judgement.fixed_explanation.clone().map(|f| view! { <blockquote>{f}</blockquote> })}
                </li>
            }).collect_view()}
        </ul>
        {mine.as_ref().map(|m| view! {
            <p id="inspection-mine">{format!("Yours (version {}): {}", m.version, summary(&m.judgement))}</p>
        })}
        <ActionForm action=judge attr:id="inspection-judge-form">
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="form[version]" value=mine.as_ref().map(|m| m.version.to_string()).unwrap_or_default()/>
            <fieldset>
                <legend>"The verdict is"</legend>
                {[VerdictCall::Right, VerdictCall::Wrong].into_iter().map(|v| view! {
                    <label><input type="radio" name="form[verdict]" value=v.as_str() checked=v == verdict/>{format!(" {v} ")}</label>
                }).collect_view()}
            </fieldset>
            <fieldset>
                <legend>"The explanation is"</legend>
                {ExplanationCall::ALL.iter().map(|&e| view! {
                    <label><input type="radio" name="form[explanation]" value=e.as_str() checked=e == explanation/>{format!(" {e} ")}</label>
                }).collect_view()}
            </fieldset>
            <label>"Quality (1–5) "
                <select name="form[score]">
                    {(1..=5u8).map(|s| view! { <option value=s.to_string() selected=s == score>{s.to_string()}</option> }).collect_view()}
                </select>
            </label>
            <fieldset>
                <legend>"Why it falls short"</legend>
                {ReviewTag::ALL.iter().map(|&t| view! {
                    <label><input type="checkbox" prop:checked=move || tags.with(|l| l.contains(&t))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            tags.update(|l| { l.retain(|x| *x != t); if on { l.push(t); } });
                        }/>{format!(" {} ", t.label())}</label>
                }).collect_view()}
                <input type="hidden" name="form[tags]" prop:value=move || tags.with(|l| Judgement::tags_text(l))/>
            </fieldset>
            <label class="block">"Comment "
                <textarea name="form[comment]" rows="2" maxlength=review::MAX_COMMENT_CHARS>{start.as_ref().map(|j| j.comment.clone())}</textarea>
            </label>
            <label class="block">"Corrected explanation (empty: the model's stands) "
                <textarea name="form[fixed_explanation]" rows="2" maxlength=review::MAX_FIX_CHARS>{start.as_ref().and_then(|j| j.fixed_explanation.clone())}</textarea>
            </label>
            <button type="submit" id="inspection-judge" disabled=move || judge.pending().get()>
                {if mine.is_some() { "Save my edit" } else { "Save my judgement" }}
            </button>
        </ActionForm>
        {move || judge.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert" id="inspection-judge-error">{e.to_string()}</p> })}
    }
}
