use leptos::prelude::*;
use store::ImageDetail;

use crate::api::datasets::get_image;
use crate::layout::Frame;

/// One image: full size, ground-truth mask overlay toggle, all QA annotations.
#[component]
pub fn ImagePage() -> impl IntoView {
    let id = super::use_id_param();
    // Blocking: the response's status (404 for an image this user may not see) is known before
    // any HTML streams; under load a streamed shell went out as 200 first.
    let detail = Resource::new_blocking(id, get_image);
    view! {
        <Frame>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || detail.get().map(|r| match r {
                    Ok(d) => view! { <Detail d/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
        </Frame>
    }
}

#[component]
fn Detail(d: ImageDetail) -> impl IntoView {
    let show_mask = RwSignal::new(false);
    let s = d.summary.clone();
    let normals = format!("/datasets/{}?category={}&label=good", d.dataset, s.category);
    view! {
        <p class="crumbs"><a href=format!("/datasets/{}", d.dataset)>{d.dataset.clone()}</a>" / "{s.rel_path.clone()}</p>
        <h1>{s.category.clone()}" · "<span class=format!("label-{}", s.label)>{s.label.clone()}</span></h1>
        <div class="image-view">
            <figure class="stack">
                <img id="full-image" src=format!("/files/images/{}", s.id) alt=s.rel_path.clone()/>
                {d.has_mask.then(|| view! {
                    // The mask (white = anomalous) cuts a translucent red layer to the defect.
                    <div id="mask-overlay" class="overlay" role="img" aria-label="ground-truth mask"
                        style=format!("--mask: url(/files/masks/{})", s.id)
                        class:hidden=move || !show_mask.get()></div>
                })}
            </figure>
            <aside>
                <p class="muted">{d.width}" × "{d.height}" px · split "{s.split.clone()}</p>
                {if d.has_mask {
                    view! {
                        <label class="toggle">
                            <input type="checkbox" id="mask-toggle" prop:checked=move || show_mask.get()
                                on:change=move |ev| show_mask.set(event_target_checked(&ev))/>
                            "Show ground-truth mask"
                        </label>
                    }.into_any()
                } else {
                    view! { <p class="muted">"No ground-truth mask (normal image)."</p> }.into_any()
                }}
                <p><a href=normals id="normals-link">"Normal images of "{s.category.clone()}</a></p>
                <h2>"QA annotations"</h2>
                {if d.qa.is_empty() {
                    view! { <p class="empty">"No QA annotations for this image."</p> }.into_any()
                } else {
                    view! {
                        <ul class="qa" id="qa">
                            {d.qa.into_iter().map(|q| view! {
                                <li>
                                    <span class=format!("source source-{}", q.source)>{q.source.replace('_', " ")}</span>
                                    <p class="q">"Q: "{q.question}</p>
                                    <p class="a">"A: "{q.answer}</p>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </aside>
        </div>
    }
}
