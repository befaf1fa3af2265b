use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::accounts::Login;

/// The sign-in form. Errors (wrong password, throttling) come back from the server function.
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_string());
    Effect::new(move |_| {
        if let Some(Ok(target)) = login.value().get() {
            let _ = window().location().set_href(&target);
        }
    });
    let error = move || {
        login.value().get().and_then(Result::err).map(|e| {
            view! { <p class="error" role="alert">{e.to_string()}</p> }
        })
    };
    view! {
        <main class="page narrow login">
            <h1>"vlm-inspect"</h1>
            <p class="lead">"Explain industrial defects with vision-language models. Sign in to continue."</p>
            <ActionForm action=login attr:id="login-form">
                <input type="hidden" name="next" prop:value=next/>
                <label>"Username" <input type="text" name="username" autocomplete="username" required/></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required/></label>
                <button type="submit" disabled=move || login.pending().get()>"Sign in"</button>
            </ActionForm>
            {error}
        </main>
    }
}
