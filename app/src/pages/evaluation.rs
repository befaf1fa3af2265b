use std::collections::HashMap;

use leptos::prelude::*;

use super::delete_run::DeleteRun;
use super::job::{JobActions, JobControls, JobPage};
use super::run_review::RunReviewCard;
use crate::api::evaluations::{evaluation, Accuracies, EvalDetail, Naming, PromptResult};
use crate::live::follow_job;
use review::HumanScores;
use store::{JobEvent, JobState};

/// A percentage with one decimal, or "n/a" (no image of that kind).
pub fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}", 100.0 * x))
        .unwrap_or_else(|| "n/a".into())
}

fn ratio(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into())
}

/// Reviewers' figures of one prompt, if any.
fn human_for(human: Option<&[(String, HumanScores)]>, prompt: &str) -> Option<HumanScores> {
    human?
        .iter()
        .find(|(p, _)| p == prompt)
        .map(|(_, s)| s.clone())
}

/// A human-judged share with the number of judgements behind it: "75.0 (n=8)".
fn human_cell(v: Option<f64>, n: usize) -> String {
    match v {
        Some(_) => format!("{} (n={n})", pct(v)),
        None => "n/a".into(),
    }
}

/// A share with its counts, "62.5 (5/8)", or "n/a" when nothing was counted.
pub fn share((part, of): (usize, usize)) -> String {
    if of == 0 {
        "n/a".into()
    } else {
        format!("{} ({part}/{of})", pct(Some(part as f64 / of as f64)))
    }
}

/// One evaluation run: progress while it runs; Table 1 and Table 2 layouts, the Figure-3 bar
/// chart, per-category scores, confusion counts, downloads, and a per-image browser.
#[component]
pub fn EvaluationPage() -> impl IntoView {
    view! { <JobPage fetch=evaluation body=|d, controls| view! { <Run d controls/> }.into_any()/> }
}

#[component]
fn Run(d: EvalDetail, controls: JobControls) -> impl IntoView {
    let id = d.run.job.id;
    let state = RwSignal::new(d.run.job.state);
    let done = RwSignal::new((d.predictions.len(), 0usize));
    if d.run.job.state.is_live() {
        follow_job(id, d.last_seq, move |e| match e {
            JobEvent::Prediction(p) => {
                state.set(JobState::Running);
                done.set((p.done, p.total));
            }
            JobEvent::End { state: s, .. } => {
                state.set(s);
                controls.job_ended();
            }
            _ => {}
        });
    }
    let run = d.run.clone();
    let manage = d.can_manage;
    let stored = d.predictions.len();
    let judgements = d.human.as_ref().map_or(0, |h| h.overall.judgements);
    let results = d.results.clone();
    let human = d
        .human
        .as_ref()
        .filter(|h| h.overall.judgements > 0)
        .map(|h| h.per_prompt.clone());
    view! {
        <h1>{format!("Evaluation #{id}")}</h1>
        <p>{format!("{} on {} / {} (test side{}) · prompts {}", run.model, run.dataset, run.split,
            run.limit.map(|n| format!(", {n} images")).unwrap_or_default(), run.prompts.join(", "))}</p>
        <p class="muted" id="job-device">{format!("device {}", d.ran_on.clone().unwrap_or(run.device.clone()))}</p>
        {run.usage.map(|(p, c)| view! {
            <p class="muted" id="eval-usage">{format!("tokens: {p} prompt + {c} completion{}",
                run.cost_usd.map(|usd| format!(" · cost ${usd:.4}")).unwrap_or_default())}</p>
        })}
        <p id="eval-state" data-state=move || state.get().as_str()>
            {move || {
                let (n, t) = done.get();
                if t > 0 { format!("{} · {n}/{t} predictions", state.get()) } else { format!("{} · {n} predictions stored", state.get()) }
            }}
        </p>
        {run.job.error.clone().map(|e| view! { <p class="error" role="alert" id="eval-job-error">{e}</p> })}
        {manage.then(|| view! {
            <JobActions id state controls prefix="eval" resume_label="Resume (keeps the stored predictions)"/>
        })}
        {move || (manage && !state.get().is_live()).then(|| view! {
            <DeleteRun id predictions=stored judgements/>
        })}
        <p class="actions">
            <a href=format!("/api/evaluations/{id}.csv") download id="download-csv">"Download CSV"</a>
            " · "
            <a href=format!("/api/evaluations/{id}.json") download id="download-json">"Download JSON"</a>
        </p>
        <h2>"Table 1: accuracy (%)"</h2>
        <Table1 results=results.clone() human=human.clone()/>
        <h2>"Accuracy by prompt (as the paper's Figure 3)"</h2>
        <BarChart results=results.clone()/>
        <h2>"Table 2: BERTScore of explanations (correctly detected anomalies)"</h2>
        <Table2 results=results.clone() human=human.clone()/>
        <p class="muted" id="naming-note">"Names defect: explanations that name the annotated defect (its words or their synonyms), of those whose QA annotation names one. Location agrees: explanations whose location words (left, top, centre, corner…) fit the annotated region, of those with a region and such words."</p>
        <p class="muted" id="bertscore-hash">{run.bertscore.clone().unwrap_or_else(|| "BERTScore: computed when the run ends".into())}</p>
        <RunReviewCard id/>
        <h2>"Confusion counts"</h2>
        <Confusion results=results.clone()/>
        <h2>"Per category"</h2>
        <PerCategory results=results.clone()/>
        <h2>"Images"</h2>
        // Erased: the browser's row type on top of the page's overflows rustc's query depth in
        // the wasm release build.
        {view! { <Browser d/> }.into_any()}
    }
}

