//! Deleting an evaluation run from its page: one click asks, the second deletes. When
//! reviewers judged the run, the question says how many judgements go with it and that their
//! export is kept; the server refuses anyway if more arrived since the page loaded.

use leptos::prelude::*;

use crate::api::evaluations::DeleteEvaluation;

/// The "Delete run" button of an ended run (its owner or an admin), its question and outcome.
#[component]
pub fn DeleteRun(id: i64, predictions: usize, judgements: usize) -> impl IntoView {
    let asking = RwSignal::new(false);
    let delete = ServerAction::<DeleteEvaluation>::new();
    let question = if judgements > 0 {
        format!(
            "Delete run #{id}, its {predictions} predictions and the {judgements} judgement(s) reviewers made of them? \
             The judgements are kept as an export (CSV and JSON) in the data folder's exports/."
        )
    } else {
        format!("Delete run #{id} and its {predictions} predictions? This cannot be undone.")
    };
    view! {
        <div class="delete-run" id="delete-run">
            {move || match delete.value().get() {
                Some(Ok(done)) => view! {
                    <p id="run-deleted" role="status">
                        {format!("Run #{id} was deleted.")}
                        {(!done.kept.is_empty()).then(|| format!(" Its {} judgement(s) are kept in {}.", done.judgements, done.kept.join(" and ")))}
                        " " <a href="/evaluations">"All runs"</a>
                    </p>
                }.into_any(),
                _ if asking.get() => view! {
                    <p id="delete-question">{question.clone()}</p>
                    <p class="actions">
                        <button id="delete-confirm" class="danger" disabled=move || delete.pending().get()
                            on:click=move |_| { delete.dispatch(DeleteEvaluation { id, with_reviews: judgements > 0 }); }>
                            "Delete"
                        </button>
                        <button id="delete-keep" on:click=move |_| asking.set(false)>"Keep it"</button>
                    </p>
                }.into_any(),
                _ => view! {
                    <p class="actions">
                        <button id="delete-run-button" on:click=move |_| asking.set(true)>"Delete run…"</button>
                    </p>
                }.into_any(),
            }}
            {move || delete.value().get().and_then(Result::err).map(|e| view! {
                <p class="error" role="alert" id="delete-error">{e.to_string()}</p>
            })}
        </div>
    }
}
