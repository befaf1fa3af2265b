//! The model being fine-tuned: a decoder alone or LLaVA, with its trainable tensors named by
//! the keys PEFT saves them under.

use std::collections::BTreeMap;

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};

use super::batch::Batch;
use super::error::StepError;
use super::options::TrainOptions;
use crate::clip::ClipVision;
use crate::internvl::InternVl;
use crate::llama::model::{Llama, Mask};
use crate::llava::Llava;
use crate::lora::{AdapterFiles, LoraConfig};
use crate::weights::{HostTensor, WeightError};
use crate::FieldError;

/// PEFT's name of the projector of LLaVA and InternVL (a `modules_to_save` entry).
pub const PROJECTOR: &str = "multi_modal_projector";
/// PEFT's name of LLaVA's vision tower (a `modules_to_save` entry when it is trained).
pub const VISION_TOWER: &str = "vision_tower";
/// Where the vision tower's tensors are in an adapter file (transformers 5's module tree; the
/// 4.x tree's extra `vision_model.` is accepted when loading).
const VISION_KEY: &str = "base_model.model.model.vision_tower.";

/// How a vision tensor is laid out in Hugging Face files relative to ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Same,
    /// A linear weight: ours `[in, out]`, theirs `[out, in]`.
    Linear,
    /// The patch convolution: ours `[channels·p·p, hidden]`, theirs `[hidden, channels, p, p]`.
    PatchConv,
}

/// A LayerNorm's tensors, named `{name}.weight` and `{name}.bias`.
fn push_norm<'a, B: Backend>(
    out: &mut Vec<(String, Layout, ParamMut<'a, B>)>,
    name: String,
    n: &'a mut LayerNorm<B>,
) {
    out.push((
        format!("{name}.weight"),
        Layout::Same,
        ParamMut::One(&mut n.gamma),
    ));
    if let Some(b) = &mut n.beta {
        out.push((format!("{name}.bias"), Layout::Same, ParamMut::One(b)));
    }
}

/// A linear layer's tensors, named `{name}.weight` and `{name}.bias`.
fn push_linear<'a, B: Backend>(
    out: &mut Vec<(String, Layout, ParamMut<'a, B>)>,
    name: String,
    l: &'a mut Linear<B>,
) {
    out.push((
        format!("{name}.weight"),
        Layout::Linear,
        ParamMut::Two(&mut l.weight),
    ));
    if let Some(b) = &mut l.bias {
        out.push((format!("{name}.bias"), Layout::Same, ParamMut::One(b)));
    }
}

/// Every tensor of the vision tower, by its name under `vision_model.`.
pub(crate) fn vision_params<B: Backend>(
    v: &mut ClipVision<B>,
) -> Vec<(String, Layout, ParamMut<'_, B>)> {
    let mut out = Vec::new();
    out.push((
        "embeddings.patch_embedding.weight".to_string(),
        Layout::PatchConv,
        ParamMut::Two(&mut v.patch_embedding.weight),
    ));
    out.push((
        "embeddings.class_embedding".to_string(),
        Layout::Same,
        ParamMut::One(&mut v.class_embedding),
    ));
    out.push((
        "embeddings.position_embedding.weight".to_string(),
        Layout::Same,
        ParamMut::Two(&mut v.position_embedding),
    ));
    push_norm(&mut out, "pre_layrnorm".into(), &mut v.pre_layrnorm);
    for (i, l) in v.layers.iter_mut().enumerate() {
        let p = format!("encoder.layers.{i}");
        push_norm(&mut out, format!("{p}.layer_norm1"), &mut l.layer_norm1);
        let a = &mut l.self_attn;
        push_linear(&mut out, format!("{p}.self_attn.q_proj"), &mut a.q_proj);
        push_linear(&mut out, format!("{p}.self_attn.k_proj"), &mut a.k_proj);
        push_linear(&mut out, format!("{p}.self_attn.v_proj"), &mut a.v_proj);
        push_linear(&mut out, format!("{p}.self_attn.out_proj"), &mut a.out_proj);
        push_norm(&mut out, format!("{p}.layer_norm2"), &mut l.layer_norm2);
        push_linear(&mut out, format!("{p}.mlp.fc1"), &mut l.mlp.fc1);
        push_linear(&mut out, format!("{p}.mlp.fc2"), &mut l.mlp.fc2);
    }
    push_norm(&mut out, "post_layernorm".into(), &mut v.post_layernorm);
    out
}

