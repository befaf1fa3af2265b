use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::evaluations::{compare_evaluations, EvalRun, PromptResult};
use crate::layout::Frame;
use crate::pages::evaluation::{pct, share, BarChart};

/// Several evaluation runs side by side (`/compare?id=1&id=2`): one row per run and prompt,
/// as the paper's tables put methods under each other, and one bar chart over all of them.
#[component]
pub fn ComparePage() -> impl IntoView {
    let query = use_query_map();
    let ids = move || {
        let q = query.read();
        q.get_all("id").unwrap_or_default().join(",")
    };
    let runs = Resource::new(ids, compare_evaluations);
    view! {
        <Frame>
            <h1>"Compare evaluations"</h1>
            <p><a href="/evaluations">"← Evaluations"</a></p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || runs.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"Tick two or more runs on the Evaluations page to compare them."</p> }.into_any(),
                    Ok(list) => view! { <Comparison list/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}

#[component]
fn Comparison(list: Vec<(EvalRun, Vec<PromptResult>)>) -> impl IntoView {
    let rows: Vec<(EvalRun, PromptResult)> = list
        .iter()
        .flat_map(|(run, results)| results.iter().map(move |r| (run.clone(), r.clone())))
        .collect();
    let chart: Vec<PromptResult> = rows
        .iter()
        .map(|(run, r)| PromptResult {
            prompt: format!("#{} {}", run.job.id, r.prompt),
            ..r.clone()
        })
        .collect();
    view! {
        <table class="grid numbers" id="compare">
            <thead><tr><th>"Run"</th><th>"Method"</th><th>"Data"</th><th>"Logical-Acc"</th><th>"Struct-Acc"</th><th>"Average"</th><th>"Good-Acc"</th><th>"Balanced"</th><th>"BERTScore"</th><th>"Names defect"</th><th>"Distinct-2"</th><th>"Images"</th></tr></thead>
            <tbody>
                {rows.into_iter().map(|(run, r)| view! {
                    <tr data-run=run.job.id data-prompt=r.prompt.clone()>
                        <td><a href=format!("/evaluations/{}", run.job.id)>{format!("#{}", run.job.id)}</a></td>
                        <td>{r.method.clone()}</td>
                        <td>{format!("{} / {}", run.dataset, run.split)}</td>
                        <td>{pct(r.overall.logical)}</td>
                        <td>{pct(r.overall.structural)}</td>
                        <td>{pct(r.overall.average)}</td>
                        <td>{pct(r.overall.good)}</td>
                        <td>{pct(r.overall.balanced)}</td>
                        <td>{pct(r.bert_f1)}</td>
                        <td>{share(r.naming.named)}</td>
                        <td>{r.distinct_2.map(|d| format!("{d:.3}")).unwrap_or_else(|| "n/a".into())}</td>
                        <td>{r.images}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <BarChart results=chart/>
    }
}
