//! The review card of a run's page: progress, what the judgements measure (agreement between
//! reviewers, BERTScore against people), exports, who reviews it and how, and the corrected
//! explanations an admin promotes to QA annotations.

use leptos::prelude::*;
use review::QueueOrder;

use super::evaluation::pct;
use super::review_sharing::ReviewSharing;
use crate::api::reviews::{review_overview, PromoteFix, RunReviewView, SetReviewSettings};

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.3}"))
}

/// Shown when the caller may read the run's reviews; nothing otherwise.
#[component]
pub fn RunReviewCard(id: i64) -> impl IntoView {
    let changed = RwSignal::new(0u32);
    // Kept out here so the settings stay open while the card is redrawn after a change.
    let open = RwSignal::new(false);
    let view_of = Resource::new(move || changed.get(), move |_| review_overview(id));
    view! {
        <Transition fallback=|| ()>
            {move || view_of.get().and_then(Result::ok).map(|v| view! { <Card id v changed open/> })}
        </Transition>
    }
}

#[component]
fn Card(id: i64, v: RunReviewView, changed: RwSignal<u32>, open: RwSignal<bool>) -> impl IntoView {
    let p = v.progress.clone();
    let r = v.review.clone();
    let a = r.agreement.clone();
    let m = r.metric.clone();
    let tags: Vec<(review::ReviewTag, usize)> = r
        .overall
        .tags
        .iter()
        .filter(|(_, n)| *n > 0)
        .cloned()
        .collect();
    view! {
        <section class="card" id="review-card">
            <h2>"Review"</h2>
            <p id="review-card-progress">{format!("{} of {} judgements given ({} of {} items complete) · {}",
                p.given, p.needed, p.complete, p.items,
                if p.per_reviewer.is_empty() { "no reviewer yet".to_string() } else {
                    p.per_reviewer.iter().map(|(n, c)| format!("{n}: {c}")).collect::<Vec<_>>().join(", ") })}
                {v.can_review.then(|| view! { " · " <a class="button" id="review-start" href=format!("/review/{id}")>"Review this run"</a> })}
            </p>
            {(r.overall.judgements > 0).then(|| view! {
                <table class="grid numbers" id="review-figures">
                    <thead><tr><th>"Prompt"</th><th>"Items"</th><th>"Judgements"</th><th>"Verdict-Acc"</th><th>"Explanation correct"</th><th>"Correct + partly"</th><th>"Mean score"</th><th>"Label flags"</th></tr></thead>
                    <tbody>
                        {r.per_prompt.iter().cloned().chain(std::iter::once(("all".to_string(), r.overall.clone()))).map(|(prompt, h)| view! {
                            <tr data-prompt=prompt.clone()>
                                <td>{prompt.clone()}</td><td>{h.items}</td><td>{h.judgements}</td>
                                <td>{pct(h.verdict_accuracy)}</td><td>{pct(h.explanation_correct)}</td>
                                <td>{pct(h.explanation_correct_or_partly)}</td>
                                <td>{h.mean_score.map_or("n/a".into(), |s| format!("{s:.2}"))}</td>
                                <td>{h.label_flags}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <p id="review-tags">{if tags.is_empty() { "No tags given.".to_string() } else {
                    format!("Tags: {}", tags.iter().map(|(t, n)| format!("{} {n}", t.label())).collect::<Vec<_>>().join(", ")) }}</p>
                <p id="review-agreement" data-items=a.items>
                    {format!("Agreement on {} item(s) judged more than once ({} reviewers): Cohen's κ verdict {}, explanation {} · Krippendorff's α verdict {}, explanation {}, score (ordinal) {}",
                        a.items, a.reviewers, num(a.kappa_verdict), num(a.kappa_explanation),
                        num(a.alpha_verdict), num(a.alpha_explanation), num(a.alpha_score))}
                </p>
                <p id="review-metric" data-n=m.n>
                    {format!("BERTScore F1 against the reviewers' score, over {} item(s): Spearman ρ {}, Kendall τ-b {}",
                        m.n, num(m.spearman), num(m.kendall))}
                </p>
                <p class="actions">
                    <a href=format!("/api/reviews/{id}.csv") download id="review-csv">"Judgements CSV"</a>
                    " · "
                    <a href=format!("/api/reviews/{id}.json") download id="review-json">"Judgements JSON"</a>
                </p>
            })}
            {v.can_manage.then(|| view! { <Settings id v=v.clone() changed open/> })}
            {(!v.fixes.is_empty()).then(|| view! { <Fixes fixes=v.fixes.clone() can_promote=v.can_promote changed/> })}
        </section>
    }
}

/// Who reviews the run and how (its owner and admins).
#[component]
fn Settings(
    id: i64,
    v: RunReviewView,
    changed: RwSignal<u32>,
    open: RwSignal<bool>,
) -> impl IntoView {
    let set = ServerAction::<SetReviewSettings>::new();
    Effect::new(move || {
        if matches!(set.value().get(), Some(Ok(()))) {
            changed.update(|n| *n += 1);
        }
    });
    let plan = v.settings.plan;
    view! {
        <details id="review-settings" prop:open=move || open.get_untracked()
            on:toggle=move |ev| open.set(event_target::<web_sys::HtmlDetailsElement>(&ev).open())>
            <summary>"Who reviews, and how"</summary>
            <ActionForm action=set attr:id="review-plan-form">
                <input type="hidden" name="id" value=id/>
                <label>"Judgements per item " <input type="number" name="form[judgements]" min="1" max="5" value=plan.judgements/></label>
                " "
                <label>"Blind second judgement for (%) " <input type="number" name="form[overlap_percent]" min="0" max="100" step="any" value=100.0 * plan.overlap/></label>
                " "
                <label>"Order "
                    <select name="form[order]">
                        {QueueOrder::ALL.into_iter().map(|o| view! {
                            <option value=o.as_str() selected=o == plan.order>{match o {
                                QueueOrder::WrongFirst => "wrong verdicts first",
                                QueueOrder::UncertainFirst => "undecided, then wrong first",
                                QueueOrder::Random => "seeded random",
                            }}</option>
                        }).collect_view()}
                    </select>
                </label>
                " "
                <label>"Seed " <input type="number" name="form[seed]" min="0" value=plan.seed/></label>
                " "
                <label><input type="checkbox" name="form[open_to_all]" checked=v.settings.open_to_all/>" every reviewer may review"</label>
                " "
                <button type="submit" disabled=move || set.pending().get()>"Save"</button>
            </ActionForm>
            {move || set.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            <ReviewSharing id shared_with=v.settings.shared_with.clone() changed/>
        </details>
    }
}

/// Corrected explanations ("fix & accept"), and for admins the button that makes one a QA
/// annotation.
#[component]
fn Fixes(fixes: Vec<store::FixInfo>, can_promote: bool, changed: RwSignal<u32>) -> impl IntoView {
    let promote = ServerAction::<PromoteFix>::new();
    Effect::new(move || {
        if let Some(Ok(_)) = promote.value().get() {
            changed.update(|n| *n += 1);
        }
    });
    view! {
        <h3>"Corrected explanations"</h3>
        <ul class="plain" id="review-fixes">
            {fixes.into_iter().map(|f| {
                let j = f.judgement_id;
                view! {
                    <li data-judgement=j>
                        <a href=format!("/images/{}", f.image_id)>{f.rel_path.clone()}</a>
                        {format!(" · {} · by {}: ", f.prompt, f.reviewer)}
                        <del>{f.original.clone()}</del>" → "<ins>{f.fixed.clone()}</ins>
                        {match f.qa_id {
                            Some(q) => view! { <span class="muted">{format!(" · QA annotation #{q}")}</span> }.into_any(),
                            None if can_promote => view! {
                                " " <button type="button" class="promote" on:click=move |_| { promote.dispatch(PromoteFix { judgement: j }); }>"Make it a QA annotation"</button>
                            }.into_any(),
                            None => ().into_any(),
                        }}
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || promote.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}
