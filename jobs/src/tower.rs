//! Dense pretraining of a LLaVA model's vision tower on a dataset's masks and defect names
//! (`vlm-inspect model pretrain-tower`), before any stage trains the language side: the
//! embedded default's substitute for a pretrained CLIP (docs/models/default.md).
//!
//! Targets come from the dataset's ground truth: each patch is "normal" or the image's defect
//! kind where the defect's mask covers it; each image is "normal" or its defect kind, and
//! belongs to its category. The result is `tower.safetensors` (the tower's tensors under the
//! names a composed LLaVA folder uses; `model compose --tower-weights` takes it) and
//! `tower-pretrain.json` (vocabulary, options, curve, scores on held-out images).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};
use store::{SplitImage, Store};
use vlm::image::Preprocessor;
use vlm::train::tower::{
    TowerClasses, TowerData, TowerExample, TowerOptions, TowerScores, TowerStep, TowerSummary,
    TowerTrainer,
};

/// A patch is a defect patch when its mask covers at least this share of it: a one-pixel
/// scratch across a patch of 32 source pixels covers about 3 %.
pub const MIN_PATCH_COVER: f32 = 0.02;

/// Class names of the heads: `kinds[0]` is "normal", then every defect name in sorted order;
/// `groups` are the categories.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    pub kinds: Vec<String>,
    pub groups: Vec<String>,
}

impl Vocabulary {
    fn of(images: &[SplitImage]) -> Vocabulary {
        let kinds: BTreeSet<String> = images.iter().filter_map(kind_name).collect();
        let groups: BTreeSet<String> = images.iter().map(|i| i.category.clone()).collect();
        Vocabulary {
            kinds: std::iter::once("normal".to_string()).chain(kinds).collect(),
            groups: groups.into_iter().collect(),
        }
    }

    /// Every defect and product the generator makes (for a run on its stream).
    fn generator() -> Vocabulary {
        let mut groups: Vec<String> = anomaly::synth::categories::CATEGORIES
            .iter()
            .map(|c| c.name.to_string())
            .collect();
        groups.sort();
        Vocabulary {
            kinds: std::iter::once("normal".to_string())
                .chain(anomaly::synth::kind_names())
                .collect(),
            groups,
        }
    }

    fn classes(&self) -> TowerClasses {
        TowerClasses {
            kinds: self.kinds.len(),
            groups: self.groups.len(),
        }
    }
}

/// An anomaly's class name: its defect name, else its label (an import without names).
fn kind_name(image: &SplitImage) -> Option<String> {
    (image.label != "good").then(|| {
        image
            .anomaly
            .clone()
            .unwrap_or_else(|| format!("{} anomaly", image.label))
    })
}

/// What `tower-pretrain.json` records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PretrainRecord {
    pub dataset: String,
    pub split: String,
    pub base: String,
    pub options: TowerOptions,
    pub vocabulary: Vocabulary,
    pub train_images: usize,
    pub heldout_images: usize,
    pub summary: TowerSummary,
    /// The loss of every step, for the curve.
    pub losses: Vec<f64>,
    pub train_scores: TowerScores,
    /// On the split's test side (never trained on).
    pub heldout_scores: TowerScores,
}

/// The images of both sides of a split, checked before any weights load.
pub struct Prepared {
    pub train: Vec<SplitImage>,
    pub heldout: Vec<SplitImage>,
    pub vocabulary: Vocabulary,
    pub base: PathBuf,
}

pub async fn prepare(
    store: &Store,
    data_dir: &Path,
    base: &str,
    dataset: &str,
    split: &str,
) -> anyhow::Result<Prepared> {
    let base = crate::models::resolve_in(store, base, data_dir)
        .await
        .with_context(|| format!("base model {base:?}"))?;
    if !vlm::chat::is_vlm_dir(&base) || vlm::internvl::is_internvl_dir(&base) {
        anyhow::bail!(
            "{} is not a LLaVA folder: the tower pretraining trains LLaVA's CLIP tower",
            base.display()
        );
    }
    let train = store.split_images(dataset, split, "train").await?;
    let heldout = store.split_images(dataset, split, "test").await?;
    if train.is_empty() {
        anyhow::bail!("split {split:?} of {dataset:?} has no training images");
    }
    let unmasked = train
        .iter()
        .filter(|i| i.label != "good" && i.mask.is_none())
        .count();
    if unmasked == train.iter().filter(|i| i.label != "good").count() && unmasked > 0 {
        anyhow::bail!(
            "none of the {unmasked} anomalies on the training side of {split:?} has a mask: dense pretraining needs masks"
        );
    }
    let vocabulary = Vocabulary::of(&train);
    Ok(Prepared {
        train,
        heldout,
        vocabulary,
        base,
    })
}

