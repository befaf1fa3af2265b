use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::datasets::dataset_images;
use crate::api::inspections::{my_inspections, InspectionView, StartInspection};
use crate::api::prompts::{eval_choices, Choices};
use crate::layout::{format_time, Frame};
use store::ImageFilter;

/// Inspect one image: upload one or pick one from a dataset, choose model, prompt and template,
/// run; the reply streams in on the inspection's page. Below: the user's earlier inspections.
#[component]
pub fn InspectPage() -> impl IntoView {
    let query = use_query_map();
    let q = move |k: &str| query.read().get(k).unwrap_or_default();
    let choices = Resource::new(|| (), |_| eval_choices());
    let history = Resource::new(|| (), |_| my_inspections());
    let start = ServerAction::<StartInspection>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = start.value().get() {
            navigate(&format!("/inspect/{id}"), Default::default());
        }
    });
    let image = RwSignal::new(String::new());
    let upload = RwSignal::new(String::new());
    Effect::new(move |_| {
        image.set(q("image"));
        upload.set(q("upload"));
    });
    view! {
        <Frame>
            <h1>"Inspect"</h1>
            <p class="muted">"Put one image in front of a vision-language model. Chain-of-Image prompts (P1–P3) show the model a normal template of the same category first."</p>
            <section class="card">
                <h2>"1. The image"</h2>
                <form method="post" action="/api/uploads?redirect=1" enctype="multipart/form-data" id="upload-form" class="inline">
                    <label>"Upload (PNG or JPEG) " <input type="file" name="image" accept="image/png,image/jpeg" required/></label>
                    <button type="submit">"Upload"</button>
                </form>
                {move || (!q("upload_error").is_empty()).then(|| view! { <p class="error" role="alert" id="upload-error">{q("upload_error")}</p> })}
                {move || (!upload.get().is_empty()).then(|| view! {
                    <p id="uploaded">"Uploaded image #" {upload.get()} <img class="mini" src=format!("/files/uploads/{}", upload.get()) alt="uploaded image"/></p>
                })}
                <p class="muted">"…or pick a dataset image below (click a tile)."</p>
                <Transition fallback=|| ()>
                    {move || choices.get().and_then(Result::ok).map(|c| view! { <Picker choices=c image upload/> })}
                </Transition>
            </section>
            <section class="card">
                <h2>"2. Model, prompt, template"</h2>
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || choices.get().map(|r| match r {
                        Ok(c) => view! { <RunForm choices=c start image upload/> }.into_any(),
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    })}
                </Transition>
                {move || start.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert" id="inspect-error">{e.to_string()}</p> })}
            </section>
            <section>
                <h2>"Your inspections"</h2>
                <Transition fallback=|| ()>
                    {move || history.get().and_then(Result::ok).map(|list| view! { <History list/> })}
                </Transition>
            </section>
        </Frame>
    }
}

/// Thumbnails of a dataset's test images; a click picks one.
#[component]
fn Picker(choices: Choices, image: RwSignal<String>, upload: RwSignal<String>) -> impl IntoView {
    let dataset = RwSignal::new(choices.datasets.first().cloned().unwrap_or_default());
    let page = RwSignal::new(1i64);
    let tiles = Resource::new(
        move || (dataset.get(), page.get()),
        |(d, p)| async move {
            if d.is_empty() {
                return Ok(None);
            }
            let filter = ImageFilter {
                split: "test".into(),
                ..Default::default()
            };
            dataset_images(d, filter, p).await.map(Some)
        },
    );
    view! {
        <div class="inline">
            <label>"Dataset "
                <select on:change=move |e| { dataset.set(event_target_value(&e)); page.set(1); }>
                    {choices.datasets.iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()}
                </select>
            </label>
            <button type="button" on:click=move |_| page.update(|p| *p = (*p - 1).max(1))>"‹"</button>
            <span>{move || format!("page {}", page.get())}</span>
            <button type="button" on:click=move |_| page.update(|p| *p += 1)>"›"</button>
        </div>
        <Transition fallback=|| ()>
            {move || tiles.get().and_then(Result::ok).flatten().map(|p| view! {
                <div class="thumbs" id="pick-grid">
                    {p.images.into_iter().map(|img| {
                        let id = img.id.to_string();
                        let picked = { let id = id.clone(); move || image.get() == id };
                        let pick = id.clone();
                        view! {
                            <button type="button" class="tile" class:picked=picked data-image=img.id
                                title=format!("{} · {} · {}", img.category, img.label, img.rel_path)
                                on:click=move |_| { image.set(pick.clone()); upload.set(String::new()); }>
                                <img src=format!("/files/thumbs/{}", img.id) alt=img.rel_path.clone() loading="lazy"/>
                                <span>{format!("{} · {}", img.category, img.label)}</span>
                            </button>
                        }
                    }).collect_view()}
                </div>
            })}
        </Transition>
    }
}

