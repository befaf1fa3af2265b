//! Loading InternVL checkpoints in the two key layouts they come in.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::config::InternVlConfig;
use super::model::{InternVl, InternVlProjector};
use crate::clip::load::layer_norm;
use crate::llama::load::{self, linear};
use crate::weights::{ShardedSafeTensors, TensorSource, Tracker, WeightError};

pub use crate::llava::load::KeyNames;

/// Recognises an InternVL checkpoint's key layout from its tensor names:
/// - transformers 5's `save_pretrained`: `vision_tower.*`, `multi_modal_projector.*`,
///   `language_model.model.*`, `language_model.lm_head.weight`;
/// - the Hub's `-hf` checkpoints: `model.vision_tower.*`, `model.multi_modal_projector.*`,
///   `model.language_model.*`, `lm_head.weight`.
///
/// A checkpoint with tensors of both is refused: which copy would count is a guess.
pub fn key_names(names: &[String]) -> Result<KeyNames, WeightError> {
    let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    let hub = has("model.vision_tower.") || has("model.language_model.");
    let saved = has("vision_tower.") || has("language_model.model.");
    match (hub, saved) {
        (true, true) => Err(WeightError::Unexpected(
            "tensors of two key layouts (model.vision_tower.* / model.language_model.* and vision_tower.* / language_model.model.*): the checkpoint mixes layouts".into(),
        )),
        (true, false) => Ok(KeyNames::new(
            "model.vision_tower.",
            "model.multi_modal_projector.",
            "model.language_model.",
            "lm_head.weight",
        )),
        (false, true) => Ok(KeyNames::new(
            "vision_tower.",
            "multi_modal_projector.",
            "language_model.model.",
            "language_model.lm_head.weight",
        )),
        (false, false) => Err(WeightError::Missing(
            "an InternVL vision tower (model.vision_tower.* or vision_tower.*)".into(),
        )),
    }
}

/// Builds the model from any tensor source, checking nothing is missing or left over.
pub fn from_source<B: Backend>(
    cfg: &InternVlConfig,
    source: &mut dyn TensorSource,
    device: &B::Device,
) -> Result<InternVl<B>, WeightError> {
    let keys = key_names(&source.names())?;
    let mut tr = Tracker::new(source);
    let vision = crate::internvit::load::build(&cfg.vision, &keys.vision, &mut tr, device)?;
    let (vd, td, p) = (cfg.shuffled_width(), cfg.text.hidden_size, &keys.projector);
    let projector = InternVlProjector {
        // nn.LayerNorm's default epsilon.
        layer_norm: layer_norm(&mut tr, &format!("{p}layer_norm"), vd, 1e-5, device)?,
        linear_1: linear(&mut tr, &format!("{p}linear_1"), vd, td, true, device)?,
        linear_2: linear(&mut tr, &format!("{p}linear_2"), td, td, true, device)?,
        act: cfg.projector_act,
    };
    let lm = load::build(&cfg.text, &keys.text, &mut tr, device)?;
    tr.finish(load::ignorable)?;
    Ok(InternVl {
        vision,
        projector,
        lm,
        image_token_id: cfg.image_token_id,
        shuffle: cfg.shuffle,
    })
}

/// Loads a Hugging Face InternVL folder (config.json + safetensors, sharded or not).
pub fn from_hf_dir<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(InternVlConfig, InternVl<B>), WeightError> {
    let cfg = InternVlConfig::from_file(&dir.join("config.json"))?;
    let mut source = ShardedSafeTensors::open_dir(dir)?;
    let model = from_source(&cfg, &mut source, device)?;
    Ok((cfg, model))
}