/// The patch classes of an image from its mask: the grid over the preprocessor's centre crop.
fn patch_classes(mask: Option<&image::GrayImage>, class: u32, grid: usize) -> Vec<u32> {
    let mut out = vec![0u32; grid * grid];
    let Some(mask) = mask else {
        return out;
    };
    let (w, h) = (mask.width() as usize, mask.height() as usize);
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    for r in 0..grid {
        for c in 0..grid {
            let (ya, yb) = (y0 + r * side / grid, y0 + (r + 1) * side / grid);
            let (xa, xb) = (x0 + c * side / grid, x0 + (c + 1) * side / grid);
            let mut on = 0usize;
            for y in ya..yb {
                for x in xa..xb {
                    on += usize::from(mask.get_pixel(x as u32, y as u32).0[0] > 0);
                }
            }
            let area = ((yb - ya) * (xb - xa)).max(1);
            if on as f32 / area as f32 >= MIN_PATCH_COVER {
                out[r * grid + c] = class;
            }
        }
    }
    out
}

/// Loads and labels `images` for a tower of `grid`×`grid` patches.
fn examples(
    images: &[SplitImage],
    vocab: &Vocabulary,
    pre: &Preprocessor,
    grid: usize,
    data_dir: &Path,
) -> anyhow::Result<Vec<TowerExample>> {
    images
        .iter()
        .map(|img| {
            let file = data_dir.join(&img.file);
            let pixels = pre.load(&file)?;
            let name = kind_name(img);
            let class = match &name {
                None => 0,
                Some(n) => vocab.kinds.iter().position(|k| k == n).unwrap_or(0) as u32,
            };
            let mask = match &img.mask {
                Some(m) if class != 0 => {
                    let path = data_dir.join(m);
                    Some(
                        image::open(&path)
                            .with_context(|| format!("reading mask {}", path.display()))?
                            .to_luma8(),
                    )
                }
                _ => None,
            };
            let group = vocab
                .groups
                .iter()
                .position(|g| *g == img.category)
                .unwrap_or(0) as u32;
            Ok(TowerExample {
                pixels,
                patches: patch_classes(mask.as_ref(), class, grid),
                image: class,
                group,
            })
        })
        .collect()
}

/// Side of the generator's images for a streamed run: the default's training sets' size.
const STREAM_IMAGE_SIZE: u32 = 256;

/// Examples `first .. first + n` of the generator's stream `seed`, labelled as `examples`
/// labels a dataset's images.
fn stream_examples(
    seed: u64,
    first: u64,
    n: usize,
    vocab: &Vocabulary,
    pre: &Preprocessor,
    grid: usize,
) -> Vec<TowerExample> {
    (first..first + n as u64)
        .map(|i| {
            let s = anomaly::synth::stream_sample(seed, STREAM_IMAGE_SIZE, i);
            let name = s.kind.map(|k| k.replace('_', " "));
            let class = name
                .and_then(|n| vocab.kinds.iter().position(|k| *k == n))
                .unwrap_or(0) as u32;
            let group = vocab
                .groups
                .iter()
                .position(|g| g == s.category)
                .unwrap_or(0) as u32;
            TowerExample {
                pixels: pre.process(&image::DynamicImage::ImageRgb8(s.image)),
                patches: patch_classes(s.mask.as_ref(), class, grid),
                image: class,
                group,
            }
        })
        .collect()
}

/// Runs the pretraining on `device_spec` and writes `out/tower.safetensors` and
/// `out/tower-pretrain.json` (blocking).
pub fn run(
    p: &Prepared,
    record: PretrainHeader,
    options: &TowerOptions,
    device_spec: vlm::DeviceSpec,
    data_dir: &Path,
    out: &Path,
    on_step: &mut dyn FnMut(&TowerStep) -> ControlFlow<()>,
) -> anyhow::Result<PretrainRecord> {
    options.validate()?;
    vlm::device::probe(device_spec)?;
    crate::on_backend!(
        device_spec,
        false,
        run_on(p, record, options, data_dir, out, on_step)
    )
}

/// The identifying part of the record, filled in by the caller.
pub struct PretrainHeader {
    pub dataset: String,
    pub split: String,
}

