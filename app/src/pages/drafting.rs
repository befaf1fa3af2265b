//! The dataset page's drafting card: a model drafts QA annotations for the dataset's images
//! (those without one by default), and the drafting jobs so far link to their drafts screens.

use leptos::prelude::*;

use crate::api::drafts::{drafting_jobs, LaunchDrafting};
use crate::api::prompts::eval_choices;

#[component]
pub fn DraftingCard(dataset: String, categories: Vec<String>) -> impl IntoView {
    let launch = ServerAction::<LaunchDrafting>::new();
    let name = dataset.clone();
    let jobs = Resource::new(
        move || launch.version().get(),
        move |_| drafting_jobs(name.clone()),
    );
    let choices = Resource::new(|| (), |_| eval_choices());
    view! {
        <section class="card" id="drafting">
            <h2>"Draft QA annotations with a model"</h2>
            <p class="muted">"The model is told each image's product, label and, from its mask, where the defect is, and writes the answer; people then accept, edit or reject each draft."</p>
            <Transition fallback=|| ()>
                {move || jobs.get().and_then(Result::ok).map(|list| view! {
                    <ul id="drafting-jobs">
                        {list.into_iter().map(|j| view! {
                            <li><a href=format!("/drafts/{}", j.job.id)>{format!("Drafts #{}", j.job.id)}</a>
                                {format!(" · {} · {} · {} drafts, {} decided", j.model, j.job.state, j.progress.total,
                                    j.progress.total - j.progress.pending)}</li>
                        }).collect_view()}
                    </ul>
                })}
                {move || choices.get().and_then(Result::ok).map(|c| {
                    let dataset = dataset.clone();
                    let categories = categories.clone();
                    view! {
                        <ActionForm action=launch attr:id="drafting-form" attr:class="stack">
                            <input type="hidden" name="form[dataset]" value=dataset/>
                            <fieldset class="inline">
                                <label>"Model " <select name="form[model]" required>
                                    {c.models.iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view()}
                                </select></label>
                                <label>"Category " <select name="form[category]">
                                    <option value="">"any"</option>
                                    {categories.into_iter().map(|c| view! { <option value=c.clone()>{c.clone()}</option> }).collect_view()}
                                </select></label>
                                <label>"Label " <select name="form[label]">
                                    <option value="">"any"</option>
                                    {["good", "logical", "structural"].into_iter().map(|l| view! { <option value=l>{l}</option> }).collect_view()}
                                </select></label>
                                <label><input type="checkbox" name="form[include_annotated]" value="on"/>" also images with an annotation"</label>
                                <label>"Limit " <input type="text" name="form[limit]" size="5" placeholder="all"/></label>
                            </fieldset>
                            <button type="submit" id="drafting-launch" disabled=move || launch.pending().get()>"Draft annotations"</button>
                        </ActionForm>
                    }
                })}
            </Transition>
            {move || launch.value().get().map(|r| match r {
                Ok(id) => view! { <p id="drafting-launched">"Queued as " <a href=format!("/drafts/{id}")>{format!("drafting job #{id}")}</a></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert" id="drafting-error">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}
