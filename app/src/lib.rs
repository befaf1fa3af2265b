//! The vlm-inspect web UI: routes, pages, and the server functions they call.
//! Everything heavy (database, models) is behind the `ssr` feature.

pub mod api;
pub mod error;
mod layout;
mod live;
mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

pub use error::ApiError;
pub use layout::format_time;

/// The HTML document around the app (server side only).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Pages run only the scripts this render marked with its nonce (the hydration script, which
/// loads the wasm, and Leptos's resource scripts); style attributes are allowed (the image page
/// sets a mask URL through one); nothing may frame the pages.
#[cfg(feature = "ssr")]
fn set_page_policy() {
    use axum::http::{header::CONTENT_SECURITY_POLICY, HeaderValue};
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let (Some(res), Ok(v)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&policy),
    ) {
        res.insert_header(CONTENT_SECURITY_POLICY, v);
    }
}

/// The routed application.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/vlm-inspect.css"/>
        <Title text="vlm-inspect"/>
        <Router>
            <Routes fallback=pages::not_found::NotFoundPage>
                <Route path=path!("/login") view=pages::login::LoginPage/>
                <Route path=path!("/") view=pages::home::HomePage/>
                <Route path=path!("/admin/users") view=pages::users::UsersPage/>
                <Route path=path!("/account") view=pages::account::AccountPage/>
                <Route path=path!("/datasets") view=pages::datasets::DatasetsPage/>
                <Route path=path!("/models") view=pages::models::ModelsPage/>
                <Route path=path!("/datasets/:name") view=pages::dataset::DatasetPage/>
                <Route path=path!("/images/:id") view=pages::image::ImagePage/>
                <Route path=path!("/training") view=pages::training::TrainingPage/>
                <Route path=path!("/training/:id") view=pages::training_run::TrainingRunPage/>
                <Route path=path!("/inspect") view=pages::inspect::InspectPage/>
                <Route path=path!("/inspect/:id") view=pages::inspection::InspectionPage/>
                <Route path=path!("/evaluations") view=pages::evaluations::EvaluationsPage/>
                <Route path=path!("/evaluations/:id") view=pages::evaluation::EvaluationPage/>
                <Route path=path!("/compare") view=pages::compare::ComparePage/>
                <Route path=path!("/review") view=pages::reviews::ReviewsPage/>
                <Route path=path!("/review/:id") view=pages::review::ReviewPage/>
                <Route path=path!("/drafts/:id") view=pages::drafts::DraftsPage/>
            </Routes>
        </Router>
    }
}
