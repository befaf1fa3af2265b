//! LoRA on the decoder's projections: adding fresh adapters, reading and writing them under
//! PEFT's names, merging them for inference.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;

use super::model::Llama;
use crate::lora::{peft_key, Lora, LoraConfig, LoraLinear};
use crate::weights::{HostTensor, WeightError};
use crate::FieldError;

/// The projections adapters can sit on, in a layer's order.
pub const PROJECTIONS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

impl<B: Backend> Llama<B> {
    /// Every projection with its transformers path inside the decoder body
    /// (`layers.3.self_attn.q_proj`).
    pub fn projections(&self) -> Vec<(String, &LoraLinear<B>)> {
        let mut out = Vec::with_capacity(self.layers.len() * PROJECTIONS.len());
        for (i, l) in self.layers.iter().enumerate() {
            let (a, m) = (&l.self_attn, &l.mlp);
            let all = [
                &a.q_proj,
                &a.k_proj,
                &a.v_proj,
                &a.o_proj,
                &m.gate_proj,
                &m.up_proj,
                &m.down_proj,
            ];
            for (name, p) in PROJECTIONS.iter().zip(all) {
                out.push((format!("layers.{i}.{name}"), p));
            }
        }
        out
    }

    /// [`Llama::projections`], mutable.
    pub fn projections_mut(&mut self) -> Vec<(String, &mut LoraLinear<B>)> {
        let mut out = Vec::with_capacity(self.layers.len() * PROJECTIONS.len());
        for (i, l) in self.layers.iter_mut().enumerate() {
            let a = &mut l.self_attn;
            let m = &mut l.mlp;
            let all = [
                &mut a.q_proj,
                &mut a.k_proj,
                &mut a.v_proj,
                &mut a.o_proj,
                &mut m.gate_proj,
                &mut m.up_proj,
                &mut m.down_proj,
            ];
            for (name, p) in PROJECTIONS.iter().zip(all) {
                out.push((format!("layers.{i}.{name}"), p));
            }
        }
        out
    }

    /// Puts a fresh adapter on every projection `cfg` targets; returns how many. A target that
    /// matches no projection is an error naming it (a typo would otherwise train nothing).
    /// Seed the backend first for reproducible A matrices.
    pub fn add_lora(&mut self, cfg: &LoraConfig, device: &B::Device) -> Result<usize, FieldError> {
        cfg.validate()?;
        let mut used = vec![false; cfg.targets.len()];
        let mut count = 0;
        for (name, p) in self.projections_mut() {
            let hit = cfg
                .targets
                .iter()
                .position(|t| name.rsplit('.').next() == Some(t.as_str()) || *t == name);
            if let Some(k) = hit {
                used[k] = true;
                let (d_in, d_out) = p.dims();
                p.unmerge();
                p.lora = Some(Lora::new(d_in, d_out, cfg, device));
                count += 1;
            }
        }
        if let Some(k) = used.iter().position(|u| !u) {
            return Err(FieldError::new(
                "lora.targets",
                format!(
                    "{:?} matches no module of the language model (it has {})",
                    cfg.targets[k],
                    PROJECTIONS
                        .map(|p| p.rsplit('.').next().unwrap_or(p))
                        .join(", ")
                ),
            ));
        }
        Ok(count)
    }

    /// The adapters as PEFT tensors, keyed with `prefix` before the decoder path (e.g.
    /// `model.language_model.` for LLaVA, `model.` for a plain decoder).
    pub fn lora_tensors(&self, prefix: &str) -> Result<Vec<(String, HostTensor)>, WeightError> {
        let mut out = Vec::new();
        for (path, p) in self.projections() {
            if let Some(lora) = &p.lora {
                let module = format!("{prefix}{path}");
                let (ta, tb) = lora.to_peft()?;
                out.push((peft_key(&module, 'A'), ta));
                out.push((peft_key(&module, 'B'), tb));
            }
        }
        Ok(out)
    }

    /// Takes the adapters for this decoder out of `tensors` (PEFT keys; any prefix before
    /// `layers.N.`, so adapters made for LLaVA's or a plain decoder's layout both load, but
    /// never a vision tower's). Returns how many projections got one.
    pub fn load_lora(
        &mut self,
        cfg: &LoraConfig,
        tensors: &mut BTreeMap<String, HostTensor>,
        device: &B::Device,
    ) -> Result<usize, WeightError> {
        let mut count = 0;
        for (name, p) in self.projections_mut() {
            let suffix_a = format!(".{name}.lora_A.weight");
            let key_a = tensors
                .keys()
                .find(|k| k.ends_with(&suffix_a) && !k.contains("vision"))
                .cloned();
            let Some(key_a) = key_a else { continue };
            let key_b = key_a.replace(".lora_A.weight", ".lora_B.weight");
            let (Some(a), Some(b)) = (tensors.remove(&key_a), tensors.remove(&key_b)) else {
                return Err(WeightError::Missing(key_b));
            };
            let (d_in, d_out) = p.dims();
            if a.shape.get(1) != Some(&d_in) || b.shape.first() != Some(&d_out) {
                return Err(WeightError::Shape {
                    name: key_a,
                    got: [a.shape, b.shape].concat(),
                    expected: vec![cfg.rank, d_in, d_out, cfg.rank],
                });
            }
            p.unmerge();
            p.lora = Some(Lora::from_peft(a, b, cfg, device)?);
            count += 1;
        }
        Ok(count)
    }

    /// Folds every adapter into its base weight.
    pub fn merge_lora(&mut self) {
        for (_, p) in self.projections_mut() {
            p.merge();
        }
    }

    /// Takes merged adapters back out of the base weights.
    pub fn unmerge_lora(&mut self) {
        for (_, p) in self.projections_mut() {
            p.unmerge();
        }
    }
}