impl<B: Backend> ParamMut<'_, B> {
    pub(crate) fn require_grad(&mut self, on: bool) {
        match self {
            ParamMut::One(p) => **p = Param::initialized(p.id, p.val().set_require_grad(on)),
            ParamMut::Two(p) => **p = Param::initialized(p.id, p.val().set_require_grad(on)),
        }
    }

    fn is_trainable(&self) -> bool {
        match self {
            ParamMut::One(p) => p.is_require_grad(),
            ParamMut::Two(p) => p.is_require_grad(),
        }
    }

    /// The value in Hugging Face's layout.
    pub(crate) fn export(&self, layout: Layout, patch: usize) -> Result<HostTensor, WeightError> {
        match (self, layout) {
            (ParamMut::One(p), _) => HostTensor::from_tensor(p.val()),
            (ParamMut::Two(p), Layout::Same) => HostTensor::from_tensor(p.val()),
            (ParamMut::Two(p), Layout::Linear) => HostTensor::from_tensor(p.val().transpose()),
            (ParamMut::Two(p), Layout::PatchConv) => {
                let mut t = HostTensor::from_tensor(p.val().transpose())?;
                let (d, cpp) = (t.shape[0], t.shape[1]);
                t.shape = vec![d, cpp / (patch * patch), patch, patch];
                Ok(t)
            }
        }
    }

    /// Sets the value from Hugging Face's layout, keeping whether it trains.
    fn import(
        &mut self,
        name: &str,
        t: HostTensor,
        layout: Layout,
        device: &B::Device,
    ) -> Result<(), WeightError> {
        let grad = self.is_trainable();
        let shape_error = |expected: Vec<usize>, got: Vec<usize>| WeightError::Shape {
            name: name.to_string(),
            got,
            expected,
        };
        match self {
            ParamMut::One(p) => {
                let [n] = p.val().dims();
                if t.shape != [n] {
                    return Err(shape_error(vec![n], t.shape));
                }
                let v = Tensor::<B, 1>::from_data(TensorData::new(t.data, [n]), device);
                **p = Param::initialized(p.id, v.set_require_grad(grad));
            }
            ParamMut::Two(p) => {
                let [r, c] = p.val().dims();
                let value = match layout {
                    Layout::Same => {
                        if t.shape != [r, c] {
                            return Err(shape_error(vec![r, c], t.shape));
                        }
                        Tensor::<B, 2>::from_data(TensorData::new(t.data, [r, c]), device)
                    }
                    Layout::Linear | Layout::PatchConv => {
                        let n: usize = t.shape.iter().product();
                        if t.shape.first() != Some(&c) || n != r * c {
                            return Err(shape_error(vec![c, r], t.shape));
                        }
                        Tensor::<B, 2>::from_data(TensorData::new(t.data, [c, r]), device)
                            .transpose()
                    }
                };
                **p = Param::initialized(p.id, value.set_require_grad(grad));
            }
        }
        Ok(())
    }
}

