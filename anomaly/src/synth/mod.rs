//! `loco-synth`: a procedurally rendered, LOCO-like dataset with known ground truth.
//!
//! Five products with explicit rules (see [`categories`]); logical anomalies break a rule,
//! structural anomalies damage the appearance. Every anomaly gets a mask, every image two QA
//! annotations. Written in the MVTec LOCO layout with `qa.jsonl` beside it, so the same reader
//! imports it. Deterministic from the seed; each image has its own random stream.

pub mod categories;
mod damage;
pub mod qa;
pub mod raster;

use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

use crate::dataset::qa::{to_jsonl, QaRecord};
use crate::dataset::DatasetError;
use crate::rng::{name_hash, Rng};
use crate::Label;
use categories::{category, CATEGORIES};
use raster::Canvas;

/// Images per category and folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub train: usize,
    pub validation: usize,
    pub good: usize,
    pub logical: usize,
    pub structural: usize,
}

impl Counts {
    /// The demo set: 44 images per category, 220 in all.
    pub const DEMO: Counts = Counts {
        train: 16,
        validation: 4,
        good: 8,
        logical: 8,
        structural: 8,
    };
    /// About MVTec LOCO's size: 720 per category, 3,600 in all.
    pub const LOCO_SIZED: Counts = Counts {
        train: 350,
        validation: 60,
        good: 110,
        logical: 100,
        structural: 100,
    };

    /// Applies `key=value,...` overrides (keys: train, validation, good, logical, structural)
    /// to `self`; a bare number sets every count.
    pub fn with_overrides(self, spec: &str) -> Result<Counts, DatasetError> {
        let bad = |why: String| DatasetError::Invalid(format!("--per-category {spec:?}: {why}"));
        if let Ok(n) = spec.trim().parse::<usize>() {
            return Ok(Counts {
                train: n,
                validation: n,
                good: n,
                logical: n,
                structural: n,
            });
        }
        let mut c = self;
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("expected key=value, got {part:?}")))?;
            let v: usize = v
                .trim()
                .parse()
                .map_err(|_| bad(format!("{:?} is not a count", v.trim())))?;
            match k.trim() {
                "train" => c.train = v,
                "validation" => c.validation = v,
                "good" => c.good = v,
                "logical" => c.logical = v,
                "structural" => c.structural = v,
                other => return Err(bad(format!("unknown key {other:?}"))),
            }
        }
        Ok(c)
    }

    fn total(&self) -> usize {
        self.train + self.validation + self.good + self.logical + self.structural
    }
}

/// How to generate a set.
#[derive(Clone, Debug, Serialize)]
pub struct SynthConfig {
    pub seed: u64,
    /// Image side in pixels.
    pub size: u32,
    pub counts: Counts,
    /// Category names (default: all five).
    pub categories: Vec<String>,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 0,
            size: 256,
            counts: Counts::DEMO,
            categories: CATEGORIES.iter().map(|c| c.name.to_string()).collect(),
        }
    }
}

/// What a generation produced.
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub images: usize,
    pub anomalies: usize,
    pub qa: usize,
    pub seconds: f64,
}

/// One image to render.
struct Job {
    category: usize,
    folder: &'static str,
    label: Label,
    index: usize,
    kind: Option<&'static str>,
}

