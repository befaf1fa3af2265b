//! The model being fine-tuned: a decoder alone or LLaVA, with its trainable tensors named by
//! the keys PEFT saves them under.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};

use super::batch::Batch;
use super::options::TrainOptions;
use crate::llama::model::{Llama, Mask};
use crate::llava::Llava;
use crate::lora::{AdapterFiles, LoraConfig};
use crate::weights::{HostTensor, WeightError};

/// PEFT's name of LLaVA's projector (a `modules_to_save` entry).
pub const PROJECTOR: &str = "multi_modal_projector";

/// A model that training updates (one per run: the size difference of the variants is moot).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Trainee<B: Backend> {
    Llama(Llama<B>),
    Llava(Llava<B>),
}

/// A trainable tensor, whatever its rank.
pub enum ParamMut<'a, B: Backend> {
    One(&'a mut Param<Tensor<B, 1>>),
    Two(&'a mut Param<Tensor<B, 2>>),
}

impl<B: Backend> ParamMut<'_, B> {
    /// The value, flattened.
    pub fn flat(&self) -> Tensor<B, 1> {
        match self {
            ParamMut::One(p) => p.val(),
            ParamMut::Two(p) => {
                let v = p.val();
                let n = v.shape().num_elements();
                v.reshape([n])
            }
        }
    }
}

impl<B: AutodiffBackend> ParamMut<'_, B> {
    /// The gradient, flattened (None when the tensor took no part in the loss).
    pub fn grad(&self, grads: &B::Gradients) -> Option<Tensor<B::InnerBackend, 1>> {
        match self {
            ParamMut::One(p) => p.val().grad(grads),
            ParamMut::Two(p) => p.val().grad(grads).map(|g| {
                let n = g.shape().num_elements();
                g.reshape([n])
            }),
        }
    }

    /// Replaces the value (same parameter id, still trainable).
    pub fn set_flat(&mut self, value: Tensor<B::InnerBackend, 1>) {
        match self {
            ParamMut::One(p) => {
                **p = Param::initialized(p.id, Tensor::from_inner(value).require_grad())
            }
            ParamMut::Two(p) => {
                let dims = p.val().dims();
                **p = Param::initialized(
                    p.id,
                    Tensor::from_inner(value.reshape(dims)).require_grad(),
                );
            }
        }
    }
}

impl<B: Backend> Trainee<B> {
    pub fn lm(&self) -> &Llama<B> {
        match self {
            Trainee::Llama(m) => m,
            Trainee::Llava(m) => &m.lm,
        }
    }

    pub fn lm_mut(&mut self) -> &mut Llama<B> {
        match self {
            Trainee::Llama(m) => m,
            Trainee::Llava(m) => &mut m.lm,
        }
    }

