//! The account page: the signed-in user's API tokens for the `/v1` API. A new token is shown
//! once; revoked ones stop working at once. Reviewers hold none.

use leptos::prelude::*;

use crate::api::accounts::{my_tokens, CreateMyToken, RevokeMyToken};
use crate::layout::{format_time, Frame};
use crate::ApiError;

#[component]
pub fn AccountPage() -> impl IntoView {
    let create = ServerAction::<CreateMyToken>::new();
    let revoke = ServerAction::<RevokeMyToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| my_tokens(),
    );
    let error = |e: ApiError| view! { <p class="error" role="alert">{e.to_string()}</p> };
    view! {
        <Frame>
            <h1>"Account"</h1>
            <section class="card">
                <h2>"API tokens"</h2>
                <p class="muted">"For OpenAI-compatible clients of this server's /v1 API (docs/remote-models.md): send "<code>"Authorization: Bearer vi-…"</code>". A token has your rights."</p>
                <ActionForm action=create attr:id="create-token" attr:class="inline">
                    <label>"Label" <input type="text" name="label" maxlength="100" placeholder="laptop"/></label>
                    <button type="submit" disabled=move || create.pending().get()>"Create token"</button>
                </ActionForm>
                {move || create.value().get().map(|r| match r {
                    Ok(secret) => view! {
                        <p class="notice" role="status">"New token (shown once): "<code class="secret" id="new-token">{secret}</code></p>
                    }.into_any(),
                    Err(e) => error(e).into_any(),
                })}
                {move || revoke.value().get().and_then(Result::err).map(error)}
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || tokens.get().map(|r| match r {
                        Ok(list) if list.is_empty() => view! { <p class="empty">"No tokens."</p> }.into_any(),
                        Ok(list) => view! {
                            <table class="grid" id="tokens">
                                <thead><tr><th>"Id"</th><th>"Label"</th><th>"Created (UTC)"</th><th>"Last used"</th><th></th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|t| {
                                        let id = t.id;
                                        view! {
                                            <tr data-token=id>
                                                <td>{id}</td>
                                                <td>{t.label.clone()}</td>
                                                <td>{format_time(t.created_at)}</td>
                                                <td>{t.last_used_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                                                <td><button class="revoke-token" on:click=move |_| { revoke.dispatch(RevokeMyToken { id }); }>"Revoke"</button></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => error(e).into_any(),
                    })}
                </Transition>
            </section>
        </Frame>
    }
}
