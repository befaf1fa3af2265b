//! Composing a LLaVA folder from a language model and a vision tower that does not exist yet:
//! the decoder's weights and tokenizer from a LLaMA GGUF (SmolLM2-135M-Instruct for the
//! embedded default), a CLIP-style tower and the projector freshly initialised from a seed, and
//! an `<image>` token added to the vocabulary. The result is an ordinary Hugging Face LLaVA
//! folder (transformers 4.5x key layout, f32), so training, inference and transformers itself
//! read it like any other.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::rng::Rng;
use crate::tokenizer::Tokenizer;
use crate::weights::gguf::GgufLlama;
use crate::weights::{HostTensor, MemorySource, SafeTensors, TensorSource, Tracker, WeightError};
use crate::FieldError;

/// The image token added to the language model's vocabulary.
pub const IMAGE_TOKEN: &str = "<image>";

/// The shape of a vision tower trained from scratch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TowerSpec {
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate_size: usize,
}

impl TowerSpec {
    /// A tower shape and its initialisation seed from a JSON file such as
    /// `models/default/tower.json`: the fields of [`TowerSpec`] plus `seed` (0 when absent).
    pub fn from_file(path: &Path) -> Result<(TowerSpec, u64), WeightError> {
        #[derive(Deserialize)]
        struct TowerFile {
            #[serde(flatten)]
            spec: TowerSpec,
            #[serde(default)]
            seed: u64,
        }
        let text = std::fs::read_to_string(path).map_err(|e| WeightError::io(path, e))?;
        let bad = |reason: String| WeightError::Config {
            path: path.display().to_string(),
            reason,
        };
        let file: TowerFile =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a tower shape: {e}")))?;
        file.spec.validate().map_err(|e| bad(e.to_string()))?;
        Ok((file.spec, file.seed))
    }

    pub fn validate(&self) -> Result<(), FieldError> {
        let t = self;
        if t.patch_size == 0 || t.image_size == 0 || !t.image_size.is_multiple_of(t.patch_size) {
            return Err(FieldError::new(
                "image_size",
                format!(
                    "{} must be a positive multiple of patch_size {}",
                    t.image_size, t.patch_size
                ),
            ));
        }
        if t.layers == 0
            || t.heads == 0
            || t.hidden_size == 0
            || !t.hidden_size.is_multiple_of(t.heads)
        {
            return Err(FieldError::new(
                "hidden_size",
                format!(
                    "{} must be a positive multiple of heads {} (layers ≥ 1)",
                    t.hidden_size, t.heads
                ),
            ));
        }
        if t.intermediate_size == 0 {
            return Err(FieldError::new("intermediate_size", "must be positive"));
        }
        Ok(())
    }

    /// Image tokens per image (patches; the class token is dropped).
    pub fn patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }
}

/// What was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Composed {
    pub image_token_id: u32,
    pub vision_parameters: usize,
    pub projector_parameters: usize,
    pub language_parameters: usize,
}

/// transformers' initialisation for a tower trained from scratch: normal(0, 0.02) weights,
/// zero biases, unit layer norms.
struct Init {
    rng: Rng,
}

impl Init {
    fn normal(&mut self, shape: &[usize], std: f32) -> HostTensor {
        let n: usize = shape.iter().product();
        let mut data = Vec::with_capacity(n);
        while data.len() < n {
            // Box–Muller: two normals from two uniforms.
            let u1 = self.rng.unit().max(f32::MIN_POSITIVE);
            let u2 = self.rng.unit();
            let r = (-2.0 * u1.ln()).sqrt() * std;
            let a = std::f32::consts::TAU * u2;
            data.push(r * a.cos());
            if data.len() < n {
                data.push(r * a.sin());
            }
        }
        HostTensor {
            shape: shape.to_vec(),
            data,
        }
    }

    fn fill(shape: &[usize], v: f32) -> HostTensor {
        HostTensor {
            shape: shape.to_vec(),
            data: vec![v; shape.iter().product()],
        }
    }
}

/// Tensors with their checkpoint names.
type Named = Vec<(String, HostTensor)>;

