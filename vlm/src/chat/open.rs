//! Opening any vision-language folder we run: a LLaVA or InternVL checkpoint, or a LoRA adapter
//! folder (a chain of them) on one, with the adapters folded into the weights.

use std::path::Path;

use burn::tensor::backend::Backend;

use super::ChatVlm;
use crate::internvl::is_internvl_dir;
use crate::llava::is_llava_dir;
use crate::weights::WeightError;

/// True when `dir` holds a LoRA adapter (`adapter_config.json`).
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join("adapter_config.json").is_file()
}

/// A LLaVA or InternVL folder, or a LoRA adapter folder of one (which may sit on another
/// adapter).
pub fn is_vlm_dir(dir: &Path) -> bool {
    is_llava_dir(dir) || is_internvl_dir(dir) || is_adapter_dir(dir)
}

/// Opens a model folder or an adapter folder with its chain of adapters folded into the base.
pub fn open_vlm<B: Backend>(dir: &Path, device: &B::Device) -> Result<ChatVlm<B>, WeightError> {
    if is_adapter_dir(dir) {
        open_adapted(dir, device)
    } else {
        open_base(dir, device)
    }
}

fn open_base<B: Backend>(dir: &Path, device: &B::Device) -> Result<ChatVlm<B>, WeightError> {
    if is_internvl_dir(dir) {
        Ok(ChatVlm::InternVl(crate::internvl::open(dir, device)?))
    } else if is_llava_dir(dir) {
        Ok(ChatVlm::Llava(crate::llava::open::open(dir, device)?))
    } else {
        Err(WeightError::Config {
            path: dir.join("config.json").display().to_string(),
            reason: "not a vision-language model: model_type is neither \"llava\" nor \"internvl\""
                .into(),
        })
    }
}

/// Opens a fine-tuned model from its adapter folder: the base model its config names
/// (`base_model_name_or_path`, relative to the adapter folder when not absolute), the adapter
/// loaded and merged into the weights, so inference runs at the base model's speed.
pub fn open_adapted<B: Backend>(
    adapter: &Path,
    device: &B::Device,
) -> Result<ChatVlm<B>, WeightError> {
    let files = crate::lora::read_adapter(adapter)?;
    let base = files
        .base_model
        .clone()
        .ok_or_else(|| WeightError::Config {
            path: adapter.join("adapter_config.json").display().to_string(),
            reason: "base_model_name_or_path is missing: which model does this adapter belong to?"
                .into(),
        })?;
    let base = adapter.join(base);
    // A chain of adapters (the embedded default's stage 2 on stage 1) opens from the bottom.
    let mut chat = if is_adapter_dir(&base) && base != adapter {
        open_adapted::<B>(&base, device)?
    } else if is_llava_dir(&base) || is_internvl_dir(&base) {
        open_base::<B>(&base, device)?
    } else {
        return Err(WeightError::Config {
            path: adapter.join("adapter_config.json").display().to_string(),
            reason: format!(
                "the base model {} is not a LLaVA or InternVL folder here",
                base.display()
            ),
        });
    };
    apply_adapter(&mut chat, files, device)?;
    Ok(chat)
}

/// Loads an adapter's tensors into an open model and folds its LoRA into the weights.
fn apply_adapter<B: Backend>(
    chat: &mut ChatVlm<B>,
    files: crate::lora::AdapterFiles,
    device: &B::Device,
) -> Result<(), WeightError> {
    let mut trainee = chat.trainee_copy();
    trainee.load_adapter(files, device)?;
    // Baked rather than merged: a later adapter of a chain replaces the layers' adapters.
    for (_, p) in trainee.lm_mut().projections_mut() {
        p.bake();
    }
    chat.replace_weights(trainee);
    Ok(())
}
