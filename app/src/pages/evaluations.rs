use leptos::prelude::*;

use crate::api::accounts::me;
use crate::api::evaluations::{evaluations, EvalRun, LaunchEvaluation};
use crate::api::prompts::{eval_choices, list_prompts, AddPrompt, Choices, DeletePrompt};
use crate::layout::{format_time, Frame};
use store::Role;

/// Evaluation runs: the list (tick runs to compare them), the launch form (members), and the
/// prompt library (built-in prompts and the team's own).
#[component]
pub fn EvaluationsPage() -> impl IntoView {
    let launch = ServerAction::<LaunchEvaluation>::new();
    let runs = Resource::new(move || launch.version().get(), |_| evaluations());
    // Reviewers see the runs shared with them; launching and prompts are for members.
    let user = Resource::new(|| (), |_| me());
    view! {
        <Frame>
            <h1>"Evaluations"</h1>
            <p class="muted">"Each run judges every test image of a split with each prompt and scores the verdicts per anomaly type (the paper's Table 1) and the explanations of correctly detected anomalies with BERTScore (Table 2)."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || runs.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No evaluation runs yet."</p> }.into_any(),
                    Ok(list) => view! { <RunList list/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || user.get().and_then(Result::ok).filter(|u| u.role != Role::Reviewer).map(|_| view! {
                    <Launch launch/>
                    <Prompts/>
                })}
            </Transition>
        </Frame>
    }
}

#[component]
fn Launch(launch: ServerAction<LaunchEvaluation>) -> impl IntoView {
    let choices = Resource::new(|| (), |_| eval_choices());
    view! {
        <section class="card">
            <h2>"Launch an evaluation"</h2>
            <Transition fallback=|| ()>
                {move || choices.get().and_then(Result::ok).map(|c| view! { <LaunchForm choices=c launch/> })}
            </Transition>
            {move || launch.value().get().map(|r| match r {
                Ok(id) => view! { <p id="eval-launched">"Queued as " <a href=format!("/evaluations/{id}")>{format!("run #{id}")}</a></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert" id="eval-error">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}

#[component]
fn RunList(list: Vec<EvalRun>) -> impl IntoView {
    view! {
        <form method="get" action="/compare" id="compare-form">
            <table class="grid" id="eval-runs">
                <thead><tr><th>"Compare"</th><th>"Run"</th><th>"State"</th><th>"Progress"</th><th>"Model"</th><th>"Data"</th><th>"Prompts"</th><th>"By"</th><th>"Created (UTC)"</th></tr></thead>
                <tbody>
                    {list.into_iter().map(|r| {
                        let id = r.job.id;
                        view! {
                            <tr data-run=id data-state=r.job.state.as_str()>
                                <td><input type="checkbox" name="id" value=id aria-label=format!("compare run {id}")/></td>
                                <td><a href=format!("/evaluations/{id}")>{format!("#{id}")}</a></td>
                                <td title=r.job.error.clone().unwrap_or_default()>{r.job.state.as_str()}</td>
                                <td><progress max="100" value=(r.job.progress * 100.0).round()></progress></td>
                                <td>{r.model}</td>
                                <td>{format!("{} / {}{}", r.dataset, r.split, r.limit.map(|n| format!(" (first {n})")).unwrap_or_default())}</td>
                                <td>{r.prompts.join(", ")}</td>
                                <td class="muted">{r.job.owner}</td>
                                <td>{format_time(r.job.created_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <button type="submit">"Compare the ticked runs"</button>
        </form>
    }
}

#[component]
fn LaunchForm(choices: Choices, launch: ServerAction<LaunchEvaluation>) -> impl IntoView {
    let prompt_names: Vec<String> = choices.prompts.iter().map(|p| p.name.clone()).collect();
    view! {
        <ActionForm action=launch attr:id="eval-form" attr:class="stack">
            <fieldset class="inline">
                <label>"Model " <select name="form[model]" required>
                    {choices.models.iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view()}
                </select></label>
                <label>"Dataset " <select name="form[dataset]" required>
                    {choices.datasets.iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()}
                </select></label>
                <label>"Split key " <input type="text" name="form[split]" list="eval-splits" required size="24"
                    value=choices.splits.first().map(|s| s.1.clone()).unwrap_or_default()/></label>
                <datalist id="eval-splits">{choices.splits.iter().map(|(d, k)| view! { <option value=k.clone()>{d.clone()}</option> }).collect_view()}</datalist>
            </fieldset>
            <fieldset class="inline">
                <label>"Prompts (comma-separated) " <input type="text" name="form[prompts]" value="plain,P1,P2,P3" size="30"/></label>
                <span class="muted">{format!("available: {}", prompt_names.join(", "))}</span>
                <label>"Limit (empty: all test images) " <input type="text" name="form[limit]" size="5"/></label>
                <label>"Template seed " <input type="text" name="form[seed]" value="0" size="4"/></label>
                <label>"Fixed template image id " <input type="text" name="form[template]" size="6" placeholder="auto"/></label>
                <label>"Max new tokens " <input type="text" name="form[max_new_tokens]" value="256" size="5"/></label>
                <label title="InternVL cuts each image into tiles; fewer tiles keep two images within the context">"Tiles per image (InternVL) " <input type="text" name="form[max_patches]" size="3" placeholder="model"/></label>
            </fieldset>
            <button type="submit" id="eval-launch" disabled=move || launch.pending().get()>"Start evaluation"</button>
        </ActionForm>
    }
}

/// The prompt library: built-in prompts verbatim, the team's prompts, and a form for a new one.
#[component]
fn Prompts() -> impl IntoView {
    let add = ServerAction::<AddPrompt>::new();
    let delete = ServerAction::<DeletePrompt>::new();
    let prompts = Resource::new(
        move || (add.version().get(), delete.version().get()),
        |_| list_prompts(),
    );
    view! {
        <section class="card" id="prompts">
            <h2>"Prompts"</h2>
            <p class="muted">"Every prompt is sent with one more line asking for a final \"Verdict: normal\" or \"Verdict: anomalous\", which is how the verdict is read."</p>
            <Transition fallback=|| ()>
                {move || prompts.get().and_then(Result::ok).map(|list| view! {
                    <table class="grid">
                        <thead><tr><th>"Name"</th><th>"CoI"</th><th>"Text"</th><th>"Author"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|p| view! {
                                <tr data-prompt=p.name.clone()>
                                    <td><strong>{p.name.clone()}</strong></td>
                                    <td>{if p.chain_of_image { "yes" } else { "no" }}</td>
                                    <td class="prompt-text">{p.text.clone()}</td>
                                    <td class="muted">{p.author.clone()}</td>
                                    <td>{p.id.map(|id| view! {
                                        <button type="button" on:click=move |_| { delete.dispatch(DeletePrompt { id }); }>"Delete"</button>
                                    })}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                })}
            </Transition>
            <ActionForm action=add attr:id="prompt-form" attr:class="stack">
                <label>"Name " <input type="text" name="name" required size="20"/></label>
                <label>"Text " <textarea name="text" rows="3" cols="80" required></textarea></label>
                <label><input type="checkbox" name="chain_of_image" value="true" checked/>" Chain-of-Image (the template image goes first)"</label>
                <button type="submit">"Save prompt"</button>
            </ActionForm>
            {move || add.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert" id="prompt-error">{e.to_string()}</p> })}
            {move || delete.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        </section>
    }
}
