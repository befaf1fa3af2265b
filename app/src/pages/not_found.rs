use leptos::prelude::*;

/// Shown for unknown paths (with HTTP 404 on the server).
#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="page narrow">
            <h1>"Page not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Go to the home page"</a>"."</p>
        </main>
    }
}
