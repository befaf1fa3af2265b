//! `/review`: the runs the signed-in user may review, with how far each has come, the
//! drafting jobs whose drafts are shared with them to decide, and the inspections shared with
//! them to judge.

use leptos::prelude::*;

use crate::api::drafts::shared_drafting_jobs;
use crate::api::inspection_reviews::shared_inspections;
use crate::api::reviews::review_runs;
use crate::layout::Frame;

#[component]
pub fn ReviewsPage() -> impl IntoView {
    let runs = Resource::new(|| (), |_| review_runs());
    let drafting = Resource::new(|| (), |_| shared_drafting_jobs());
    let inspections = Resource::new(|| (), |_| shared_inspections());
    view! {
        <Frame>
            <h1>"Review"</h1>
            <p class="muted">"Judge what the models said: each run's queue shows one prediction at a time, keyboard first."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || runs.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty" id="no-review-runs">"No run is shared with you for review yet."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="grid" id="review-runs">
                            <thead><tr><th>"Run"</th><th>"Model"</th><th>"Dataset"</th><th>"Prompts"</th><th>"Given / needed"</th><th>"Left for you"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|r| view! {
                                    <tr data-run=r.id>
                                        <td><a href=format!("/evaluations/{}", r.id)>{format!("#{}", r.id)}</a></td>
                                        <td>{r.model}</td>
                                        <td>{r.dataset}</td>
                                        <td>{r.prompts.join(", ")}</td>
                                        <td>{format!("{} / {}", r.progress.given, r.progress.needed)}</td>
                                        <td>{r.progress.left_for_me}</td>
                                        <td><a class="button" href=format!("/review/{}", r.id)>"Review"</a></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || drafting.get().map(|r| match r {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => view! {
                        <h2>"Drafted annotations to decide"</h2>
                        <table class="grid" id="review-drafts">
                            <thead><tr><th>"Job"</th><th>"Model"</th><th>"Dataset"</th><th>"Decided / drafts"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|d| view! {
                                    <tr data-job=d.job.id>
                                        <td>{format!("#{}", d.job.id)}</td>
                                        <td>{d.model}</td>
                                        <td>{d.dataset}</td>
                                        <td>{format!("{} / {}", d.progress.total - d.progress.pending, d.progress.total)}</td>
                                        <td><a class="button" href=format!("/drafts/{}", d.job.id)>"Decide"</a></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || inspections.get().map(|r| match r {
                    Ok(list) if list.is_empty() => ().into_any(),
                    Ok(list) => view! {
                        <h2>"Inspections shared with you"</h2>
                        <table class="grid" id="review-inspections">
                            <thead><tr><th>"Inspection"</th><th>"Shared by"</th><th>"Judged"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|i| view! {
                                    <tr data-job=i.job_id>
                                        <td><a href=format!("/inspect/{}", i.job_id)>{format!("#{}", i.job_id)}</a></td>
                                        <td>{i.owner}</td>
                                        <td>{if i.judged { "yes" } else { "not yet" }}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}