/// Table 1's layout, with Good-Acc and balanced accuracy added.
#[component]
pub fn Table1(
    results: Vec<PromptResult>,
    /// Reviewers' figures per prompt, when the run has judgements: a human-judged verdict
    /// accuracy column beside the computed ones.
    #[prop(optional_no_strip)]
    human: Option<Vec<(String, HumanScores)>>,
) -> impl IntoView {
    let has_human = human.is_some();
    let human_of = move |prompt: &str| human_for(human.as_deref(), prompt);
    view! {
        <table class="grid numbers" id="table1">
            <thead><tr><th>"Method"</th><th>"Logical-Acc"</th><th>"Struct-Acc"</th><th>"Average"</th><th>"Good-Acc"</th><th>"Balanced"</th><th>"Images"</th>
                {has_human.then(|| view! { <th title="verdicts judged right by reviewers, of those judged right or wrong">"Human verdict-Acc"</th> })}</tr></thead>
            <tbody>
                {results.into_iter().map(|r| {
                    let a = r.overall;
                    let h = human_of(&r.prompt);
                    view! {
                        <tr data-prompt=r.prompt.clone()>
                            <td>{r.method}</td>
                            <td data-col="logical">{pct(a.logical)}</td>
                            <td data-col="structural">{pct(a.structural)}</td>
                            <td data-col="average">{pct(a.average)}</td>
                            <td data-col="good">{pct(a.good)}</td>
                            <td data-col="balanced">{pct(a.balanced)}</td>
                            <td>{r.images}</td>
                            {has_human.then(|| view! { <td data-col="human-verdict">{human_cell(h.as_ref().and_then(|h| h.verdict_accuracy), h.as_ref().map_or(0, |h| h.judgements))}</td> })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Table 2's layout (F1 × 100), with P, R, how many explanations were scored, diversity, and
/// whether the explanations name the defect and place it where its region is.
#[component]
pub fn Table2(
    results: Vec<PromptResult>,
    /// Reviewers' figures per prompt: explanations judged correct beside BERTScore.
    #[prop(optional_no_strip)]
    human: Option<Vec<(String, HumanScores)>>,
) -> impl IntoView {
    let has_human = human.is_some();
    let human_of = move |prompt: &str| human_for(human.as_deref(), prompt);
    view! {
        <table class="grid numbers" id="table2">
            <thead><tr><th>"Method"</th><th>"BERTScore"</th>
                {has_human.then(|| view! {
                    <th title="explanations judged correct by reviewers">"Human: correct"</th>
                    <th title="judged correct or partly correct">"Correct + partly"</th>
                    <th title="mean 1-5 quality score">"Score"</th>
                })}
                <th>"P"</th><th>"R"</th><th>"Scored"</th><th>"Distinct-1"</th><th>"Distinct-2"</th><th>"Self-BLEU"</th><th>"Names defect"</th><th>"Location agrees"</th></tr></thead>
            <tbody>
                {results.into_iter().map(|r| {
                    let h = human_of(&r.prompt);
                    view! {
                    <tr data-prompt=r.prompt.clone()>
                        <td>{r.method}</td>
                        <td data-col="f1">{pct(r.bert_f1)}</td>
                        {has_human.then(|| {
                            let n = h.as_ref().map_or(0, |h| h.judgements);
                            view! {
                                <td data-col="human-correct">{human_cell(h.as_ref().and_then(|h| h.explanation_correct), n)}</td>
                                <td data-col="human-partly">{human_cell(h.as_ref().and_then(|h| h.explanation_correct_or_partly), n)}</td>
                                <td data-col="human-score">{h.as_ref().and_then(|h| h.mean_score).map_or("n/a".into(), |s| format!("{s:.2}"))}</td>
                            }
                        })}
                        <td>{pct(r.bert_p)}</td>
                        <td>{pct(r.bert_r)}</td>
                        <td>{r.bert_n}</td>
                        <td>{ratio(r.distinct_1)}</td>
                        <td>{ratio(r.distinct_2)}</td>
                        <td>{ratio(r.self_bleu)}</td>
                        <td data-col="named">{share(r.naming.named)}</td>
                        <td data-col="location">{share(r.naming.location)}</td>
                    </tr>
                }}).collect_view()}
            </tbody>
        </table>
    }
}

/// Grouped bars per prompt: logical, structural and good accuracy (Figure 3 of the paper).
#[component]
pub fn BarChart(results: Vec<PromptResult>) -> impl IntoView {
    const H: f64 = 200.0;
    const TOP: f64 = 10.0;
    const BASE: f64 = 170.0;
    const LEFT: f64 = 40.0;
    const BAR: f64 = 18.0;
    const GROUP: f64 = 3.0 * BAR + 24.0;
    let w = LEFT + GROUP * results.len().max(1) as f64 + 10.0;
    let y = |v: f64| BASE - (BASE - TOP) * v;
    let series = [("logical", 0usize), ("structural", 1), ("good", 2)];
    view! {
        <figure class="chart">
            <svg id="accuracy-chart" viewBox=format!("0 0 {w} {H}") width=w height=H role="img" aria-label="accuracy by prompt">
                {[0.0, 0.5, 1.0].into_iter().map(|v| view! {
                    <line x1=LEFT y1=y(v) x2=w - 10.0 y2=y(v) class="gridline"/>
                    <text x=LEFT - 4.0 y=y(v) + 4.0 text-anchor="end" class="tick">{format!("{:.0}", v * 100.0)}</text>
                }).collect_view()}
                {results.iter().enumerate().map(|(g, r)| {
                    let x0 = LEFT + 12.0 + GROUP * g as f64;
                    let values = [r.overall.logical, r.overall.structural, r.overall.good];
                    view! {
                        {series.iter().map(|&(name, k)| {
                            let v = values[k];
                            let h = v.map(|v| BASE - y(v)).unwrap_or(0.0);
                            view! {
                                <rect x=x0 + BAR * k as f64 y=BASE - h width=BAR - 2.0 height=h class=format!("bar bar-{name}")
                                    data-prompt=r.prompt.clone() data-series=name data-value=pct(v)>
                                    <title>{format!("{}: {name} {}", r.prompt, pct(v))}</title>
                                </rect>
                            }
                        }).collect_view()}
                        <text x=x0 + 1.5 * BAR y=BASE + 16.0 text-anchor="middle" class="tick">{r.prompt.clone()}</text>
                    }
                }).collect_view()}
            </svg>
            <figcaption>
                <span class="swatch bar-logical"></span>" logical "
                <span class="swatch bar-structural"></span>" structural "
                <span class="swatch bar-good"></span>" good (no false positive)"
            </figcaption>
        </figure>
    }
}

#[component]
fn Confusion(results: Vec<PromptResult>) -> impl IntoView {
    view! {
        <table class="grid numbers" id="confusion">
            <thead>
                <tr><th rowspan="2">"Prompt"</th><th colspan="3">"Anomalous images judged"</th><th colspan="3">"Normal images judged"</th></tr>
                <tr><th>"anomalous"</th><th>"normal"</th><th>"undecided"</th><th>"anomalous"</th><th>"normal"</th><th>"undecided"</th></tr>
            </thead>
            <tbody>
                {results.into_iter().map(|r| {
                    let a = r.overall;
                    let name = r.prompt.clone();
                    view! {
                        <tr data-prompt=name>
                            <td>{r.prompt}</td>
                            <td>{a.true_positives}</td><td>{a.false_negatives}</td><td>{a.undecided_anomalies}</td>
                            <td>{a.false_positives}</td><td>{a.true_negatives}</td><td>{a.undecided_normals}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn counted(v: Option<f64>, (c, t): (usize, usize)) -> String {
    if t == 0 {
        "n/a".into()
    } else {
        format!("{} ({c}/{t})", pct(v))
    }
}

#[component]
fn PerCategory(results: Vec<PromptResult>) -> impl IntoView {
    view! {
        <table class="grid numbers" id="per-category">
            <thead><tr><th>"Prompt"</th><th>"Category"</th><th>"Logical-Acc"</th><th>"Struct-Acc"</th><th>"Average"</th><th>"Good-Acc"</th><th>"Balanced"</th><th>"Names defect"</th><th>"Location agrees"</th></tr></thead>
            <tbody>
                {results.into_iter().flat_map(|r| {
                    let prompt = r.prompt.clone();
                    let naming: HashMap<String, Naming> = r.naming_per_category.into_iter().collect();
                    r.per_category.into_iter().map(move |(cat, a): (String, Accuracies)| {
                        let n = naming.get(&cat).copied().unwrap_or_default();
                        let key = cat.clone();
                        view! {
                            <tr data-prompt=prompt.clone() data-category=key>
                                <td>{prompt.clone()}</td>
                                <td>{cat}</td>
                                <td>{counted(a.logical, a.counts[0])}</td>
                                <td>{counted(a.structural, a.counts[1])}</td>
                                <td>{pct(a.average)}</td>
                                <td>{counted(a.good, a.counts[2])}</td>
                                <td>{pct(a.balanced)}</td>
                                <td data-col="named">{share(n.named)}</td>
                                <td data-col="location">{share(n.location)}</td>
                            </tr>
                        }
                    })
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Every prediction with its images, reference answers and explanation; filter by prompt, by
/// label, and to wrong verdicts only.
#[component]
fn Browser(d: EvalDetail) -> impl IntoView {
    let refs: HashMap<i64, Vec<String>> = d.references.into_iter().collect();
    let preds = d.predictions;
    let prompts = d.run.prompts.clone();
    let only_wrong = RwSignal::new(false);
    let prompt = RwSignal::new(String::new());
    let label = RwSignal::new(String::new());
    let correct = |p: &store::PredictionRecord| match p.verdict.as_str() {
        "anomalous" => p.label != "good",
        "normal" => p.label == "good",
        _ => false,
    };
    view! {
        <div class="inline" id="browser-filters">
            <label><input type="checkbox" id="only-wrong" on:change=move |e| only_wrong.set(event_target_checked(&e))/>" wrong verdicts only"</label>
            <label>"Prompt " <select on:change=move |e| prompt.set(event_target_value(&e))>
                <option value="">"all"</option>
                {prompts.into_iter().map(|p| view! { <option value=p.clone()>{p.clone()}</option> }).collect_view()}
            </select></label>
            <label>"Label " <select on:change=move |e| label.set(event_target_value(&e))>
                <option value="">"all"</option><option value="good">"good"</option><option value="logical">"logical"</option><option value="structural">"structural"</option>
            </select></label>
        </div>
        <table class="grid" id="predictions">
            <thead><tr><th>"Images (template, test)"</th><th>"Truth"</th><th>"Prompt"</th><th>"Verdict"</th><th>"Explanation"</th><th>"Reference answers"</th><th>"BERTScore F1"</th><th>"Against the annotation"</th></tr></thead>
            <tbody>
                {preds.into_iter().map(|p| {
                    let ok = correct(&p);
                    let (pp, pl) = (p.prompt.clone(), p.label.clone());
                    let shown = move || (!only_wrong.get() || !ok)
                        && (prompt.get().is_empty() || prompt.get() == pp)
                        && (label.get().is_empty() || label.get() == pl);
                    let answers = refs.get(&p.image_id).cloned().unwrap_or_default();
                    view! {
                        <tr class:wrong=!ok class:hidden=move || !shown() data-correct=ok.to_string() data-image=p.image_id>
                            <td class="pair">
                                {p.template_id.map(|t| view! { <a href=format!("/images/{t}")><img class="mini" src=format!("/files/thumbs/{t}") alt="template"/></a> })}
                                <a href=format!("/images/{}", p.image_id)><img class="mini" src=format!("/files/thumbs/{}", p.image_id) alt=p.rel_path.clone()/></a>
                            </td>
                            <td>{format!("{} · {}", p.category, p.label)}</td>
                            <td>{p.prompt.clone()}</td>
                            <td class=format!("verdict verdict-{}", p.verdict)>{p.verdict.clone()}</td>
                            <td class="explanation">
                                {p.explanation.clone()}
                                <details><summary>"raw output"</summary><pre>{p.raw.clone()}</pre></details>
                                {p.served.clone().map(|s| view! {
                                    <p class="muted served">{served_line(&s, p.latency_ms, p.prompt_tokens, p.new_tokens)}</p>
                                })}
                            </td>
                            <td><ul class="plain">{answers.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}</ul></td>
                            <td>{pct(p.bert_f1)}</td>
                            <td class="check">{p.check.map(check_lines)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// A checked explanation's lines: whether it names the defect, and how its location words
/// compare with the annotated region.
fn check_lines(c: store::ExplanationCheck) -> AnyView {
    view! {
        <ul class="plain">
            {c.names_defect.map(|n| view! {
                <li data-named=n.to_string()>{format!("names the defect: {}", if n { "yes" } else { "no" })}</li>
            })}
            {c.location.map(|l| view! {
                <li data-location=l.describe()>{format!("location: {}", l.describe())}</li>
            })}
        </ul>
    }
    .into_any()
}

/// A remote reply's server details: who answered, how fast, what it counted.
fn served_line(s: &store::ServedBy, latency_ms: i64, prompt: i64, completion: i64) -> String {
    let mut parts = Vec::new();
    if let Some(m) = &s.model {
        parts.push(format!("answered by {m}"));
    }
    if let Some(t) = s.first_token_ms {
        parts.push(format!("first token {t} ms"));
    }
    parts.push(format!("{latency_ms} ms in all"));
    parts.push(format!("{prompt} + {completion} tokens"));
    if let Some(f) = &s.fingerprint {
        parts.push(f.clone());
    }
    parts.join(" · ")
}