/// A model that training updates (one per run: the size difference of the variants is moot).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Trainee<B: Backend> {
    Llama(Llama<B>),
    Llava(Llava<B>),
    InternVl(InternVl<B>),
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
            Trainee::InternVl(m) => &m.lm,
        }
    }

    pub fn lm_mut(&mut self) -> &mut Llama<B> {
        match self {
            Trainee::Llama(m) => m,
            Trainee::Llava(m) => &mut m.lm,
            Trainee::InternVl(m) => &mut m.lm,
        }
    }

    /// Where the decoder sits in transformers' module tree (PEFT keys start there).
    pub fn lm_prefix(&self) -> &'static str {
        match self {
            Trainee::Llama(_) => "model.",
            Trainee::Llava(_) | Trainee::InternVl(_) => "model.language_model.",
        }
    }

    /// Freezes every base weight and puts fresh adapters on the targets (and makes the projector
    /// trainable when asked). Seeds the backend with `opts.seed` for the A matrices.
    pub fn prepare(self, opts: &TrainOptions, device: &B::Device) -> Result<Self, FieldError> {
        B::seed(device, opts.seed);
        let mut me = match self {
            Trainee::Llama(_) if opts.train_projector => {
                return Err(FieldError::new(
                    "train_projector",
                    "the base model has no projector (not a vision-language model)",
                ))
            }
            Trainee::Llama(_) if opts.train_vision => {
                return Err(FieldError::new(
                    "train_vision",
                    "the base model has no vision tower (not a vision-language model)",
                ))
            }
            Trainee::InternVl(_) if opts.train_vision => {
                return Err(FieldError::new(
                    "train_vision",
                    "InternVL's vision tower stays frozen here (LoRA on the language model, optionally the projector)",
                ))
            }
            Trainee::Llama(m) => Trainee::Llama(m.no_grad()),
            Trainee::InternVl(m) => Trainee::InternVl(m.no_grad()),
            Trainee::Llava(m) => {
                let mut m = m.no_grad();
                if opts.train_vision {
                    // Only what the features depend on: layers past the deepest feature layer
                    // and the final norm get no gradient, so they stay as they are.
                    let used = m.feature_layers.iter().copied().max().unwrap_or(0);
                    let layers = m.vision.layers.len();
                    for (name, _, mut p) in vision_params(&mut m.vision) {
                        let unused = name.starts_with("post_layernorm")
                            || (used..layers)
                                .any(|i| name.starts_with(&format!("encoder.layers.{i}.")));
                        p.require_grad(!unused);
                    }
                }
                Trainee::Llava(m)
            }
        };
        if opts.train_projector {
            // As PEFT's modules_to_save: the whole projector trains.
            for (_, _, mut p) in me.projector_params() {
                p.require_grad(true);
            }
        }
        if opts.use_lora {
            me.lm_mut().add_lora(&opts.lora, device)?;
        }
        Ok(me)
    }

    /// The final normalised hidden states of a batch.
    pub fn hidden(&self, batch: &Batch, device: &B::Device) -> Result<Tensor<B, 3>, StepError> {
        let mask = Mask::from_ones(batch.shape[0], batch.shape[1], &batch.attention);
        let embeds = match self {
            Trainee::Llama(m) => {
                if batch.images > 0 {
                    return Err(StepError::ImagesForTextModel);
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
                m.embed(&batch.ids, batch.shape, pixels, device)?
            }
            Trainee::InternVl(m) => {
                let (c, size) = (m.vision.channels, m.vision.image_size);
                let pixels = (batch.images > 0).then(|| {
                    Tensor::<B, 4>::from_data(
                        TensorData::new(batch.pixels.clone(), [batch.images, c, size, size]),
                        device,
                    )
                });
                m.embed(&batch.ids, batch.shape, pixels, device)?
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
        let (lm, projector, vision) = match self {
            Trainee::Llama(m) => (m, Vec::new(), None),
            Trainee::Llava(m) => (
                &mut m.lm,
                llava_projector(&mut m.projector),
                Some(&mut m.vision),
            ),
            Trainee::InternVl(m) => (&mut m.lm, internvl_projector(&mut m.projector), None),
        };
        for (name, p) in lm.projections_mut() {
            if let Some(l) = &mut p.lora {
                let module = format!("{prefix}{name}");
                out.push((crate::lora::peft_key(&module, 'A'), ParamMut::Two(&mut l.a)));
                out.push((crate::lora::peft_key(&module, 'B'), ParamMut::Two(&mut l.b)));
            }
        }
        for (name, _, p) in projector {
            if p.is_trainable() {
                out.push((format!("{PROJECTOR_KEY}{name}"), p));
            }
        }
        if let Some(v) = vision {
            for (name, _, p) in vision_params(v) {
                if p.is_trainable() {
                    out.push((format!("{VISION_KEY}{name}"), p));
                }
            }
        }
        out
    }

    /// Every tensor of the projector (none for a decoder alone), by its name under it.
    fn projector_params(&mut self) -> Vec<(String, Layout, ParamMut<'_, B>)> {
        match self {
            Trainee::Llama(_) => Vec::new(),
            Trainee::Llava(m) => llava_projector(&mut m.projector),
            Trainee::InternVl(m) => internvl_projector(&mut m.projector),
        }
    }

    /// True when the vision tower is being trained.
    pub fn vision_trainable(&self) -> bool {
        match self {
            Trainee::Llava(m) => m.vision.patch_embedding.weight.is_require_grad(),
            Trainee::Llama(_) | Trainee::InternVl(_) => false,
        }
    }

    /// True when the projector is being trained.
    pub fn projector_trainable(&self) -> bool {
        match self {
            Trainee::Llava(m) => m.projector.linear_1.weight.is_require_grad(),
            Trainee::InternVl(m) => m.projector.linear_1.weight.is_require_grad(),
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
        if self.projector_trainable() {
            modules_to_save.push(PROJECTOR.to_string());
            // The parameter lists borrow mutably; a copy of the projector lends them here.
            let mut params = Vec::new();
            let (mut llava, mut internvl);
            match self {
                Trainee::Llava(m) => {
                    llava = m.projector.clone();
                    params = llava_projector(&mut llava);
                }
                Trainee::InternVl(m) => {
                    internvl = m.projector.clone();
                    params = internvl_projector(&mut internvl);
                }
                Trainee::Llama(_) => {}
            }
            for (name, layout, p) in params {
                tensors.insert(format!("{PROJECTOR_KEY}{name}"), p.export(layout, 0)?);
            }
        }
        if let (Trainee::Llava(m), true) = (self, self.vision_trainable()) {
            modules_to_save.push(VISION_TOWER.to_string());
            let mut vision = m.vision.clone();
            let patch = vision.patch_size;
            for (name, layout, p) in vision_params(&mut vision) {
                tensors.insert(format!("{VISION_KEY}{name}"), p.export(layout, patch)?);
            }
        }
        Ok(AdapterFiles {
            config: lora.clone(),
            modules_to_save,
            tensors,
            language_model_only: !matches!(self, Trainee::Llama(_)),
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
        for (name, layout, mut p) in self.projector_params() {
            let suffix = format!("{PROJECTOR}.{name}");
            let key = files.tensors.keys().find(|k| k.ends_with(&suffix)).cloned();
            if let Some(t) = key.as_ref().and_then(|k| files.tensors.remove(k)) {
                p.import(&suffix, t, layout, device)?;
            }
        }
        if let Trainee::Llava(m) = self {
            for (name, layout, mut p) in vision_params(&mut m.vision) {
                for key in [
                    format!("{VISION_KEY}{name}"),
                    format!("{VISION_KEY}vision_model.{name}"),
                ] {
                    if let Some(t) = files.tensors.remove(&key) {
                        p.import(&key, t, layout, device)?;
                    }
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

/// Where a projector's tensors are in an adapter file.
const PROJECTOR_KEY: &str = "base_model.model.model.multi_modal_projector.";

fn llava_projector<B: Backend>(
    p: &mut crate::llava::Projector<B>,
) -> Vec<(String, Layout, ParamMut<'_, B>)> {
    let mut out = Vec::new();
    push_linear(&mut out, "linear_1".into(), &mut p.linear_1);
    push_linear(&mut out, "linear_2".into(), &mut p.linear_2);
    out
}

fn internvl_projector<B: Backend>(
    p: &mut crate::internvl::model::InternVlProjector<B>,
) -> Vec<(String, Layout, ParamMut<'_, B>)> {
    let mut out = Vec::new();
    push_norm(&mut out, "layer_norm".into(), &mut p.layer_norm);
    push_linear(&mut out, "linear_1".into(), &mut p.linear_1);
    push_linear(&mut out, "linear_2".into(), &mut p.linear_2);
    out
}
