use leptos::prelude::*;

use crate::api::accounts::{home_summary, Overview};
use crate::layout::{format_time, Frame};

/// Home: the compute device, known models and datasets, and recent jobs.
#[component]
pub fn HomePage() -> impl IntoView {
    let summary = Resource::new(|| (), |_| home_summary());
    view! {
        <Frame>
            <h1>"Overview"</h1>
            <section class="cards" id="start-here">
                <a class="card link" href="/inspect"><h2>"Inspect"</h2><p>"Put one image in front of a model: upload one or pick a demo image, choose a prompt, read the explanation as it is written."</p></a>
                <a class="card link" href="/evaluations"><h2>"Evaluations"</h2><p>"Judge a split's test images with each prompt: accuracy per anomaly type, BERTScore of explanations, the paper's tables."</p></a>
                <a class="card link" href="/training"><h2>"Training"</h2><p>"Part A: LoRA fine-tuning on the QA annotations, with a live loss curve."</p></a>
            </section>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || summary.get().map(|r| match r {
                    Ok(s) => view! { <Summary s/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Frame>
    }
}

#[component]
fn Summary(s: Overview) -> impl IntoView {
    let models = if s.models.is_empty() {
        view! { <p class="empty">"No models registered yet."</p> }.into_any()
    } else {
        view! {
            <ul class="plain">
                {s.models.into_iter().map(|m| view! {
                    <li><strong>{m.name}</strong>" · "{m.kind}
                        // Paths reach admins only (the server blanks them for others).
                        {(!m.path.is_empty()).then(|| view! { " · "<code>{m.path}</code> })}
                    </li>
                }).collect_view()}
            </ul>
        }
        .into_any()
    };
    let datasets = if s.datasets.is_empty() {
        view! { <p class="empty">"No datasets imported yet."</p> }.into_any()
    } else {
        view! {
            <ul class="plain">
                {s.datasets.into_iter().map(|d| view! {
                    <li><strong>{d.name}</strong>" · "{d.layout}" · "{d.image_count}" images"</li>
                }).collect_view()}
            </ul>
        }
        .into_any()
    };
    let jobs = if s.jobs.is_empty() {
        view! { <p class="empty">"No jobs have run yet."</p> }.into_any()
    } else {
        view! {
            <table class="grid">
                <thead><tr><th>"#"</th><th>"Kind"</th><th>"State"</th><th>"Progress"</th><th>"Owner"</th><th>"Created (UTC)"</th></tr></thead>
                <tbody>
                    {s.jobs.into_iter().map(|j| view! {
                        <tr>
                            <td>{j.id}</td>
                            <td>{j.kind.as_str()}</td>
                            <td class=format!("state state-{}", j.state) title=j.error.clone().unwrap_or_default()>{j.state.as_str()}</td>
                            <td>{format!("{:.0}%", j.progress * 100.0)}</td>
                            <td>{j.owner}</td>
                            <td>{format_time(j.created_at)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="cards">
            <div class="card">
                <h2>"Compute device"</h2>
                <p id="device">{s.device}</p>
                <p class="muted">"vlm-inspect " {s.version}</p>
            </div>
            <div class="card"><h2>"Models"</h2>{models}</div>
            <div class="card"><h2>"Datasets"</h2>{datasets}</div>
        </section>
        <section>
            <h2>"Recent jobs"</h2>
            {jobs}
        </section>
    }
}
