use leptos::prelude::*;

use crate::api::accounts::use_is_admin;
use crate::api::training::{
    training_choices, training_defaults, training_runs, LaunchTraining, TrainForm, TrainRun,
};
use crate::layout::Frame;

/// Part A training runs: everyone sees the list; admins launch runs with the form (the
/// paper's defaults filled in).
#[component]
pub fn TrainingPage() -> impl IntoView {
    let launch = ServerAction::<LaunchTraining>::new();
    let runs = Resource::new(move || launch.version().get(), |_| training_runs());
    let is_admin = use_is_admin();
    view! {
        <Frame>
            <h1>"Training"</h1>
            <p class="muted">"Part A of the paper: LoRA fine-tuning of a LLaVA model on the QA annotations of a split's training side (all normal training images and a fraction of the test anomalies)."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || runs.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No training runs yet."</p> }.into_any(),
                    Ok(list) => view! { <RunTable list/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            <Suspense fallback=|| ()>
                {move || is_admin().then(|| view! { <LaunchForm launch/> })}
            </Suspense>
        </Frame>
    }
}

#[component]
fn RunTable(list: Vec<TrainRun>) -> impl IntoView {
    view! {
        <table class="grid" id="training-runs">
            <thead><tr><th>"Run"</th><th>"State"</th><th>"Progress"</th><th>"Base model"</th><th>"Data"</th><th>"Epochs"</th><th>"Model produced"</th><th>"By"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|r| {
                    let id = r.job.id;
                    view! {
                        <tr data-run=id data-state=r.job.state.as_str()>
                            <td><a href=format!("/training/{id}")>{format!("#{id}")}</a></td>
                            <td>{r.job.state.as_str()}</td>
                            <td><progress max="100" value=(r.job.progress * 100.0).round()></progress></td>
                            <td>{r.base_model}</td>
                            <td>{format!("{} / {}", r.dataset, r.split)}</td>
                            <td>{r.epochs}</td>
                            <td>{r.model.unwrap_or_default()}</td>
                            <td class="muted">{r.job.owner}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// One labelled text input of the form, prefilled.
fn input(label: &'static str, field: &'static str, value: String) -> impl IntoView {
    view! {
        <label>{label} <input type="text" name=format!("form[{field}]") value=value size="12"/></label>
    }
}

#[component]
fn LaunchForm(launch: ServerAction<LaunchTraining>) -> impl IntoView {
    let defaults = Resource::new(|| (), |_| training_defaults());
    let choices = Resource::new(|| (), |_| training_choices());
    view! {
        <section class="card">
            <h2>"Launch a run"</h2>
            <Transition fallback=|| ()>
                {move || defaults.get().and_then(Result::ok).map(|d: TrainForm| view! {
                    <ActionForm action=launch attr:id="train-form" attr:class="stack">
                        <fieldset class="inline">
                            <legend>"Data and model"</legend>
                            <label>"Base model (registered name, LLaVA or InternVL folder)" <input type="text" name="form[base_model]" list="train-models" required size="30"/></label>
                            <label>"Dataset" <input type="text" name="form[dataset]" list="train-datasets" required/></label>
                            <label>"Split key" <input type="text" name="form[split]" list="train-splits" required size="24"/></label>
                            <label>"Name of the produced model (optional)" <input type="text" name="form[name]"/></label>
                            {input("Device", "device", d.device.clone())}
                            <label title="InternVL cuts each image into tiles; fewer tiles keep examples short">"Tiles per image (InternVL) " <input type="text" name="form[max_patches]" size="3" placeholder="model"/></label>
                        </fieldset>
                        <fieldset class="inline">
                            <legend>"Optimizer (AdamW, warm-up + cosine)"</legend>
                            {input("Epochs", "epochs", d.epochs.clone())}
                            {input("Learning rate", "learning_rate", d.learning_rate.clone())}
                            {input("Batch size", "batch_size", d.batch_size.clone())}
                            {input("Gradient accumulation", "grad_accum", d.grad_accum.clone())}
                            {input("Warm-up ratio", "warmup_ratio", d.warmup_ratio.clone())}
                            {input("Weight decay", "weight_decay", d.weight_decay.clone())}
                            {input("Max gradient norm", "max_grad_norm", d.max_grad_norm.clone())}
                            {input("Seed", "seed", d.seed.clone())}
                            {input("Checkpoint every N steps (0: each epoch)", "save_every_steps", d.save_every_steps.clone())}
                        </fieldset>
                        <fieldset class="inline">
                            <legend>"LoRA"</legend>
                            {input("Rank", "rank", d.rank.clone())}
                            {input("Alpha", "alpha", d.alpha.clone())}
                            {input("Dropout", "dropout", d.dropout.clone())}
                            <label>"Target modules" <input type="text" name="form[targets]" value=d.targets.clone() size="50"/></label>
                            <label><input type="checkbox" name="form[use_rslora]" value="true"/>" rsLoRA scaling"</label>
                            <label><input type="checkbox" name="form[train_projector]" value="true"/>" also train the projector"</label>
                        </fieldset>
                        <button type="submit" disabled=move || launch.pending().get()>"Start training"</button>
                        {move || choices.get().and_then(Result::ok).map(|c| view! {
                            <datalist id="train-models">{c.models.into_iter().map(|m| view! { <option value=m/> }).collect_view()}</datalist>
                            <datalist id="train-datasets">{c.datasets.into_iter().map(|d| view! { <option value=d/> }).collect_view()}</datalist>
                            <datalist id="train-splits">{c.splits.into_iter().map(|(d, k)| view! { <option value=k>{d}</option> }).collect_view()}</datalist>
                        })}
                    </ActionForm>
                })}
            </Transition>
            {move || launch.value().get().map(|r| match r {
                Ok(id) => view! { <p id="train-launched">"Queued as " <a href=format!("/training/{id}")>{format!("run #{id}")}</a></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}
