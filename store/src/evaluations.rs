//! What evaluations and inspections store: user prompts, uploaded images, the images a run
//! judges and their templates, and one prediction per image and prompt of a run.

use crate::sql;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anomaly::dataset::qa::Region;
use anomaly::naming::{Check, LocationMatch};
use anomaly::report::{report, Prediction, PromptReport};
use anomaly::verdict::Verdict;

use crate::db::{now, Store, StoreError};
use crate::records::{
    EvalImage, ExplanationCheck, LocationCheck, PredictionRecord, PromptInfo, ServedBy, UploadInfo,
};

/// A prediction to store (the image's own fields come from the images table).
#[derive(Clone, Debug, PartialEq)]
pub struct NewPrediction<'a> {
    pub image_id: i64,
    pub prompt: &'a str,
    pub template_id: Option<i64>,
    pub verdict: &'a str,
    pub explanation: &'a str,
    pub raw: &'a str,
    pub prompt_tokens: i64,
    pub new_tokens: i64,
    pub latency_ms: i64,
    /// For a remote model's reply: who answered and how fast.
    pub served: Option<&'a ServedBy>,
}

/// A prediction's row as the database holds it.
#[derive(sqlx::FromRow)]
struct PredictionRow {
    image_id: i64,
    rel_path: String,
    category: String,
    label: String,
    prompt: String,
    template_id: Option<i64>,
    verdict: String,
    explanation: String,
    raw: String,
    prompt_tokens: i64,
    new_tokens: i64,
    latency_ms: i64,
    first_token_ms: Option<i64>,
    served_by: Option<String>,
    fingerprint: Option<String>,
    bert_p: Option<f64>,
    bert_r: Option<f64>,
    bert_f1: Option<f64>,
}

impl PredictionRow {
    fn into_record(self) -> PredictionRecord {
        let remote =
            self.first_token_ms.is_some() || self.served_by.is_some() || self.fingerprint.is_some();
        let served = remote.then_some(ServedBy {
            first_token_ms: self.first_token_ms,
            model: self.served_by,
            fingerprint: self.fingerprint,
        });
        PredictionRecord {
            image_id: self.image_id,
            rel_path: self.rel_path,
            category: self.category,
            label: self.label,
            prompt: self.prompt,
            template_id: self.template_id,
            verdict: self.verdict,
            explanation: self.explanation,
            raw: self.raw,
            prompt_tokens: self.prompt_tokens,
            new_tokens: self.new_tokens,
            latency_ms: self.latency_ms,
            served,
            bert_p: self.bert_p,
            bert_r: self.bert_r,
            bert_f1: self.bert_f1,
            check: None,
        }
    }
}

impl From<Check> for ExplanationCheck {
    fn from(c: Check) -> Self {
        ExplanationCheck {
            names_defect: c.named,
            location: c.location.map(|l| match l {
                LocationMatch::Agrees => LocationCheck::Agrees,
                LocationMatch::Disagrees => LocationCheck::Disagrees,
                LocationMatch::NoLocationWords => LocationCheck::NoLocationWords,
            }),
        }
    }
}

impl From<ExplanationCheck> for Check {
    fn from(c: ExplanationCheck) -> Self {
        Check {
            named: c.names_defect,
            location: c.location.map(|l| match l {
                LocationCheck::Agrees => LocationMatch::Agrees,
                LocationCheck::Disagrees => LocationMatch::Disagrees,
                LocationCheck::NoLocationWords => LocationMatch::NoLocationWords,
            }),
        }
    }
}

/// What an image's QA annotations say about its defect: the names and regions they give.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DefectAnnotation {
    pub names: Vec<String>,
    pub regions: Vec<Region>,
}

/// Longest prompt text accepted (a few times P3's length).
pub const MAX_PROMPT_CHARS: usize = 4000;

type EvalImageRow = (i64, String, String, String, String, String);

fn eval_image((image_id, root, file, category, label, rel_path): EvalImageRow) -> EvalImage {
    EvalImage {
        image_id,
        file: Path::new(&root).join(file),
        category,
        label,
        rel_path,
    }
}