    /// Where the decoder sits in transformers' module tree (PEFT keys start there).
    pub fn lm_prefix(&self) -> &'static str {
        match self {
            Trainee::Llama(_) => "model.",
            Trainee::Llava(_) => "model.language_model.",
        }
    }

    /// Freezes every base weight and puts fresh adapters on the targets (and makes the projector
    /// trainable when asked). Seeds the backend with `opts.seed` for the A matrices.
    pub fn prepare(self, opts: &TrainOptions, device: &B::Device) -> Result<Self, String> {
        B::seed(device, opts.seed);
        let mut me = match self {
            Trainee::Llama(_) if opts.train_projector => {
                return Err(
                    "train_projector: the base model has no projector (not a LLaVA model)".into(),
                )
            }
            Trainee::Llama(m) => Trainee::Llama(m.no_grad()),
            Trainee::Llava(m) => {
                let mut m = m.no_grad();
                if opts.train_projector {
                    m.projector.linear_1 = trainable(m.projector.linear_1);
                    m.projector.linear_2 = trainable(m.projector.linear_2);
                }
                Trainee::Llava(m)
            }
        };
        me.lm_mut().add_lora(&opts.lora, device)?;
        Ok(me)
    }

    /// The final normalised hidden states of a batch.
    pub fn hidden(&self, batch: &Batch, device: &B::Device) -> Result<Tensor<B, 3>, String> {
        let mask = Mask::from_ones(batch.shape[0], batch.shape[1], &batch.attention);
        let embeds = match self {
            Trainee::Llama(m) => {
                if batch.images > 0 {
                    return Err(
                        "the base model is a text-only decoder; examples carry images".into(),
                    );
                }
                m.embed(Tensor::from_data(
                    TensorData::new(batch.ids.clone(), batch.shape),
                    device,
                ))
            }
            Trainee::Llava(m) => {
                let pixels = (batch.images > 0).then(|| {
                    Tensor::<B, 4>::from_data(
                        TensorData::new(
                            batch.pixels.clone(),
                            [batch.images, m.channels, m.image_size, m.image_size],
                        ),
                        device,
                    )
                });
                m.embed(&batch.ids, batch.shape, pixels, device)
                    .map_err(|e| e.to_string())?
            }
        };
        Ok(self.lm().hidden_states(embeds, &mask, None))
    }

    /// Every trainable tensor by its PEFT key. LoRA matrices are held transposed to PEFT's
    /// layout (`[d_in, r]`, `[r, d_out]`) and linear weights as `[in, out]`; the optimizer is
    /// element-wise, so only [`Trainee::adapter_files`] needs to care.
    pub fn trainables(&mut self) -> Vec<(String, ParamMut<'_, B>)> {
        let prefix = self.lm_prefix();
        let mut out = Vec::new();
        let (lm, projector) = match self {
            Trainee::Llama(m) => (m, None),
            Trainee::Llava(m) => (&mut m.lm, Some(&mut m.projector)),
        };
        for (name, p) in lm.projections_mut() {
            if let Some(l) = &mut p.lora {
                let module = format!("{prefix}{name}");
                out.push((crate::lora::peft_key(&module, 'A'), ParamMut::Two(&mut l.a)));
                out.push((crate::lora::peft_key(&module, 'B'), ParamMut::Two(&mut l.b)));
            }
        }
        if let Some(pr) = projector {
            for (name, lin) in [
                ("linear_1", &mut pr.linear_1),
                ("linear_2", &mut pr.linear_2),
            ] {
                if !lin.weight.is_require_grad() {
                    continue;
                }
                let key = format!("base_model.model.model.{PROJECTOR}.{name}");
                out.push((format!("{key}.weight"), ParamMut::Two(&mut lin.weight)));
                if let Some(b) = &mut lin.bias {
                    out.push((format!("{key}.bias"), ParamMut::One(b)));
                }
            }
        }
        out
    }

    /// True when the projector is being trained.
    pub fn projector_trainable(&self) -> bool {
        match self {
            Trainee::Llava(m) => m.projector.linear_1.weight.is_require_grad(),
            Trainee::Llama(_) => false,
        }
    }

    /// The adapter in PEFT's files: LoRA matrices and, when trained, the projector.
    pub fn adapter_files(&self, lora: &LoraConfig) -> Result<AdapterFiles, WeightError> {
        let mut tensors: BTreeMap<String, HostTensor> = self
            .lm()
            .lora_tensors(self.lm_prefix())?
            .into_iter()
            .collect();
        let mut modules_to_save = Vec::new();
        if let (Trainee::Llava(m), true) = (self, self.projector_trainable()) {
            modules_to_save.push(PROJECTOR.to_string());
            for (name, lin) in [
                ("linear_1", &m.projector.linear_1),
                ("linear_2", &m.projector.linear_2),
            ] {
                let key = format!("base_model.model.model.{PROJECTOR}.{name}");
                tensors.insert(
                    format!("{key}.weight"),
                    HostTensor::from_tensor(lin.weight.val().transpose())?,
                );
                if let Some(b) = &lin.bias {
                    tensors.insert(format!("{key}.bias"), HostTensor::from_tensor(b.val())?);
                }
            }
        }
        Ok(AdapterFiles {
            config: lora.clone(),
            modules_to_save,
            tensors,
            language_model_only: matches!(self, Trainee::Llava(_)),
            base_model: None,
        })
    }

    /// Loads an adapter (ours or PEFT's): LoRA matrices onto the decoder, a saved projector
    /// into the projector. Every tensor must find its place.
    pub fn load_adapter(
        &mut self,
        mut files: AdapterFiles,
        device: &B::Device,
    ) -> Result<usize, WeightError> {
        let count = self
            .lm_mut()
            .load_lora(&files.config, &mut files.tensors, device)?;
        if let Trainee::Llava(m) = self {
            for (name, lin) in [
                ("linear_1", &mut m.projector.linear_1),
                ("linear_2", &mut m.projector.linear_2),
            ] {
                let key = files
                    .tensors
                    .keys()
                    .find(|k| k.ends_with(&format!("{PROJECTOR}.{name}.weight")))
                    .cloned();
                let Some(key) = key else { continue };
                let w = files.tensors.remove(&key).unwrap_or_else(|| HostTensor {
                    shape: vec![],
                    data: vec![],
                });
                let [d_in, d_out] = lin.weight.dims();
                if w.shape != [d_out, d_in] {
                    return Err(WeightError::Shape {
                        name: key,
                        got: w.shape,
                        expected: vec![d_out, d_in],
                    });
                }
                let grad = lin.weight.is_require_grad();
                let weight =
                    Tensor::<B, 2>::from_data(TensorData::new(w.data, [d_out, d_in]), device)
                        .transpose();
                lin.weight = Param::initialized(lin.weight.id, weight.set_require_grad(grad));
                let bias_key = key.replace(".weight", ".bias");
                if let (Some(b), Some(old)) = (files.tensors.remove(&bias_key), lin.bias.as_mut()) {
                    if b.shape != [d_out] {
                        return Err(WeightError::Shape {
                            name: bias_key,
                            got: b.shape,
                            expected: vec![d_out],
                        });
                    }
                    let t = Tensor::<B, 1>::from_data(TensorData::new(b.data, [d_out]), device);
                    *old = Param::initialized(old.id, t.set_require_grad(grad));
                }
            }
        }
        if !files.tensors.is_empty() {
            let names: Vec<&str> = files.tensors.keys().map(String::as_str).take(5).collect();
            return Err(WeightError::Unexpected(format!(
                "{} (the adapter has tensors this model has no place for)",
                names.join(", ")
            )));
        }
        Ok(count)
    }
}

fn trainable<B: Backend>(l: Linear<B>) -> Linear<B> {
    Linear {
        weight: l.weight.set_require_grad(true),
        bias: l.bias.map(|b| b.set_require_grad(true)),
    }
}
