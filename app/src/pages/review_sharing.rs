//! Who a review queue (a run's, or a drafting job's drafts) is shared with, and the form that
//! shares it with one more user: shown to the queue's owner and admins.

use leptos::prelude::*;

use crate::api::reviews::{ShareReview, UnshareReview};

/// The names the queue of job `id` is shared with, each with a button taking it back, and the
/// share form; `changed` is bumped after every change so the caller reloads.
#[component]
pub fn ReviewSharing(id: i64, shared_with: Vec<String>, changed: RwSignal<u32>) -> impl IntoView {
    let share = ServerAction::<ShareReview>::new();
    let unshare = ServerAction::<UnshareReview>::new();
    Effect::new(move || {
        let ok = matches!(share.value().get(), Some(Ok(())))
            || matches!(unshare.value().get(), Some(Ok(())));
        if ok {
            changed.update(|n| *n += 1);
        }
    });
    view! {
        <p>"Shared with: "
            {if shared_with.is_empty() { view! { <span class="empty">"nobody yet"</span> }.into_any() } else {
                view! { <span id="review-shared">{shared_with.iter().map(|name| {
                    let who = name.clone();
                    view! { <span class="chip">{name.clone()}" "
                        <button type="button" class="unshare" on:click=move |_| { unshare.dispatch(UnshareReview { id, username: who.clone() }); }>"×"</button>
                    </span> " " }
                }).collect_view()}</span> }.into_any()
            }}
        </p>
        <ActionForm action=share attr:class="inline" attr:id="review-share-form">
            <input type="hidden" name="id" value=id/>
            <label>"Username " <input type="text" name="username" required maxlength="64"/></label>
            <button type="submit" disabled=move || share.pending().get()>"Share for review"</button>
        </ActionForm>
        {move || share.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        {move || unshare.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}
