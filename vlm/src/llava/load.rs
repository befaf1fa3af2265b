//! Loading LLaVA checkpoints in the three key layouts they come in.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::config::LlavaConfig;
use super::model::{Llava, Projector};
use crate::llama::load::{self, linear, KeyLayout};
use crate::weights::{ShardedSafeTensors, TensorSource, Tracker, WeightError};

/// Where each part's tensors are in a checkpoint (LLaVA's and InternVL's: the same three
/// parts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyNames {
    pub vision: String,
    pub projector: String,
    pub text: KeyLayout,
}

impl KeyNames {
    /// The prefixes of the vision tower, the projector and the decoder's body, and the head's
    /// tensor name.
    pub fn new(vision: &str, projector: &str, body: &str, head: &str) -> Self {
        KeyNames {
            vision: vision.into(),
            projector: projector.into(),
            text: KeyLayout {
                body: body.into(),
                head: head.into(),
            },
        }
    }

    /// Recognises the layout from the tensor names:
    /// - transformers 4.5x: `model.vision_tower.vision_model.*`, `model.multi_modal_projector.*`,
    ///   `model.language_model.*`, `lm_head.*`;
    /// - the Hub's llava-hf: `vision_tower.vision_model.*`, `multi_modal_projector.*`,
    ///   `language_model.model.*`, `language_model.lm_head.*`;
    /// - transformers 5.x `save_pretrained`: as llava-hf, with `vision_tower.*` directly.
    pub fn detect(names: &[String]) -> Result<Self, WeightError> {
        let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
        if has("model.vision_tower.vision_model.") {
            Ok(KeyNames::new(
                "model.vision_tower.vision_model.",
                "model.multi_modal_projector.",
                "model.language_model.",
                "lm_head.weight",
            ))
        } else if has("vision_tower.vision_model.") || has("vision_tower.embeddings.") {
            let vision = if has("vision_tower.vision_model.") {
                "vision_tower.vision_model."
            } else {
                "vision_tower."
            };
            Ok(KeyNames::new(
                vision,
                "multi_modal_projector.",
                "language_model.model.",
                "language_model.lm_head.weight",
            ))
        } else {
            Err(WeightError::Missing(
                "a LLaVA vision tower (model.vision_tower.vision_model.*, vision_tower.vision_model.* or vision_tower.*)".into(),
            ))
        }
    }
}

/// Builds the model from any tensor source, checking nothing is missing or left over.
pub fn from_source<B: Backend>(
    cfg: &LlavaConfig,
    source: &mut dyn TensorSource,
    device: &B::Device,
) -> Result<Llava<B>, WeightError> {
    let keys = KeyNames::detect(&source.names())?;
    let mut tr = Tracker::new(source);
    let vision = crate::clip::load::build(&cfg.vision, &keys.vision, &mut tr, device)?;
    let (vd, td) = (
        cfg.vision.hidden_size * cfg.feature_layers.len(),
        cfg.text.hidden_size,
    );
    let p = &keys.projector;
    let projector = Projector {
        linear_1: linear(
            &mut tr,
            &format!("{p}linear_1"),
            vd,
            td,
            cfg.projector_bias,
            device,
        )?,
        linear_2: linear(
            &mut tr,
            &format!("{p}linear_2"),
            td,
            td,
            cfg.projector_bias,
            device,
        )?,
        act: cfg.projector_act,
    };
    let lm = load::build(&cfg.text, &keys.text, &mut tr, device)?;
    tr.finish(load::ignorable)?;
    Ok(Llava {
        vision,
        projector,
        lm,
        image_token_id: cfg.image_token_id,
        feature_layers: cfg.feature_layers.clone(),
        strategy: cfg.strategy,
        image_size: cfg.vision.image_size,
        channels: cfg.vision.num_channels,
        tokens_per_image: cfg.tokens_per_image(),
    })
}

/// Loads a Hugging Face LLaVA folder (config.json + safetensors, sharded or not).
pub fn from_hf_dir<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(LlavaConfig, Llava<B>), WeightError> {
    let cfg = LlavaConfig::from_file(&dir.join("config.json"))?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = from_source(&cfg, &mut source, device)?;
    Ok((cfg, model))
}