/// Takes `limit` items spread over the groups in turn (first of each group, then the second
/// of each, …), so a short run still sees every category and label.
fn spread<T>(groups: Vec<Vec<T>>, limit: usize) -> Vec<T> {
    let mut iters: Vec<_> = groups.into_iter().map(|g| g.into_iter()).collect();
    let mut out = Vec::new();
    while out.len() < limit {
        let before = out.len();
        for it in iters.iter_mut() {
            if out.len() == limit {
                break;
            }
            if let Some(x) = it.next() {
                out.push(x);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// A stored row as the report reads it.
pub fn as_prediction(r: &PredictionRecord) -> Result<Prediction, StoreError> {
    let verdict = match r.verdict.as_str() {
        "normal" => Verdict::Normal,
        "anomalous" => Verdict::Anomalous,
        _ => Verdict::Undecided,
    };
    Ok(Prediction {
        image_id: r.image_id,
        category: r.category.clone(),
        label: r.label.parse().map_err(|_| {
            StoreError::Invalid(format!("image {}: label {:?}", r.image_id, r.label))
        })?,
        prompt: r.prompt.clone(),
        verdict,
        explanation: r.explanation.clone(),
        bert_p: r.bert_p,
        bert_r: r.bert_r,
        bert_f1: r.bert_f1,
        check: r.check.map(Check::from),
    })
}

/// True for a correctly detected anomaly (what BERTScore and the naming checks score).
fn detected_anomaly(r: &PredictionRecord) -> bool {
    r.label != "good" && r.verdict == "anomalous"
}

impl Store {
    /// A run's stored predictions and the report recomputed from them (per prompt, in the
    /// order of `prompts`). Correctly detected anomalies get their explanation checked against
    /// their images' annotated defect names and regions (`PredictionRecord::check`).
    pub async fn eval_report(
        &self,
        job: i64,
        prompts: &[String],
    ) -> Result<(Vec<PredictionRecord>, Vec<PromptReport>), StoreError> {
        let (predictions_rev,): (i64,) =
            sql::query_as("SELECT predictions_rev FROM jobs WHERE id = $1")
                .bind(job)
                .fetch_optional(self.pool())
                .await?
                .unwrap_or((-1,));
        let (qa,): (i64,) = sql::query_as("SELECT rev FROM revisions WHERE name = 'qa'")
            .fetch_one(self.pool())
            .await?;
        let key = crate::report_cache::ReportKey {
            job,
            prompts: prompts.to_vec(),
            predictions_rev,
            qa,
        };
        if let Some(hit) = self.reports.get(&key) {
            return Ok((*hit).clone());
        }
        let mut records = self.predictions(job).await?;
        let annotations = self.defect_annotations(job).await?;
        let prompts = prompts.to_vec();
        // The naming checks and the report's self-BLEU are CPU work: off the async runtime.
        let computed = tokio::task::spawn_blocking(move || {
            for r in records.iter_mut().filter(|r| detected_anomaly(r)) {
                if let Some(a) = annotations.get(&r.image_id) {
                    let c = anomaly::naming::check(&r.explanation, &a.names, &a.regions);
                    r.check = (!c.is_empty()).then(|| c.into());
                }
            }
            let predictions = records
                .iter()
                .map(as_prediction)
                .collect::<Result<Vec<_>, _>>()?;
            let tables = report(&prompts, &predictions);
            Ok::<_, StoreError>((records, tables))
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("the report worker failed: {e}")))??;
        let computed = std::sync::Arc::new(computed);
        self.reports.put(key, computed.clone());
        Ok((*computed).clone())
    }

    /// Stores a user's prompt. Names are unique (ignoring case) and may not shadow a
    /// built-in prompt.
    pub async fn add_prompt(
        &self,
        name: &str,
        text: &str,
        chain_of_image: bool,
        author: Option<i64>,
    ) -> Result<i64, StoreError> {
        let name = name.trim();
        let text = text.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(StoreError::Invalid(
                "a prompt name has 1 to 40 characters".into(),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(StoreError::Invalid(format!(
                "prompt name {name:?}: use letters, digits, '-', '_' or '.' (it appears in \
                 comma-separated lists)"
            )));
        }
        if anomaly::prompts::builtin(name).is_some() {
            return Err(StoreError::Invalid(format!(
                "{name:?} is a built-in prompt's name"
            )));
        }
        if text.is_empty() || text.chars().count() > MAX_PROMPT_CHARS {
            return Err(StoreError::Invalid(format!(
                "a prompt's text has 1 to {MAX_PROMPT_CHARS} characters"
            )));
        }
        let res: Result<(i64,), _> = sql::query_as(
            "INSERT INTO prompts (name, text, chain_of_image, author_id, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
        )
        .bind(name)
        .bind(text)
        .bind(chain_of_image)
        .bind(author)
        .bind(now())
        .fetch_one(self.pool())
        .await;
        match res {
            Ok((id,)) => Ok(id),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Invalid(
                format!("a prompt named {name:?} exists already"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Every user prompt, by name.
    pub async fn prompts(&self) -> Result<Vec<PromptInfo>, StoreError> {
        let rows: Vec<(i64, String, String, bool, Option<String>, i64)> = sql::query_as(
            "SELECT p.id, p.name, p.text, p.chain_of_image, u.username, p.created_at
             FROM prompts p LEFT JOIN users u ON u.id = p.author_id ORDER BY lower(p.name)",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, text, coi, author, created_at)| PromptInfo {
                id,
                name,
                text,
                chain_of_image: coi,
                author: author.unwrap_or_else(|| "(deleted user)".into()),
                created_at,
            })
            .collect())
    }

    /// A user prompt by name (ignoring case).
    pub async fn prompt_named(&self, name: &str) -> Result<Option<PromptInfo>, StoreError> {
        Ok(self
            .prompts()
            .await?
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.trim())))
    }

    /// Deletes a user prompt (predictions made with it keep its name).
    pub async fn delete_prompt(&self, id: i64) -> Result<(), StoreError> {
        let r = sql::query("DELETE FROM prompts WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("prompt {id}")));
        }
        Ok(())
    }

    /// The test side of a split: every image, or `limit` of them spread over categories and
    /// labels; in a stable order.
    pub async fn eval_images(
        &self,
        dataset: &str,
        split_key: &str,
        limit: Option<usize>,
    ) -> Result<Vec<EvalImage>, StoreError> {
        let split_id = self.split_id(dataset, split_key).await?;
        let rows: Vec<EvalImageRow> = sql::query_as(
            "SELECT i.id, d.root, i.file, i.category, i.label, i.rel_path
             FROM split_members m JOIN images i ON i.id = m.image_id
             JOIN datasets d ON d.id = i.dataset_id
             WHERE m.split_id = $1 AND m.side = 'test'
             ORDER BY i.category, i.label, i.rel_path",
        )
        .bind(split_id)
        .fetch_all(self.pool())
        .await?;
        let all: Vec<EvalImage> = rows.into_iter().map(eval_image).collect();
        Ok(match limit {
            None => all,
            Some(n) => {
                let mut groups: BTreeMap<(String, String), Vec<EvalImage>> = BTreeMap::new();
                for img in all {
                    groups
                        .entry((img.category.clone(), img.label.clone()))
                        .or_default()
                        .push(img);
                }
                spread(groups.into_values().collect(), n)
            }
        })
    }

    /// Normal training images of `category` in the dataset image `of` belongs to (template
    /// candidates), in a stable order.
    pub async fn template_pool(
        &self,
        dataset_id: i64,
        category: &str,
    ) -> Result<Vec<EvalImage>, StoreError> {
        let rows: Vec<EvalImageRow> = sql::query_as(
            "SELECT i.id, d.root, i.file, i.category, i.label, i.rel_path
             FROM images i JOIN datasets d ON d.id = i.dataset_id
             WHERE i.dataset_id = $1 AND i.category = $2 AND i.split = 'train' AND i.label = 'good'
             ORDER BY i.rel_path",
        )
        .bind(dataset_id)
        .bind(category)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(eval_image).collect())
    }

    /// One dataset image with its dataset's id.
    pub async fn eval_image(&self, image_id: i64) -> Result<(EvalImage, i64), StoreError> {
        let row: Option<(i64, String, String, String, String, String, i64)> = sql::query_as(
            "SELECT i.id, d.root, i.file, i.category, i.label, i.rel_path, d.id
             FROM images i JOIN datasets d ON d.id = i.dataset_id WHERE i.id = $1",
        )
        .bind(image_id)
        .fetch_optional(self.pool())
        .await?;
        let (id, root, file, category, label, rel_path, dataset_id) =
            row.ok_or_else(|| StoreError::NotFound(format!("image {image_id}")))?;
        Ok((
            eval_image((id, root, file, category, label, rel_path)),
            dataset_id,
        ))
    }

    /// The defect names and regions of the QA annotations of the images job `job` judged,
    /// by image (images whose annotations give neither are left out).
    pub async fn defect_annotations(
        &self,
        job: i64,
    ) -> Result<HashMap<i64, DefectAnnotation>, StoreError> {
        let rows: Vec<(i64, Option<String>, Option<String>)> = sql::query_as(
            "SELECT q.image_id, q.anomaly, q.region FROM qa q
             WHERE q.image_id IN (SELECT DISTINCT image_id FROM predictions WHERE job_id = $1)
               AND (q.anomaly IS NOT NULL OR q.region IS NOT NULL)
             ORDER BY q.image_id, q.id",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        let mut out: HashMap<i64, DefectAnnotation> = HashMap::new();
        for (image_id, name, region) in rows {
            let a = out.entry(image_id).or_default();
            if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
                if !a.names.contains(&name) {
                    a.names.push(name);
                }
            }
            if let Some(text) = region {
                let region: Option<Region> = serde_json::from_str(&text).map_err(|e| {
                    StoreError::Invalid(format!(
                        "image {image_id}: QA region {text:?} is not a region: {e}"
                    ))
                })?;
                if let Some(region) = region.filter(|r| !a.regions.contains(r)) {
                    a.regions.push(region);
                }
            }
        }
        Ok(out)
    }

    /// The reference answers (QA annotations) of an image.
    pub async fn reference_answers(&self, image_id: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sql::query_as("SELECT answer FROM qa WHERE image_id = $1 ORDER BY id")
                .bind(image_id)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Stores (or replaces) one prediction of job `job`.
    pub async fn save_prediction(&self, job: i64, p: &NewPrediction<'_>) -> Result<(), StoreError> {
        sql::query(
            // A replaced prediction keeps its row (and the judgements that name it); its
            // BERTScore is of the old text, so it goes.
            "INSERT INTO predictions (job_id, image_id, prompt, template_id, verdict,
                explanation, raw, prompt_tokens, new_tokens, latency_ms, first_token_ms, served_by,
                fingerprint, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT (job_id, image_id, prompt) DO UPDATE SET template_id = excluded.template_id,
                verdict = excluded.verdict, explanation = excluded.explanation, raw = excluded.raw,
                prompt_tokens = excluded.prompt_tokens, new_tokens = excluded.new_tokens,
                latency_ms = excluded.latency_ms, first_token_ms = excluded.first_token_ms,
                served_by = excluded.served_by, fingerprint = excluded.fingerprint,
                created_at = excluded.created_at, bert_p = NULL, bert_r = NULL, bert_f1 = NULL",
        )
        .bind(job)
        .bind(p.image_id)
        .bind(p.prompt)
        .bind(p.template_id)
        .bind(p.verdict)
        .bind(p.explanation)
        .bind(p.raw)
        .bind(p.prompt_tokens)
        .bind(p.new_tokens)
        .bind(p.latency_ms)
        .bind(p.served.and_then(|s| s.first_token_ms))
        .bind(p.served.and_then(|s| s.model.as_deref()))
        .bind(p.served.and_then(|s| s.fingerprint.as_deref()))
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a prediction's BERTScore.
    pub async fn set_prediction_bertscore(
        &self,
        job: i64,
        image_id: i64,
        prompt: &str,
        (p, r, f1): (f64, f64, f64),
    ) -> Result<(), StoreError> {
        sql::query(
            "UPDATE predictions SET bert_p = $1, bert_r = $2, bert_f1 = $3
             WHERE job_id = $4 AND image_id = $5 AND prompt = $6",
        )
        .bind(p)
        .bind(r)
        .bind(f1)
        .bind(job)
        .bind(image_id)
        .bind(prompt)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every prediction of a job, by prompt then image.
    pub async fn predictions(&self, job: i64) -> Result<Vec<PredictionRecord>, StoreError> {
        let rows: Vec<PredictionRow> = sql::query_as(
            "SELECT p.image_id, i.rel_path, i.category, i.label, p.prompt, p.template_id,
                    p.verdict, p.explanation, p.raw, p.prompt_tokens, p.new_tokens, p.latency_ms,
                    p.first_token_ms, p.served_by, p.fingerprint, p.bert_p, p.bert_r, p.bert_f1
             FROM predictions p JOIN images i ON i.id = p.image_id
             WHERE p.job_id = $1 ORDER BY p.prompt, i.category, i.label, i.rel_path",
        )
        .bind(job)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(PredictionRow::into_record).collect())
    }

    /// Records an uploaded image already written to `file` (relative to the data folder).
    pub async fn add_upload(
        &self,
        sha256: &str,
        file: &str,
        original_name: &str,
        (width, height): (u32, u32),
        owner: Option<i64>,
    ) -> Result<i64, StoreError> {
        let (id,): (i64,) = sql::query_as(
            "INSERT INTO uploads (sha256, file, original_name, width, height, owner_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(sha256)
        .bind(file)
        .bind(original_name)
        .bind(width as i64)
        .bind(height as i64)
        .bind(owner)
        .bind(now())
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// One upload.
    pub async fn upload(&self, id: i64) -> Result<UploadInfo, StoreError> {
        let row: Option<(i64, String, String, i64, i64, Option<String>)> = sql::query_as(
            "SELECT p.id, p.file, p.original_name, p.width, p.height, u.username
             FROM uploads p LEFT JOIN users u ON u.id = p.owner_id WHERE p.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let (id, file, original_name, width, height, owner) =
            row.ok_or_else(|| StoreError::NotFound(format!("upload {id}")))?;
        Ok(UploadInfo {
            id,
            file,
            original_name,
            width,
            height,
            owner: owner.unwrap_or_else(|| "(deleted user)".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::spread;
    use super::*;
    use crate::import::{ImportRequest, Layout};
    use crate::{JobKind, JobOwner, StoreOptions};

    /// A store with the pushpins of a small generated set imported, a run with one prediction
    /// per test image (with `explain` giving each explanation from its image's concise QA
    /// answer), and the run's report.
    async fn judged(
        dir: &Path,
        explain: impl Fn(&str, &str) -> (String, &'static str),
    ) -> (Store, i64, Vec<PredictionRecord>, Vec<PromptReport>) {
        let src = dir.join("src");
        let cfg = anomaly::synth::SynthConfig {
            seed: 3,
            size: 96,
            counts: anomaly::synth::Counts {
                train: 1,
                validation: 0,
                good: 1,
                logical: 2,
                structural: 3,
            },
            categories: vec!["pushpins".into()],
        };
        anomaly::synth::generate(&src, &cfg).unwrap();
        let s = crate::test_db::open(&dir.join("db.sqlite"), StoreOptions::default())
            .await
            .unwrap();
        let req = ImportRequest {
            source: src,
            layout: Layout::Loco,
            qa_file: None,
            name: "pins".into(),
            categories: None,
        };
        s.import_dataset(
            &dir.join("data"),
            req,
            std::sync::Arc::new(crate::import::go_on),
        )
        .await
        .unwrap();
        let job = s
            .create_running_job(JobKind::Eval, "{}", JobOwner::CommandLine)
            .await
            .unwrap();
        let images: Vec<(i64, String)> =
            sql::query_as("SELECT id, label FROM images WHERE split = 'test' ORDER BY rel_path")
                .fetch_all(s.pool())
                .await
                .unwrap();
        for (id, label) in images {
            let answer: Option<(String,)> =
                sql::query_as("SELECT answer FROM qa WHERE image_id = $1 AND source = 'manual'")
                    .bind(id)
                    .fetch_optional(s.pool())
                    .await
                    .unwrap();
            let (explanation, verdict) = explain(&label, &answer.map(|a| a.0).unwrap_or_default());
            s.save_prediction(
                job,
                &NewPrediction {
                    image_id: id,
                    prompt: "plain",
                    template_id: None,
                    verdict,
                    explanation: &explanation,
                    raw: &explanation,
                    prompt_tokens: 1,
                    new_tokens: 1,
                    latency_ms: 1,
                    served: None,
                },
            )
            .await
            .unwrap();
        }
        let (records, reports) = s.eval_report(job, &["plain".into()]).await.unwrap();
        (s, job, records, reports)
    }

    /// A model that repeats the concise answers names every defect; one that detects every
    /// anomaly but names another defect names none; normal images and missed anomalies are
    /// not checked; a corrupt stored region is an error naming the image.
    #[tokio::test]
    async fn the_report_checks_explanations_against_the_annotations() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, records, reports) = judged(dir.path(), |label, answer| {
            if label == "good" {
                (answer.to_string(), "normal")
            } else {
                (answer.to_string(), "anomalous")
            }
        })
        .await;
        // 2 logical + 3 structural anomalies, all detected, all named.
        let n = &reports[0].naming;
        assert_eq!((n.named, n.judged), (5, 5), "{n:?}");
        assert_eq!(n.location_agrees, n.located);
        assert_eq!(n.located + n.no_location_words, 5);
        assert_eq!(
            reports[0].naming_per_category["pushpins"],
            reports[0].naming
        );
        for r in &records {
            match r.label.as_str() {
                "good" => assert_eq!(r.check, None),
                _ => assert_eq!(r.check.and_then(|c| c.names_defect), Some(true), "{r:?}"),
            }
            // What the CSV and JSON read.
            assert_eq!(as_prediction(r).unwrap().check, r.check.map(Check::from));
        }

        let other = tempfile::tempdir().unwrap();
        let (s, job, records, reports) = judged(other.path(), |label, _| match label {
            "good" => ("Nothing to see.".into(), "normal"),
            // Detected, but the wrong defect in the wrong place.
            "logical" => (
                "Yes. The tray is scratched in the bottom right corner.".into(),
                "anomalous",
            ),
            _ => ("No.".into(), "normal"),
        })
        .await;
        let n = &reports[0].naming;
        assert_eq!((n.named, n.judged), (0, 2), "only the detected ones: {n:?}");
        assert!(records
            .iter()
            .filter(|r| r.label != "logical")
            .all(|r| r.check.is_none()));
        sql::query("UPDATE qa SET region = '{\"x\": \"left\"}' WHERE region IS NOT NULL")
            .execute(s.pool())
            .await
            .unwrap();
        let err = s.eval_report(job, &["plain".into()]).await.unwrap_err();
        assert!(err.to_string().contains("is not a region"), "{err}");
    }

    /// Reports are cached; any write to the run's predictions or to the QA table recomputes.
    #[tokio::test]
    async fn cached_reports_follow_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let (s, job, records, reports) =
            judged(dir.path(), |_, answer| (answer.to_string(), "anomalous")).await;
        let plain = ["plain".to_string()];
        assert_eq!(s.eval_report(job, &plain).await.unwrap().1, reports);
        // A verdict replaced (what a resumed run does).
        let first = &records[0];
        sql::query("UPDATE predictions SET verdict = 'normal' WHERE job_id = $1 AND image_id = $2")
            .bind(job)
            .bind(first.image_id)
            .execute(s.pool())
            .await
            .unwrap();
        let after = s.eval_report(job, &plain).await.unwrap();
        assert_ne!(after.1[0].scores, reports[0].scores);
        // BERTScore arriving later.
        s.set_prediction_bertscore(job, records[1].image_id, "plain", (0.5, 0.5, 0.5))
            .await
            .unwrap();
        let scored = s.eval_report(job, &plain).await.unwrap();
        assert!(scored.1[0].bertscore.is_some(), "{:?}", scored.1[0]);
        // The annotations changing.
        sql::query("DELETE FROM qa")
            .execute(s.pool())
            .await
            .unwrap();
        let unnamed = s.eval_report(job, &plain).await.unwrap();
        assert_eq!(unnamed.1[0].naming.judged, 0);
    }

    #[test]
    fn spread_takes_from_every_group_in_turn() {
        let groups = vec![vec![1, 2, 3], vec![10], vec![20, 21]];
        assert_eq!(spread(groups.clone(), 4), vec![1, 10, 20, 2]);
        assert_eq!(spread(groups.clone(), 100), vec![1, 10, 20, 2, 21, 3]);
        assert_eq!(spread(groups, 0), Vec::<i32>::new());
    }
}