fn run_on<B: Backend>(
    p: &Prepared,
    header: PretrainHeader,
    options: &TowerOptions,
    data_dir: &Path,
    out: &Path,
    on_step: &mut dyn FnMut(&TowerStep) -> ControlFlow<()>,
    device: &B::Device,
) -> anyhow::Result<PretrainRecord> {
    let chat = match vlm::chat::open_vlm::<Autodiff<B>>(&p.base, device)
        .with_context(|| format!("loading {}", p.base.display()))?
    {
        vlm::chat::ChatVlm::Llava(chat) => chat,
        other => anyhow::bail!(
            "{} is an {} model: the tower pretraining trains LLaVA's CLIP tower",
            p.base.display(),
            other.family()
        ),
    };
    let size = chat.model.image_size;
    let grid = size / chat.model.vision.patch_size;
    let pre = chat.preprocessor.clone();
    // A streamed run trains on the generator's images, never a set's: its vocabulary is the
    // generator's, and the split's test side is still what is scored as held out.
    let streamed = options.fresh_images > 0;
    let vocabulary = if streamed {
        Vocabulary::generator()
    } else {
        p.vocabulary.clone()
    };
    let heldout = examples(&p.heldout, &vocabulary, &pre, grid, data_dir)?;
    let mut trainer = TowerTrainer::new(
        chat.model.vision,
        size,
        vocabulary.classes(),
        options.seed,
        device,
    );
    let mut losses = Vec::new();
    let mut on_step = |s: &TowerStep| {
        losses.push(s.loss);
        on_step(s)
    };
    let (summary, train, train_images) = if streamed {
        let seed = options.fresh_seed;
        let mut next =
            |first: u64, n: usize| Ok(stream_examples(seed, first, n, &vocabulary, &pre, grid));
        let data = TowerData::Stream {
            per_epoch: options.fresh_images,
            next: &mut next,
        };
        let summary = trainer.train_on(data, options, device, &mut on_step)?;
        // "Training side" of a streamed run: its first images (seen once, in epoch 1).
        let seen = options.fresh_images.min(1000);
        let train = stream_examples(seed, 0, seen, &vocabulary, &pre, grid);
        (summary, train, options.fresh_images * options.epochs)
    } else {
        let train = examples(&p.train, &vocabulary, &pre, grid, data_dir)?;
        let summary = trainer.train(&train, options, device, &mut on_step)?;
        let n = train.len();
        (summary, train, n)
    };
    let record = PretrainRecord {
        dataset: header.dataset,
        split: header.split,
        base: p.base.display().to_string(),
        options: options.clone(),
        vocabulary,
        train_images,
        heldout_images: heldout.len(),
        losses,
        train_scores: trainer.score(&train, device),
        heldout_scores: trainer.score(&heldout, device),
        summary,
    };
    std::fs::create_dir_all(out)?;
    let tensors = vlm::train::tower::tower_tensors(&trainer.tower)?;
    vlm::weights::safetensors::write_named(
        &out.join("tower.safetensors"),
        tensors.iter().map(|(k, t)| (k, t)),
    )?;
    std::fs::write(
        out.join("tower-pretrain.json"),
        serde_json::to_string_pretty(&record)?,
    )?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_are_flagged_by_mask_cover_over_the_centre_crop() {
        // 16×8 mask (the crop is its centre 8×8 square, x 4..12), grid 2: a 2×2 block at
        // (x 10..12, y 0..2) lies in the crop's top-right patch and covers 4/16 of it.
        let mut mask = image::GrayImage::new(16, 8);
        for y in 0..2 {
            for x in 10..12 {
                mask.put_pixel(x, y, image::Luma([255]));
            }
        }
        // Outside the crop: ignored.
        mask.put_pixel(0, 7, image::Luma([255]));
        assert_eq!(patch_classes(Some(&mask), 3, 2), vec![0, 3, 0, 0]);
        assert_eq!(patch_classes(None, 3, 2), vec![0; 4]);
        // One pixel of a 4×4 patch is 6 % ≥ 2 %: flagged.
        let mut dot = image::GrayImage::new(8, 8);
        dot.put_pixel(1, 5, image::Luma([1]));
        assert_eq!(patch_classes(Some(&dot), 1, 2), vec![0, 0, 1, 0]);
    }

    #[test]
    fn the_vocabulary_puts_normal_first_and_names_unnamed_anomalies_by_label() {
        let img = |label: &str, anomaly: Option<&str>, category: &str| SplitImage {
            image_id: 0,
            file: "x.png".into(),
            mask: None,
            category: category.into(),
            label: label.into(),
            anomaly: anomaly.map(String::from),
            sha256: String::new(),
        };
        let v = Vocabulary::of(&[
            img("logical", Some("missing pin"), "pushpins"),
            img("good", None, "screw_bag"),
            img("structural", None, "pushpins"),
            img("logical", Some("extra pin"), "pushpins"),
        ]);
        assert_eq!(
            v.kinds,
            ["normal", "extra pin", "missing pin", "structural anomaly"]
        );
        assert_eq!(v.groups, ["pushpins", "screw_bag"]);
    }
}
