use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use store::{DatasetStats, ImageFilter, ImagePage};

use super::drafting::DraftingCard;
use crate::api::datasets::{dataset_images, get_dataset_stats};
use crate::layout::Frame;

/// The dataset browser: counts, filters (category, split, label, QA source) and a paginated
/// thumbnail grid. Filters live in the URL, so every view can be linked to.
#[component]
pub fn DatasetPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let filter = move || {
        let q = query.read();
        ImageFilter {
            category: q.get("category").unwrap_or_default(),
            split: q.get("split").unwrap_or_default(),
            label: q.get("label").unwrap_or_default(),
            qa_source: q.get("qa").unwrap_or_default(),
        }
    };
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(1)
            .max(1)
    };
    let stats = Resource::new(name, get_dataset_stats);
    let images = Resource::new(
        move || (name(), filter(), page()),
        |(n, f, p)| dataset_images(n, f, p),
    );
    view! {
        <Frame>
            <h1>"Dataset " <span class="mono">{name}</span></h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || stats.get().map(|r| match r {
                    Ok(s) => view! {
                        <Counts s=s.clone()/>
                        <DraftingCard dataset=s.dataset.name.clone() categories=categories(&s)/>
                        <Filters s f=filter()/>
                    }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Suspense>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || images.get().map(|r| match r {
                    Ok(p) => view! { <Grid p name=name() f=filter()/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}

fn categories(s: &DatasetStats) -> Vec<String> {
    let mut cats: Vec<String> = s.counts.iter().map(|c| c.category.clone()).collect();
    cats.dedup();
    cats
}

#[component]
fn Counts(s: DatasetStats) -> impl IntoView {
    let count = |cat: &str, label: &str| -> i64 {
        s.counts
            .iter()
            .filter(|c| c.category == cat && c.label == label)
            .map(|c| c.images)
            .sum()
    };
    let rows = categories(&s)
        .into_iter()
        .map(|cat| {
            let cells = ["good", "logical", "structural"].map(|l| count(&cat, l));
            view! {
                <tr><td>{cat.clone()}</td>
                    {cells.into_iter().map(|n| view! { <td>{n}</td> }).collect_view()}
                </tr>
            }
        })
        .collect_view();
    let qa = s
        .qa_by_source
        .iter()
        .map(|(src, n)| format!("{n} {src}"))
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <section class="card">
            <p>{s.dataset.image_count}" images · layout "{s.dataset.layout.clone()}" · QA: "{if qa.is_empty() { "none".into() } else { qa }}</p>
            <table class="grid compact" id="counts">
                <thead><tr><th>"Category"</th><th>"good"</th><th>"logical"</th><th>"structural"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <p class="muted" id="qa-verified">{qa_line(&s.qa)}</p>
            {s.splits.iter().map(|sp| view! {
                <p class="muted">"Split "<code>{sp.key.clone()}</code>": train "{sp.train_images}" ("{sp.train_anomalies}" anomalies), test "{sp.test_images}</p>
            }).collect_view()}
        </section>
    }
}

/// Annotated images, and how many generated answers a named person verified.
fn qa_line(q: &store::QaSourceCounts) -> String {
    let mut line = format!(
        "{} of {} images annotated · {} manual, {} generated and verified",
        q.annotated_images, q.images, q.manual, q.generated_verified
    );
    if let Some(f) = q.verified_fraction() {
        line += &format!(
            " ({} by a named person: {:.1} %)",
            q.verified_by_person,
            100.0 * f
        );
    }
    if q.pending_drafts > 0 {
        line += &format!(" · {} drafts waiting for a decision", q.pending_drafts);
    }
    line
}

#[component]
fn Filters(s: DatasetStats, f: ImageFilter) -> impl IntoView {
    let select = |name: &'static str, current: String, options: Vec<String>| {
        view! {
            <select name=name>
                <option value="" selected=current.is_empty()>"any"</option>
                {options.into_iter().map(|o| {
                    let selected = o == current;
                    view! { <option value=o.clone() selected=selected>{o.clone()}</option> }
                }).collect_view()}
            </select>
        }
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    view! {
        <Form method="GET" action="" attr:id="filters" attr:class="inline filters">
            <label>"Category" {select("category", f.category, categories(&s))}</label>
            <label>"Split" {select("split", f.split, strings(&["train", "validation", "test"]))}</label>
            <label>"Label" {select("label", f.label, strings(&["good", "logical", "structural"]))}</label>
            <label>"QA source" {select("qa", f.qa_source, strings(&["manual", "generated_verified"]))}</label>
            <button type="submit">"Filter"</button>
        </Form>
    }
}

fn page_link(name: &str, f: &ImageFilter, page: i64) -> String {
    let mut q = vec![];
    for (k, v) in [
        ("category", &f.category),
        ("split", &f.split),
        ("label", &f.label),
        ("qa", &f.qa_source),
    ] {
        if !v.is_empty() {
            q.push(format!("{k}={v}"));
        }
    }
    q.push(format!("page={page}"));
    format!("/datasets/{name}?{}", q.join("&"))
}

#[component]
fn Grid(p: ImagePage, name: String, f: ImageFilter) -> impl IntoView {
    let pages = ((p.total + p.per_page - 1) / p.per_page).max(1);
    let prev = (p.page > 1).then(|| page_link(&name, &f, p.page - 1));
    let next = (p.page < pages).then(|| page_link(&name, &f, p.page + 1));
    view! {
        <p id="match-count">{p.total}" images match · page "{p.page}" of "{pages}</p>
        <div class="thumbs" id="thumbs">
            {p.images.into_iter().map(|img| {
                let class = format!("thumb label-{}", img.label);
                view! {
                    <a class=class href=format!("/images/{}", img.id) title=img.rel_path.clone()>
                        <img src=format!("/files/thumbs/{}", img.id) alt=img.rel_path.clone() loading="lazy"/>
                        <span>{img.category}" · "{img.label}</span>
                    </a>
                }
            }).collect_view()}
        </div>
        <nav class="pager">
            {prev.map(|h| view! { <a href=h rel="prev">"← Previous"</a> })}
            {next.map(|h| view! { <a href=h rel="next">"Next →"</a> })}
        </nav>
    }
}
