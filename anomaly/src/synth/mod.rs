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

fn render_one(out: &Path, cfg: &SynthConfig, job: &Job) -> Result<[QaRecord; 2], DatasetError> {
    let spec = &CATEGORIES[job.category];
    let mut rng = Rng::derive(
        cfg.seed,
        &[job.category as u64, name_hash(job.folder), job.index as u64],
    );
    let rotation = rng.range(-0.07, 0.07);
    let mut canvas = Canvas::new(cfg.size, spec.background, rotation);
    let what = (spec.render)(&mut canvas, &mut rng, job.kind);
    let brightness = rng.range(0.85, 1.12);
    let cast = [
        rng.range(0.95, 1.05),
        rng.range(0.95, 1.05),
        rng.range(0.95, 1.05),
    ];
    let image = canvas.finish(&mut rng, brightness, cast, 7.0);

    let file = format!("{:03}.png", job.index);
    let rel = format!("{}/{}/{file}", spec.name, job.folder);
    let path = out.join(&rel);
    save(&path, |p| image.save(p))?;

    let mut region = None;
    if job.label.is_anomalous() {
        if !canvas.has_mask() {
            return Err(DatasetError::Invalid(format!(
                "generator bug: {rel} has an empty mask"
            )));
        }
        let mask = canvas.mask_image();
        region = crate::dataset::qa::mask_region(&mask);
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
        what.as_deref(),
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
