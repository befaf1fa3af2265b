//! Running a request through a vision-language model (LLaVA or InternVL): images
//! preprocessed, the chat template applied,
//! the reply generated token by token (each new piece of text handed to a callback, for live
//! pages), then read for its verdict.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};
use vlm::chat::ChatVlm;
use vlm::llama::generate::{generate_from_embeds, Limits, Sampling};
use vlm::llama::stream::TextStream;
use vlm::workers::on_cpu_workers;

use crate::coi::{explanation_of, Mode, Request};
use crate::verdict::{parse_verdict, Verdict};

/// Decoding settings of a run (greedy by default, so runs are reproducible).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Decoding {
    pub max_new_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
    /// At most this many tiles per image for tiling models (InternVL; 1 to 12, the model's
    /// processor setting when unset), so two high-resolution images fit the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_patches: Option<usize>,
}

impl Default for Decoding {
    fn default() -> Self {
        Decoding {
            max_new_tokens: 256,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            max_patches: None,
        }
    }
}

/// What the model said about one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The whole reply as generated.
    pub raw: String,
    /// The reply without its verdict line.
    pub explanation: String,
    pub verdict: Verdict,
    pub prompt_tokens: usize,
    pub new_tokens: usize,
    pub latency_ms: u64,
}

/// Why a model cannot be opened or asked.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("{} is not a vision-language model (a LLaVA or InternVL folder, or a LoRA adapter of one): judging images needs a vision tower", .0.display())]
    NotVisionLanguage(PathBuf),
    #[error(transparent)]
    Weights(#[from] vlm::weights::WeightError),
    #[error("the prompt ({prompt} tokens with its images) plus {new} new tokens exceeds the model's context of {context}")]
    TooLong {
        prompt: usize,
        new: usize,
        context: usize,
    },
    #[error(transparent)]
    Template(#[from] vlm::tokenizer::TemplateError),
    #[error(transparent)]
    Prompt(#[from] vlm::chat::ChatError),
}

/// How the model in folder `path` is asked: a QA-trained adapter answers as it was trained; a
/// base model, or a stage trained on captions (the default's stage 1), is prompted as a base
/// model.
pub fn mode_of(path: &Path) -> Mode {
    match vlm::chat::is_adapter_dir(path).then(|| crate::finetune::adapter_task(path)) {
        Some(crate::finetune::Task::Qa) => Mode::FineTuned,
        Some(crate::finetune::Task::Caption) | None => Mode::Base,
    }
}

/// A loaded model and how to ask it.
pub struct Explainer<B: Backend> {
    pub model: ChatVlm<B>,
    pub mode: Mode,
    pub device: B::Device,
}

impl<B: Backend> Explainer<B> {
    /// Opens a LLaVA or InternVL folder, or an adapter folder (a fine-tuned model, asked in
    /// single-image mode).
    pub fn open(path: &Path, device: &B::Device) -> Result<Self, ExplainError> {
        if !vlm::chat::is_vlm_dir(path) {
            return Err(ExplainError::NotVisionLanguage(path.to_path_buf()));
        }
        let model = vlm::chat::open_vlm::<B>(path, device)?;
        let mode = mode_of(path);
        Ok(Explainer {
            model,
            mode,
            device: device.clone(),
        })
    }

    /// Generates the reply to `request`; `on_text` gets each new piece of text and returns
    /// false to stop early.
    pub fn explain(
        &self,
        request: &Request,
        decoding: &Decoding,
        mut on_text: impl FnMut(&str) -> bool,
    ) -> Result<Reply, ExplainError> {
        let start = Instant::now();
        let m = &self.model;
        let pixels = m.load_images(&request.images, decoding.max_patches)?;
        let text = m.user_prompt(request.system.as_deref(), &request.message)?;
        let prompt = m.prompt_ids(&text, &pixels.per_image)?;
        let context = m.context();
        if prompt.len() + decoding.max_new_tokens > context {
            return Err(ExplainError::TooLong {
                prompt: prompt.len(),
                new: decoding.max_new_tokens,
                context,
            });
        }
        let pixels = m.pixel_tensor(&pixels.tiles, &self.device);
        let ids: Vec<i64> = prompt.iter().map(|&t| t as i64).collect();
        let embeds =
            on_cpu_workers::<B, _>(|| m.embed(&ids, [1, ids.len()], pixels, &self.device))?;
        let limits = Limits {
            max_new: decoding.max_new_tokens,
            min_new: 0,
            stop_tokens: m.stop_tokens().to_vec(),
        };
        let sampling = Sampling {
            temperature: decoding.temperature,
            top_p: decoding.top_p,
            seed: decoding.seed,
            ..Sampling::default()
        };
        let mut generated: Vec<u32> = Vec::new();
        let mut stream = TextStream::new(&[]);
        let mut keep_going = true;
        let out = generate_from_embeds(
            m.lm(),
            embeds,
            &prompt,
            &limits,
            &sampling,
            |t| {
                if m.stop_tokens().contains(&t) {
                    return false;
                }
                generated.push(t);
                let text = m.tokenizer().decode(&generated, true).unwrap_or_default();
                let piece = stream.push(&text);
                if !piece.is_empty() {
                    keep_going = on_text(&piece);
                }
                keep_going
            },
            &self.device,
        );
        let raw = m.tokenizer().decode(&generated, true).unwrap_or_default();
        let rest = stream.finish(&raw);
        if !rest.is_empty() {
            on_text(&rest);
        }
        Ok(Reply {
            explanation: explanation_of(&raw),
            verdict: parse_verdict(&raw),
            raw,
            prompt_tokens: prompt.len(),
            new_tokens: out.len(),
            latency_ms: start.elapsed().as_millis() as u64,
        })
    }
}
