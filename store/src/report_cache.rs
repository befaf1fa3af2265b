//! Reports of evaluation runs, kept until the run's predictions (or the QA annotations they
//! are checked against) change: recomputing one costs an O(n²) self-BLEU per prompt.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use anomaly::report::PromptReport;

use crate::records::PredictionRecord;

/// What a cached report was computed from: the run, its prompts, and the state of its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReportKey {
    pub job: i64,
    pub prompts: Vec<String>,
    /// `jobs.predictions_rev`, bumped by triggers on every write to the run's predictions.
    pub predictions_rev: i64,
    /// The QA table's revision (`revisions`, bumped by triggers on every write to it).
    pub qa: i64,
}

/// A computed report: the records with their checks, and the per-prompt tables.
pub(crate) type Report = Arc<(Vec<PredictionRecord>, Vec<PromptReport>)>;

/// The last [`ReportCache::CAPACITY`] reports, oldest dropped first.
#[derive(Debug, Default)]
pub(crate) struct ReportCache {
    entries: Mutex<VecDeque<(ReportKey, Report)>>,
}

impl ReportCache {
    const CAPACITY: usize = 32;

    pub fn get(&self, key: &ReportKey) -> Option<Report> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
    }

    pub fn put(&self, key: ReportKey, report: Report) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // An older state of the same run and prompts is of no use any more.
        entries.retain(|(k, _)| !(k.job == key.job && k.prompts == key.prompts));
        if entries.len() == Self::CAPACITY {
            entries.pop_front();
        }
        entries.push_back((key, report));
    }
}