/// The tower's and projector's tensors by their LLaVA names.
fn fresh_vision(spec: &TowerSpec, text_hidden: usize, seed: u64) -> (Named, Named) {
    let mut init = Init {
        rng: Rng::derive(seed, &[0x7157]),
    };
    let (d, p, f) = (spec.hidden_size, spec.patch_size, spec.intermediate_size);
    let v = "model.vision_tower.vision_model.";
    let mut tower = vec![
        (
            format!("{v}embeddings.class_embedding"),
            init.normal(&[d], 0.02),
        ),
        (
            format!("{v}embeddings.patch_embedding.weight"),
            init.normal(&[d, 3, p, p], 0.02),
        ),
        (
            format!("{v}embeddings.position_embedding.weight"),
            init.normal(&[spec.patches() + 1, d], 0.02),
        ),
    ];
    let norm = |out: &mut Vec<(String, HostTensor)>, name: String| {
        out.push((format!("{name}.weight"), Init::fill(&[d], 1.0)));
        out.push((format!("{name}.bias"), Init::fill(&[d], 0.0)));
    };
    norm(&mut tower, format!("{v}pre_layrnorm"));
    for i in 0..spec.layers {
        let l = format!("{v}encoder.layers.{i}");
        norm(&mut tower, format!("{l}.layer_norm1"));
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            tower.push((
                format!("{l}.self_attn.{proj}.weight"),
                init.normal(&[d, d], 0.02),
            ));
            tower.push((format!("{l}.self_attn.{proj}.bias"), Init::fill(&[d], 0.0)));
        }
        norm(&mut tower, format!("{l}.layer_norm2"));
        tower.push((format!("{l}.mlp.fc1.weight"), init.normal(&[f, d], 0.02)));
        tower.push((format!("{l}.mlp.fc1.bias"), Init::fill(&[f], 0.0)));
        tower.push((format!("{l}.mlp.fc2.weight"), init.normal(&[d, f], 0.02)));
        tower.push((format!("{l}.mlp.fc2.bias"), Init::fill(&[d], 0.0)));
    }
    norm(&mut tower, format!("{v}post_layernorm"));
    let pr = "model.multi_modal_projector.";
    let projector = vec![
        (
            format!("{pr}linear_1.weight"),
            init.normal(&[text_hidden, d], 0.02),
        ),
        (
            format!("{pr}linear_1.bias"),
            Init::fill(&[text_hidden], 0.0),
        ),
        (
            format!("{pr}linear_2.weight"),
            init.normal(&[text_hidden, text_hidden], 0.02),
        ),
        (
            format!("{pr}linear_2.bias"),
            Init::fill(&[text_hidden], 0.0),
        ),
    ];
    (tower, projector)
}

fn count(tensors: &[(String, HostTensor)]) -> usize {
    tensors.iter().map(|(_, t)| t.data.len()).sum()
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<(), WeightError> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    std::fs::write(path, text).map_err(|e| WeightError::io(path, e))
}

/// The tower tensors of `file` (a pretrained tower, e.g. `vlm-inspect model pretrain-tower`'s
/// `tower.safetensors`) in place of the fresh ones in `tower`: every name must be there with
/// the same shape, and the file may hold nothing else.
fn replace_tower(tower: &mut Named, file: &Path) -> Result<(), WeightError> {
    let mut st = SafeTensors::open(file)?;
    let bad = |reason: String| WeightError::Config {
        path: file.display().to_string(),
        reason,
    };
    let wanted: std::collections::BTreeSet<&str> = tower.iter().map(|(n, _)| n.as_str()).collect();
    let extra: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| !wanted.contains(n.as_str()))
        .take(5)
        .collect();
    if !extra.is_empty() {
        return Err(bad(format!(
            "tensors that are not part of this tower shape: {}",
            extra.join(", ")
        )));
    }
    for (name, t) in tower.iter_mut() {
        let Some(new) = st.read(name)? else {
            return Err(bad(format!("tensor {name:?} is missing")));
        };
        if new.shape != t.shape {
            return Err(WeightError::Shape {
                name: name.clone(),
                got: new.shape,
                expected: t.shape.clone(),
            });
        }
        *t = new;
    }
    Ok(())
}

