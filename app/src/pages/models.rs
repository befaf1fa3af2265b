//! The Models page: every registered model for everyone; admins add remote models (an
//! OpenAI-compatible server), test their connection and remove models.

use leptos::prelude::*;

use crate::api::accounts::use_is_admin;
use crate::api::models::{list_models, AddRemoteModel, ModelRow, RemoveModel, TestModel};
use crate::layout::Frame;
use crate::ApiError;

#[component]
pub fn ModelsPage() -> impl IntoView {
    let add = ServerAction::<AddRemoteModel>::new();
    let test = ServerAction::<TestModel>::new();
    let remove = ServerAction::<RemoveModel>::new();
    let models = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| list_models(),
    );
    let is_admin = use_is_admin();
    let error = |e: ApiError| view! { <p class="error" role="alert">{e.to_string()}</p> };
    view! {
        <Frame>
            <h1>"Models"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || models.get().map(|r| match r {
                    Ok(list) => view! { <ModelTable list test remove admin=is_admin()/> }.into_any(),
                    Err(e) => error(e).into_any(),
                })}
            </Transition>
            {move || test.value().get().map(|r| match r {
                Ok(m) => view! { <p class="notice" role="status" id="test-result">{m}</p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert" id="test-result">{e.to_string()}</p> }.into_any(),
            })}
            {move || remove.value().get().and_then(Result::err).map(error)}
            {move || is_admin().then(|| view! { <RemoteForm add/> })}
        </Frame>
    }
}

#[component]
fn ModelTable(
    list: Vec<ModelRow>,
    test: ServerAction<TestModel>,
    remove: ServerAction<RemoveModel>,
    admin: bool,
) -> impl IntoView {
    view! {
        <table class="grid" id="models">
            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Where"</th><th>"Remote model"</th><th>"Key"</th><th>"Limits and prices"</th>{admin.then(|| view! { <th>"Actions"</th> })}</tr></thead>
            <tbody>
                {list.into_iter().map(|m| {
                    let name = m.name.clone();
                    let (name_test, name_rm) = (name.clone(), name.clone());
                    let remote = m.remote.clone();
                    let is_remote = remote.is_some();
                    view! {
                        <tr data-model=name.clone()>
                            <td>{name.clone()}</td>
                            <td>{m.kind.clone()}</td>
                            <td><code>{m.location.clone()}</code></td>
                            <td>{remote.as_ref().map(|r| r.remote_model.clone()).unwrap_or_default()}</td>
                            <td class="key">{remote.as_ref().map(|r| match &r.key_masked {
                                Some(masked) => format!("file ({masked})"),
                                None => r.key.clone(),
                            }).unwrap_or_default()}</td>
                            <td>{remote.as_ref().map(|r| {
                                let mut parts = vec![format!("{} in flight", r.max_concurrency)];
                                if let Some(px) = r.max_image_side { parts.push(format!("≤ {px} px")); }
                                if let Some(d) = &r.detail { parts.push(format!("detail {d}")); }
                                if let (Some(i), Some(o)) = (r.price_in, r.price_out) { parts.push(format!("${i}/${o} per 1M tokens")); }
                                parts.join(", ")
                            }).unwrap_or_default()}</td>
                            {admin.then(|| view! {
                                <td>
                                    {is_remote.then(|| view! {
                                        <button class="test-model" on:click=move |_| { test.dispatch(TestModel { name: name_test.clone() }); }>"Test connection"</button>
                                    })}
                                    <button class="remove-model" on:click=move |_| { remove.dispatch(RemoveModel { name: name_rm.clone() }); }>"Remove"</button>
                                </td>
                            })}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RemoteForm(add: ServerAction<AddRemoteModel>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Add a remote model"</h2>
            <p class="muted">"Any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp or another vlm-inspect (docs/remote-models.md). A key entered here is kept in a file on the server only its user can read, and is shown masked."</p>
            <ActionForm action=add attr:id="remote-form" attr:class="inline">
                <label>"Name" <input type="text" name="form[name]" required maxlength="64"/></label>
                <label>"Base URL" <input type="url" name="form[base_url]" required placeholder="https://api.openai.com/v1" size="32"/></label>
                <label>"Remote model id" <input type="text" name="form[remote_model]" required placeholder="gpt-4o"/></label>
                <label>"API key" <input type="password" name="form[key]" autocomplete="off" placeholder="kept in a file on the server"/></label>
                <label>"or key variable" <input type="text" name="form[key_env]" placeholder="OPENAI_API_KEY"/></label>
                <label>"Max in flight" <input type="number" name="form[max_concurrency]" min="1" max="256" placeholder="4"/></label>
                <label>"Max image side (px)" <input type="number" name="form[max_image_side]" min="1"/></label>
                <label>"Detail"
                    <select name="form[detail]">
                        <option value="">"(server default)"</option>
                        <option value="auto">"auto"</option>
                        <option value="low">"low"</option>
                        <option value="high">"high"</option>
                    </select>
                </label>
                <label>"$ per 1M prompt tokens" <input type="text" name="form[price_in]" inputmode="decimal" size="6"/></label>
                <label>"$ per 1M completion tokens" <input type="text" name="form[price_out]" inputmode="decimal" size="6"/></label>
                <button type="submit" disabled=move || add.pending().get()>"Add model"</button>
            </ActionForm>
            {move || add.value().get().map(|r| match r {
                Ok(name) => view! { <p class="notice" role="status">"Registered "<strong>{name}</strong></p> }.into_any(),
                Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    }
}
