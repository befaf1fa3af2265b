//! Server functions of the prompt library (built-in and user-written prompts) and of what the
//! Inspect and Evaluations forms offer.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ApiError;

#[cfg(feature = "ssr")]
use crate::ssr::{fail, require_user, state, store_error};
#[cfg(feature = "ssr")]
use store::Access;

/// A prompt as the pages list it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptChoice {
    pub id: Option<i64>,
    pub name: String,
    pub text: String,
    pub chain_of_image: bool,
    /// "built in" or the author's name.
    pub author: String,
}

/// What the Inspect and Evaluations forms offer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Choices {
    /// Models that can judge images: LLaVA folders and adapters of them.
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    /// (dataset, split key)
    pub splits: Vec<(String, String)>,
    /// (dataset, category)
    pub categories: Vec<(String, String)>,
    pub prompts: Vec<PromptChoice>,
}

#[cfg(feature = "ssr")]
async fn prompt_choices(st: &crate::ssr::AppState) -> Result<Vec<PromptChoice>, ApiError> {
    let mut out: Vec<PromptChoice> = anomaly::BUILTIN_PROMPTS
        .iter()
        .map(|p| PromptChoice {
            id: None,
            name: p.name.into(),
            text: p.text.into(),
            chain_of_image: p.chain_of_image,
            author: "built in".into(),
        })
        .collect();
    for p in st.store.prompts().await.map_err(store_error)? {
        out.push(PromptChoice {
            id: Some(p.id),
            name: p.name,
            text: p.text,
            chain_of_image: p.chain_of_image,
            author: p.author,
        });
    }
    Ok(out)
}

#[server(prefix = "/api", endpoint = "eval/choices")]
pub async fn eval_choices() -> Result<Choices, ApiError> {
    require_user(Access::MEMBER)?;
    let st = state()?;
    let models = st
        .store
        .models()
        .await
        .map_err(store_error)?
        .into_iter()
        // Vision-language models on this machine, and remote ones (their servers judge
        // images; a wrong choice is the server's clear error).
        .filter(|m| m.remote.is_some() || vlm::chat::is_vlm_dir(std::path::Path::new(&m.path)))
        .map(|m| m.name)
        .collect();
    let mut c = Choices {
        models,
        prompts: prompt_choices(&st).await?,
        ..Default::default()
    };
    for d in st.store.datasets().await.map_err(store_error)? {
        let stats = st.store.dataset_stats(&d.name).await.map_err(store_error)?;
        for sp in stats.splits {
            c.splits.push((d.name.clone(), sp.key));
        }
        let mut cats: Vec<String> = stats.counts.into_iter().map(|r| r.category).collect();
        cats.dedup();
        for cat in cats {
            c.categories.push((d.name.clone(), cat));
        }
        c.datasets.push(d.name);
    }
    Ok(c)
}

/// Saves a prompt (members). Every prompt gets the verdict instruction when it is used.
#[server(prefix = "/api", endpoint = "prompts/add")]
pub async fn add_prompt(
    name: String,
    text: String,
    chain_of_image: Option<String>,
) -> Result<i64, ApiError> {
    let me = require_user(Access::MEMBER)?;
    state()?
        .store
        .add_prompt(&name, &text, chain_of_image.is_some(), Some(me.id))
        .await
        .map_err(store_error)
}

/// Deletes a prompt (its author or an admin).
#[server(prefix = "/api", endpoint = "prompts/delete")]
pub async fn delete_prompt(id: i64) -> Result<(), ApiError> {
    let me = require_user(Access::MEMBER)?;
    let st = state()?;
    let p = st
        .store
        .prompts()
        .await
        .map_err(store_error)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| fail(ApiError::NotFound(format!("no prompt {id}"))))?;
    if p.author != me.username && me.role != store::Role::Admin {
        return Err(fail(ApiError::Forbidden(
            "only its author or an admin may delete a prompt".into(),
        )));
    }
    st.store.delete_prompt(id).await.map_err(store_error)
}

/// Every prompt, built in first.
#[server(prefix = "/api", endpoint = "prompts")]
pub async fn list_prompts() -> Result<Vec<PromptChoice>, ApiError> {
    require_user(Access::MEMBER)?;
    prompt_choices(&state()?).await
}