/// Generates the set into `out` (created; must be empty if it exists).
pub fn generate(out: &Path, cfg: &SynthConfig) -> Result<SynthReport, DatasetError> {
    let start = Instant::now();
    if !(32..=2048).contains(&cfg.size) {
        return Err(DatasetError::Invalid(format!(
            "image size must be 32..=2048 pixels, got {}",
            cfg.size
        )));
    }
    if cfg.counts.total() == 0 {
        return Err(DatasetError::Invalid(
            "every image count is zero: nothing to generate".into(),
        ));
    }
    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| DatasetError::io(out, e))?
            .next()
            .is_some()
    {
        return Err(DatasetError::Invalid(format!(
            "output folder {} is not empty",
            out.display()
        )));
    }
    let mut jobs = Vec::new();
    for name in &cfg.categories {
        let ci = CATEGORIES
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                DatasetError::Invalid(format!(
                    "unknown category {name:?}: expected one of {}",
                    CATEGORIES.map(|c| c.name).join(", ")
                ))
            })?;
        let spec = &CATEGORIES[ci];
        let c = cfg.counts;
        let folders: [(&str, Label, usize, &[&'static str]); 5] = [
            ("train/good", Label::Good, c.train, &[]),
            ("validation/good", Label::Good, c.validation, &[]),
            ("test/good", Label::Good, c.good, &[]),
            (
                "test/logical_anomalies",
                Label::Logical,
                c.logical,
                spec.logical,
            ),
            (
                "test/structural_anomalies",
                Label::Structural,
                c.structural,
                spec.structural,
            ),
        ];
        for (folder, label, n, kinds) in folders {
            for index in 0..n {
                // Cycle through the kinds so each appears once there are enough images.
                let kind = (!kinds.is_empty()).then(|| kinds[index % kinds.len()]);
                jobs.push(Job {
                    category: ci,
                    folder,
                    label,
                    index,
                    kind,
                });
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| DatasetError::io(out, e))?;

    let results: Result<Vec<[QaRecord; 2]>, DatasetError> = jobs
        .par_iter()
        .map(|job| render_one(out, cfg, job))
        .collect();
    let qa: Vec<QaRecord> = results?.into_iter().flatten().collect();
    let qa_path = out.join("qa.jsonl");
    std::fs::write(&qa_path, to_jsonl(&qa)).map_err(|e| DatasetError::io(&qa_path, e))?;
    let manifest = out.join("loco-synth.json");
    let text = serde_json::to_string_pretty(cfg).unwrap_or_default();
    std::fs::write(&manifest, text).map_err(|e| DatasetError::io(&manifest, e))?;

    let anomalies = jobs.iter().filter(|j| j.label.is_anomalous()).count();
    Ok(SynthReport {
        images: jobs.len(),
        anomalies,
        qa: qa.len(),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// One image rendered in memory with its ground truth.
#[derive(Clone, Debug)]
pub struct Sample {
    pub image: image::RgbImage,
    /// Where the defect is (anomalies only).
    pub mask: Option<image::GrayImage>,
    pub category: &'static str,
    pub label: Label,
    /// The defect kind (`snake_case`, as the category lists it).
    pub kind: Option<&'static str>,
    /// What is wrong, in words (anomalies only).
    pub what: Option<String>,
}

/// Renders image `index` of `folder` in category `category`: the generator's one random
/// stream per image, so a set's files and the same call agree pixel for pixel.
fn render(
    seed: u64,
    size: u32,
    category: usize,
    folder: &str,
    label: Label,
    index: usize,
    kind: Option<&'static str>,
) -> Sample {
    let spec = &CATEGORIES[category];
    let mut rng = Rng::derive(seed, &[category as u64, name_hash(folder), index as u64]);
    let rotation = rng.range(-0.07, 0.07);
    let mut canvas = Canvas::new(size, spec.background, rotation);
    let what = (spec.render)(&mut canvas, &mut rng, kind);
    let brightness = rng.range(0.85, 1.12);
    let cast = [
        rng.range(0.95, 1.05),
        rng.range(0.95, 1.05),
        rng.range(0.95, 1.05),
    ];
    let image = canvas.finish(&mut rng, brightness, cast, 7.0);
    let mask = (label.is_anomalous() && canvas.has_mask()).then(|| canvas.mask_image());
    Sample {
        image,
        mask,
        category: spec.name,
        label,
        kind,
        what,
    }
}

/// Image `n` of an endless stream of `seed` (for training on images no set holds): the
/// products in turn; of each product's images, two in four normal, one logical and one
/// structural anomaly, their kinds in turn. Its random streams are its own ("stream/…"
/// folders), so it never repeats an image of a written set.
pub fn stream_sample(seed: u64, size: u32, n: u64) -> Sample {
    let c = CATEGORIES.len() as u64;
    let category = (n % c) as usize;
    let round = n / c;
    let spec = &CATEGORIES[category];
    let (folder, label, kinds) = match round % 4 {
        2 => ("stream/logical", Label::Logical, spec.logical),
        3 => ("stream/structural", Label::Structural, spec.structural),
        _ => ("stream/good", Label::Good, &[][..]),
    };
    let kind = (!kinds.is_empty()).then(|| kinds[(round / 4) as usize % kinds.len()]);
    render(seed, size, category, folder, label, round as usize, kind)
}

/// Every defect kind's name as annotations give it (`snake_case` with spaces), and every
/// category: what a head over the generator's images tells apart.
pub fn kind_names() -> Vec<String> {
    let mut out: Vec<String> = CATEGORIES
        .iter()
        .flat_map(|c| c.logical.iter().chain(c.structural))
        .map(|k| k.replace('_', " "))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn render_one(out: &Path, cfg: &SynthConfig, job: &Job) -> Result<[QaRecord; 2], DatasetError> {
    let spec = &CATEGORIES[job.category];
    let sample = render(
        cfg.seed,
        cfg.size,
        job.category,
        job.folder,
        job.label,
        job.index,
        job.kind,
    );
    let file = format!("{:03}.png", job.index);
    let rel = format!("{}/{}/{file}", spec.name, job.folder);
    let path = out.join(&rel);
    save(&path, |p| sample.image.save(p))?;

    let mut region = None;
    if job.label.is_anomalous() {
        let Some(mask) = &sample.mask else {
            return Err(DatasetError::Invalid(format!(
                "generator bug: {rel} has an empty mask"
            )));
        };
        region = crate::dataset::qa::mask_region(mask);
        let type_dir = job.folder.trim_start_matches("test/");
        let mask_path = out
            .join(spec.name)
            .join("ground_truth")
            .join(type_dir)
            .join(format!("{:03}", job.index))
            .join("000.png");
        save(&mask_path, |p| mask.save(p))?;
    }
    Ok(qa::annotations(
        &rel,
        spec,
        job.label,
        job.kind,
        sample.what.as_deref(),
        region,
    ))
}

fn save(
    path: &Path,
    write: impl FnOnce(&Path) -> image::ImageResult<()>,
) -> Result<(), DatasetError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DatasetError::io(parent, e))?;
    }
    write(path).map_err(|e| DatasetError::io(path, e))
}

/// The rule sentence of a category, for UIs and docs.
pub fn rule_of(category_name: &str) -> Option<&'static str> {
    category(category_name).map(|c| c.rule)
}

#[cfg(test)]
mod tests;