#[component]
fn RunForm(
    choices: Choices,
    start: ServerAction<StartInspection>,
    image: RwSignal<String>,
    upload: RwSignal<String>,
) -> impl IntoView {
    view! {
        <ActionForm action=start attr:id="inspect-form" attr:class="stack">
            <p>
                {move || if !image.get().is_empty() {
                    view! { <span id="chosen">"Dataset image #" {image.get()} " " <img class="mini" src=format!("/files/thumbs/{}", image.get()) alt="chosen image"/></span> }.into_any()
                } else if !upload.get().is_empty() {
                    view! { <span id="chosen">"Uploaded image #" {upload.get()}</span> }.into_any()
                } else {
                    view! { <span class="muted">"No image chosen yet."</span> }.into_any()
                }}
            </p>
            <input type="hidden" name="form[image]" prop:value=move || image.get()/>
            <input type="hidden" name="form[upload]" prop:value=move || upload.get()/>
            <fieldset class="inline">
                <label>"Model "
                    <select name="form[model]" required>
                        {choices.models.iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Prompt "
                    <select name="form[prompt]">
                        {choices.prompts.iter().map(|p| view! {
                            <option value=p.name.clone() title=p.text.clone()>{format!("{}{}", p.name, if p.chain_of_image { " (CoI)" } else { "" })}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Template image id (empty: auto) " <input type="text" name="form[template]" size="8" placeholder="auto"/></label>
                <label>"Seed " <input type="text" name="form[seed]" size="4" value="0"/></label>
                <label>"Max new tokens " <input type="text" name="form[max_new_tokens]" size="5" value="256"/></label>
                <label title="InternVL cuts each image into tiles; fewer tiles keep two images within the context">"Tiles per image (InternVL) " <input type="text" name="form[max_patches]" size="3" placeholder="model"/></label>
            </fieldset>
            <fieldset class="inline">
                <legend>"For an upload, pick the automatic template from"</legend>
                <label>"Dataset " <select name="form[dataset]"><option value="">"–"</option>
                    {choices.datasets.iter().map(|d| view! { <option value=d.clone()>{d.clone()}</option> }).collect_view()}
                </select></label>
                <label>"Category " <select name="form[category]"><option value="">"–"</option>
                    {choices.categories.iter().map(|(d, c)| view! { <option value=c.clone()>{format!("{c} ({d})")}</option> }).collect_view()}
                </select></label>
            </fieldset>
            {choices.models.is_empty().then(|| view! { <p class="error">"No vision-language model is registered yet."</p> })}
            <button type="submit" id="inspect-run" disabled=move || start.pending().get()>"Run"</button>
        </ActionForm>
    }
}

#[component]
fn History(list: Vec<InspectionView>) -> impl IntoView {
    if list.is_empty() {
        return view! { <p class="empty">"No inspections yet."</p> }.into_any();
    }
    view! {
        <table class="grid" id="inspections">
            <thead><tr><th>"#"</th><th>"When (UTC)"</th><th>"Image"</th><th>"Model"</th><th>"Prompt"</th><th>"State"</th><th>"Verdict"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|v| {
                    let id = v.job.id;
                    let verdict = v.verdict.clone().unwrap_or_default();
                    view! {
                        <tr>
                            <td><a href=format!("/inspect/{id}")>{format!("#{id}")}</a></td>
                            <td>{format_time(v.job.created_at)}</td>
                            <td><img class="mini" src=v.image_url.clone() alt="image"/></td>
                            <td>{v.model}</td>
                            <td>{v.prompt}</td>
                            <td>{v.job.state.as_str()}</td>
                            <td class=format!("verdict verdict-{verdict}")>{verdict.clone()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