/// A tower of shape `spec` with fresh weights from `seed`, as [`compose`] initialises it.
pub fn fresh_tower<B: burn::tensor::backend::Backend>(
    spec: &TowerSpec,
    seed: u64,
    device: &B::Device,
) -> Result<crate::clip::ClipVision<B>, WeightError> {
    let (tower, _) = fresh_vision(spec, 8, seed);
    let mut source = MemorySource(tower.into_iter().collect());
    let mut tr = Tracker::new(&mut source);
    let cfg = crate::clip::config::ClipVisionConfig {
        hidden_size: spec.hidden_size,
        intermediate_size: spec.intermediate_size,
        num_hidden_layers: spec.layers,
        num_attention_heads: spec.heads,
        num_channels: 3,
        image_size: spec.image_size,
        patch_size: spec.patch_size,
        hidden_act: crate::clip::config::Activation::Gelu,
        layer_norm_eps: 1e-5,
    };
    let tower =
        crate::clip::load::build(&cfg, "model.vision_tower.vision_model.", &mut tr, device)?;
    tr.finish(|_| false)?;
    Ok(tower)
}

/// Writes a LLaVA folder at `out` from the LLaMA GGUF `lm` and a tower of shape `spec`: fresh
/// from `seed`, or the pretrained one in `tower_weights`.
pub fn compose(
    lm: &Path,
    spec: &TowerSpec,
    seed: u64,
    tower_weights: Option<&Path>,
    out: &Path,
) -> Result<Composed, WeightError> {
    let bad = |reason: String| WeightError::Config {
        path: out.display().to_string(),
        reason,
    };
    spec.validate().map_err(|e| bad(e.to_string()))?;
    let mut source = GgufLlama::open(lm)?;
    let mut tokenizer = Tokenizer::from_gguf(&source.gguf, &lm.display().to_string())?;
    if tokenizer.token_id(IMAGE_TOKEN).is_some() {
        return Err(bad(format!(
            "the language model's vocabulary has {IMAGE_TOKEN} already"
        )));
    }
    let text = source.config.clone();
    let image_token_id = text.vocab_size as u32;
    tokenizer.add_special_tokens(&[IMAGE_TOKEN]);
    if tokenizer.token_id(IMAGE_TOKEN) != Some(image_token_id) {
        return Err(bad(format!(
            "{IMAGE_TOKEN} did not get id {image_token_id} (the tokenizer has {} tokens)",
            tokenizer.vocab_size()
        )));
    }
    let chat_template = source
        .gguf
        .get("tokenizer.chat_template")
        .and_then(|v| v.as_str())
        .map(String::from);
    std::fs::create_dir_all(out).map_err(|e| WeightError::io(out, e))?;

    // The decoder, with one more embedding row for <image> (the mean of the others: it is
    // replaced by image features before it reaches the decoder, but keeps the head sane).
    let mut language = Vec::new();
    for name in source.names() {
        let Some(mut t) = source.read(&name)? else {
            continue;
        };
        let key = match name.strip_prefix("model.") {
            Some(rest) => format!("model.language_model.{rest}"),
            None => name.clone(),
        };
        if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
            let (rows, cols) = (t.shape[0], t.shape[1]);
            let mut mean = vec![0f32; cols];
            for row in t.data.chunks(cols) {
                mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            mean.iter_mut().for_each(|m| *m /= rows as f32);
            t.data.extend(mean);
            t.shape[0] = rows + 1;
        }
        language.push((key, t));
    }
    let (mut tower, projector) = fresh_vision(spec, text.hidden_size, seed);
    if let Some(file) = tower_weights {
        replace_tower(&mut tower, file)?;
    }
    let composed = Composed {
        image_token_id,
        vision_parameters: count(&tower),
        projector_parameters: count(&projector),
        language_parameters: count(&language),
    };
    let all = tower.iter().chain(&projector).chain(&language);
    crate::weights::safetensors::write_named(
        &out.join("model.safetensors"),
        all.map(|(k, t)| (k, t)),
    )?;

    let eos: Vec<u32> = text.eos_token_ids.clone();
    let config = serde_json::json!({
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "image_token_index": image_token_id,
        "projector_hidden_act": "gelu",
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "default",
        "tie_word_embeddings": text.tie_word_embeddings,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "llama",
            "vocab_size": text.vocab_size + 1,
            "hidden_size": text.hidden_size,
            "intermediate_size": text.intermediate_size,
            "num_hidden_layers": text.num_hidden_layers,
            "num_attention_heads": text.num_attention_heads,
            "num_key_value_heads": text.num_key_value_heads,
            "head_dim": text.head_dim,
            "rms_norm_eps": text.rms_norm_eps,
            "rope_theta": text.rope_theta,
            "max_position_embeddings": text.max_position_embeddings,
            "tie_word_embeddings": text.tie_word_embeddings,
            "hidden_act": "silu",
            "bos_token_id": text.bos_token_id,
            "eos_token_id": eos,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": spec.hidden_size,
            "intermediate_size": spec.intermediate_size,
            "num_hidden_layers": spec.layers,
            "num_attention_heads": spec.heads,
            "num_channels": 3,
            "image_size": spec.image_size,
            "patch_size": spec.patch_size,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-5,
            "projection_dim": spec.hidden_size,
        },
    });
    write_json(&out.join("config.json"), &config)?;
    write_json(
        &out.join("generation_config.json"),
        &serde_json::json!({"eos_token_id": eos, "bos_token_id": text.bos_token_id}),
    )?;
    let eos_text = eos.first().and_then(|&e| tokenizer.id_to_token(e));
    write_json(
        &out.join("tokenizer_config.json"),
        &serde_json::json!({"chat_template": chat_template, "eos_token": eos_text}),
    )?;
    std::fs::write(out.join("tokenizer.json"), tokenizer.to_json()?)
        .map_err(|e| WeightError::io(&out.join("tokenizer.json"), e))?;
    let s = spec.image_size;
    write_json(
        &out.join("preprocessor_config.json"),
        &serde_json::json!({
            "image_processor_type": "CLIPImageProcessor",
            "do_resize": true, "size": {"shortest_edge": s},
            "do_center_crop": true, "crop_size": {"height": s, "width": s},
            "do_rescale": true, "rescale_factor": 1.0 / 255.0,
            "do_normalize": true,
            "image_mean": crate::image::preprocess::CLIP_MEAN, "image_std": crate::image::preprocess::CLIP_STD,
            "do_convert_rgb": true, "resample": 3,
        }),
    )?;
    Ok(composed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tower_file_gives_shape_and_seed_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tower.json");
        let shape = r#""image_size": 128, "patch_size": 16, "hidden_size": 192, "layers": 4, "heads": 3, "intermediate_size": 768"#;
        std::fs::write(&path, format!("{{{shape}, \"seed\": 7}}")).unwrap();
        let (spec, seed) = TowerSpec::from_file(&path).unwrap();
        assert_eq!((spec.image_size, spec.patch_size, seed), (128, 16, 7));
        std::fs::write(&path, format!("{{{shape}}}")).unwrap();
        assert_eq!(
            TowerSpec::from_file(&path).unwrap().1,
            0,
            "seed 0 when absent"
        );
        std::fs::write(&path, r#"{"image_size": 128}"#).unwrap();
        assert!(TowerSpec::from_file(&path)
            .unwrap_err()
            .to_string()
            .contains("not a tower shape"));
        std::fs::write(&path, format!("{{{}}}", shape.replace("16", "15"))).unwrap();
        let e = TowerSpec::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("image_size") && e.contains("multiple"), "{e}");
        assert!(matches!(
            TowerSpec::from_file(&dir.path().join("none.json")),
            Err(WeightError::Io { .. })
        ));
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default/tower.json");
        let got = TowerSpec::from_file(&shipped);
        assert!(got.is_ok(), "the shipped recipe's tower: {got:?}");
    }
}
