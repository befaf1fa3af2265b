use leptos::prelude::*;
use store::DatasetStats;

use crate::api::accounts::use_is_admin;
use crate::api::datasets::{job_status, list_datasets, DeleteDataset, StartImport};
use crate::api::jobs::CancelJob;
use crate::layout::Frame;

/// All datasets with their counts; admins import and delete here.
#[component]
pub fn DatasetsPage() -> impl IntoView {
    let import = ServerAction::<StartImport>::new();
    let delete = ServerAction::<DeleteDataset>::new();
    let finished = RwSignal::new(0u32);
    let datasets = Resource::new(
        move || (delete.version().get(), finished.get()),
        |_| list_datasets(),
    );
    let is_admin = use_is_admin();
    view! {
        <Frame>
            <h1>"Datasets"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || datasets.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No datasets imported yet."</p> }.into_any(),
                    Ok(list) => view! { <DatasetTable list delete admin=is_admin()/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
            {move || delete.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            <Suspense fallback=|| ()>
                {move || is_admin().then(|| view! { <ImportPanel import finished/> })}
            </Suspense>
        </Frame>
    }
}

#[component]
fn DatasetTable(
    list: Vec<DatasetStats>,
    delete: ServerAction<DeleteDataset>,
    admin: bool,
) -> impl IntoView {
    view! {
        <table class="grid" id="datasets">
            <thead><tr><th>"Name"</th><th>"Layout"</th><th>"Images"</th><th>"Categories"</th><th>"QA"</th><th>"Splits"</th><th></th></tr></thead>
            <tbody>
                {list.into_iter().map(|s| {
                    let name = s.dataset.name.clone();
                    let mut cats: Vec<String> = s.counts.iter().map(|c| c.category.clone()).collect();
                    cats.dedup();
                    let qa: i64 = s.qa_by_source.iter().map(|(_, n)| n).sum();
                    let splits = s.splits.iter().map(|sp| sp.key.clone()).collect::<Vec<_>>().join(", ");
                    let del_name = name.clone();
                    view! {
                        <tr data-dataset=name.clone()>
                            <td><a href=format!("/datasets/{name}")>{name.clone()}</a></td>
                            <td>{s.dataset.layout.clone()}</td>
                            <td>{s.dataset.image_count}</td>
                            <td>{cats.join(", ")}</td>
                            <td>{qa}</td>
                            <td class="muted">{if splits.is_empty() { "none".to_string() } else { splits }}</td>
                            <td class="actions">
                                {admin.then(|| view! {
                                    <button on:click=move |_| {
                                        let ok = window()
                                            .confirm_with_message(&format!("Delete the dataset {del_name:?} and its files?"))
                                            .unwrap_or(false);
                                        if ok {
                                            delete.dispatch(DeleteDataset { name: del_name.clone(), with_evaluations: false });
                                        }
                                    }>"Delete"</button>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

/// Admin form: import a folder on the server, then follow the job's progress.
#[component]
fn ImportPanel(import: ServerAction<StartImport>, finished: RwSignal<u32>) -> impl IntoView {
    let job_id = move || import.value().get().and_then(Result::ok);
    // A cancelled import stores nothing: the job ends `cancelled` at its next 25 images.
    let cancel = ServerAction::<CancelJob>::new();
    let tick = RwSignal::new(0u32);
    let job = Resource::new(
        move || (job_id(), tick.get()),
        |(id, _)| async move {
            match id {
                Some(id) => job_status(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // Poll while the job runs; refresh the table once it ends.
    Effect::new(move |_| {
        if let Some(Ok(Some(j))) = job.get() {
            if j.state.is_live() {
                set_timeout(
                    move || tick.update(|t| *t += 1),
                    std::time::Duration::from_millis(400),
                );
            } else {
                finished.update(|f| *f += 1);
            }
        }
    });
    view! {
        <section class="card">
            <h2>"Import a dataset"</h2>
            <p class="muted">"A folder on the server in the MVTec LOCO layout or the generic good/logical/structural layout (see docs/datasets.md)."</p>
            <ActionForm action=import attr:id="import-form" attr:class="inline">
                <label>"Folder on the server" <input type="text" name="form[source]" required size="40"/></label>
                <label>"Layout"
                    <select name="form[layout]">
                        <option value="loco">"MVTec LOCO"</option>
                        <option value="folder">"generic folders"</option>
                    </select>
                </label>
                <label>"QA file (optional)" <input type="text" name="form[qa_file]"/></label>
                <label>"Name (optional)" <input type="text" name="form[name]"/></label>
                <button type="submit" disabled=move || import.pending().get()>"Import"</button>
            </ActionForm>
            {move || import.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            {move || cancel.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
            <Transition fallback=|| ()>
                {move || job.get().and_then(Result::ok).flatten().map(|j| {
                    let pct = (j.progress * 100.0).round();
                    view! {
                        <div class="progress" id="import-progress" data-state=j.state.as_str()>
                            <progress max="100" value=pct></progress>
                            <span>{format!("job #{}: {} · {pct:.0}%", j.id, j.state)}</span>
                            {j.state.is_live().then(|| {
                                let id = j.id;
                                view! { <button id="cancel-import" on:click=move |_| { cancel.dispatch(CancelJob { id }); }>"Cancel"</button> }
                            })}
                            {j.error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
                        </div>
                    }
                })}
            </Transition>
        </section>
    }
}
