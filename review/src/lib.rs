//! Human review of predictions: what a reviewer says of one prediction ([`Judgement`]), which
//! items need a second, blind judgement and in what order a queue offers them ([`assign`]),
//! what a run's judgements measure ([`summary`]), and the agreement and rank-correlation
//! statistics behind those measures ([`agreement`]).

pub mod agreement;
pub mod assign;
mod judgement;
pub mod summary;

pub use assign::{Outcome, QueueOrder, QueuePlan};
pub use judgement::{
    ExplanationCall, Judgement, ReviewError, ReviewTag, Score, VerdictCall, MAX_COMMENT_CHARS,
    MAX_FIX_CHARS,
};
pub use summary::{summarize, Agreement, HumanScores, MetricAgreement, ReviewedItem, RunReview};
