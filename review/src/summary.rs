//! What a run's judgements measure: human-judged verdict and explanation accuracy, agreement
//! between reviewers on the items judged more than once, and whether BERTScore agrees with the
//! reviewers' quality scores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agreement::{cohen_kappa, kendall_tau_b, krippendorff_alpha, spearman, Level};
use crate::{ExplanationCall, Judgement, ReviewTag, VerdictCall};

/// One reviewed prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewedItem {
    pub prompt: String,
    /// The prediction's BERTScore F1 (scored for detected anomalies only).
    pub bert_f1: Option<f64>,
    /// Its judgements in the order they were given: (reviewer, judgement).
    pub judgements: Vec<(i64, Judgement)>,
}

/// Human-judged scores of a set of judgements. Shares are of judgements, so an item judged
/// twice counts twice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanScores {
    pub items: usize,
    pub judgements: usize,
    pub verdict_right: usize,
    pub verdict_wrong: usize,
    /// Judgements that say the dataset's label is wrong (left out of the verdict accuracy).
    pub label_flags: usize,
    /// right / (right + wrong).
    pub verdict_accuracy: Option<f64>,
    /// Share of explanations judged correct.
    pub explanation_correct: Option<f64>,
    /// Share judged correct or partly correct.
    pub explanation_correct_or_partly: Option<f64>,
    pub mean_score: Option<f64>,
    /// Judgements carrying each tag, every tag listed.
    pub tags: Vec<(ReviewTag, usize)>,
}

/// Agreement between reviewers on the items judged more than once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// Items with two or more judgements.
    pub items: usize,
    /// Reviewers who judged at least one of them.
    pub reviewers: usize,
    /// Cohen's κ between each such item's first and second judgement.
    pub kappa_verdict: Option<f64>,
    pub kappa_explanation: Option<f64>,
    /// Krippendorff's α over all judgements, reviewers as raters: nominal for the calls,
    /// ordinal for the 1–5 score.
    pub alpha_verdict: Option<f64>,
    pub alpha_explanation: Option<f64>,
    pub alpha_score: Option<f64>,
}

/// Rank correlation of BERTScore F1 with the mean human quality score, over the items that
/// have both.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricAgreement {
    pub n: usize,
    pub spearman: Option<f64>,
    pub kendall: Option<f64>,
}

/// Everything a run's judgements measure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReview {
    pub overall: HumanScores,
    /// Per prompt, in the order prompts first appear.
    pub per_prompt: Vec<(String, HumanScores)>,
    pub agreement: Agreement,
    pub metric: MetricAgreement,
}

/// Summarizes a run's reviewed items.
pub fn summarize(items: &[ReviewedItem]) -> RunReview {
    let mut prompts: Vec<&str> = Vec::new();
    for it in items {
        if !prompts.contains(&it.prompt.as_str()) {
            prompts.push(&it.prompt);
        }
    }
    let per_prompt = prompts
        .iter()
        .map(|p| {
            let of: Vec<&ReviewedItem> = items.iter().filter(|i| i.prompt == *p).collect();
            (p.to_string(), scores(&of))
        })
        .collect();
    RunReview {
        overall: scores(&items.iter().collect::<Vec<_>>()),
        per_prompt,
        agreement: agreement(items),
        metric: metric_agreement(items),
    }
}

fn share(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

fn scores(items: &[&ReviewedItem]) -> HumanScores {
    let all: Vec<&Judgement> = items
        .iter()
        .flat_map(|i| i.judgements.iter().map(|(_, j)| j))
        .collect();
    let count_v = |v: VerdictCall| all.iter().filter(|j| j.verdict == v).count();
    let count_e = |e: ExplanationCall| all.iter().filter(|j| j.explanation == e).count();
    let (right, wrong) = (count_v(VerdictCall::Right), count_v(VerdictCall::Wrong));
    let correct = count_e(ExplanationCall::Correct);
    let partly = count_e(ExplanationCall::Partly);
    let score_sum: u32 = all.iter().map(|j| u32::from(j.score.get())).sum();
    HumanScores {
        items: items.iter().filter(|i| !i.judgements.is_empty()).count(),
        judgements: all.len(),
        verdict_right: right,
        verdict_wrong: wrong,
        label_flags: count_v(VerdictCall::LabelWrong),
        verdict_accuracy: share(right, right + wrong),
        explanation_correct: share(correct, all.len()),
        explanation_correct_or_partly: share(correct + partly, all.len()),
        mean_score: (!all.is_empty()).then(|| f64::from(score_sum) / all.len() as f64),
        tags: ReviewTag::ALL
            .iter()
            .map(|t| (*t, all.iter().filter(|j| j.tags.contains(t)).count()))
            .collect(),
    }
}

fn code<T: PartialEq>(all: &[T], v: T) -> f64 {
    all.iter().position(|x| *x == v).unwrap_or(0) as f64
}

fn agreement(items: &[ReviewedItem]) -> Agreement {
    let multi: Vec<&ReviewedItem> = items.iter().filter(|i| i.judgements.len() >= 2).collect();
    let firsts = |f: &dyn Fn(&Judgement) -> f64| -> (Vec<i64>, Vec<i64>) {
        multi
            .iter()
            .map(|i| (f(&i.judgements[0].1) as i64, f(&i.judgements[1].1) as i64))
            .unzip()
    };
    let verdict = |j: &Judgement| code(VerdictCall::ALL, j.verdict);
    let explanation = |j: &Judgement| code(ExplanationCall::ALL, j.explanation);
    let score = |j: &Judgement| f64::from(j.score.get());
    // Lengths agree by construction, so an Err cannot happen; it would read as "undefined".
    let kappa = |f: &dyn Fn(&Judgement) -> f64| {
        let (a, b) = firsts(f);
        cohen_kappa(&a, &b).ok().flatten()
    };

    let mut reviewers: Vec<i64> = multi
        .iter()
        .flat_map(|i| i.judgements.iter().map(|(r, _)| *r))
        .collect();
    reviewers.sort_unstable();
    reviewers.dedup();
    let alpha = |f: &dyn Fn(&Judgement) -> f64, level: Level| {
        let rows: BTreeMap<i64, Vec<Option<f64>>> = reviewers
            .iter()
            .map(|r| {
                let row = multi
                    .iter()
                    .map(|i| i.judgements.iter().find(|(x, _)| x == r).map(|(_, j)| f(j)))
                    .collect();
                (*r, row)
            })
            .collect();
        let data: Vec<Vec<Option<f64>>> = rows.into_values().collect();
        krippendorff_alpha(&data, level).ok().flatten()
    };
    Agreement {
        items: multi.len(),
        reviewers: reviewers.len(),
        kappa_verdict: kappa(&verdict),
        kappa_explanation: kappa(&explanation),
        alpha_verdict: alpha(&verdict, Level::Nominal),
        alpha_explanation: alpha(&explanation, Level::Nominal),
        alpha_score: alpha(&score, Level::Ordinal),
    }
}

fn metric_agreement(items: &[ReviewedItem]) -> MetricAgreement {
    let (bert, human): (Vec<f64>, Vec<f64>) = items
        .iter()
        .filter(|i| !i.judgements.is_empty())
        .filter_map(|i| {
            let f1 = i.bert_f1?;
            let sum: u32 = i
                .judgements
                .iter()
                .map(|(_, j)| u32::from(j.score.get()))
                .sum();
            Some((f1, f64::from(sum) / i.judgements.len() as f64))
        })
        .unzip();
    MetricAgreement {
        n: bert.len(),
        spearman: spearman(&bert, &human)
            .ok()
            .flatten()
            .map(|c| c.coefficient),
        kendall: kendall_tau_b(&bert, &human)
            .ok()
            .flatten()
            .map(|c| c.coefficient),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Score;

    fn j(v: VerdictCall, e: ExplanationCall, score: i64, tags: &[ReviewTag]) -> Judgement {
        Judgement {
            verdict: v,
            explanation: e,
            score: Score::try_from(score).unwrap(),
            tags: tags.to_vec(),
            comment: String::new(),
            fixed_explanation: None,
        }
    }

    fn item(prompt: &str, f1: Option<f64>, js: Vec<(i64, Judgement)>) -> ReviewedItem {
        ReviewedItem {
            prompt: prompt.into(),
            bert_f1: f1,
            judgements: js,
        }
    }

    use ExplanationCall as E;
    use VerdictCall as V;

    #[test]
    fn human_scores_count_by_hand() {
        let items = vec![
            item("P1", Some(0.9), vec![(1, j(V::Right, E::Correct, 5, &[]))]),
            item(
                "P1",
                Some(0.5),
                vec![(1, j(V::Right, E::Partly, 3, &[ReviewTag::Vague]))],
            ),
            item(
                "P1",
                None,
                vec![(
                    1,
                    j(V::Wrong, E::Wrong, 1, &[ReviewTag::HallucinatedDefect]),
                )],
            ),
            item("P2", None, vec![(2, j(V::LabelWrong, E::Wrong, 2, &[]))]),
            item("P2", Some(0.7), vec![]),
        ];
        let r = summarize(&items);
        let p1 = &r.per_prompt[0].1;
        assert_eq!(r.per_prompt[0].0, "P1");
        assert_eq!((p1.items, p1.judgements), (3, 3));
        // 2 right of 3 decided; 1 of 3 correct; 2 of 3 correct or partly; (5+3+1)/3.
        assert_eq!(p1.verdict_accuracy, Some(2.0 / 3.0));
        assert_eq!(p1.explanation_correct, Some(1.0 / 3.0));
        assert_eq!(p1.explanation_correct_or_partly, Some(2.0 / 3.0));
        assert_eq!(p1.mean_score, Some(3.0));
        let tag = |s: &HumanScores, t| s.tags.iter().find(|(x, _)| *x == t).unwrap().1;
        assert_eq!(tag(p1, ReviewTag::Vague), 1);
        assert_eq!(tag(p1, ReviewTag::WrongLanguage), 0);
        let p2 = &r.per_prompt[1].1;
        // The label flag is not a verdict error: no decided judgement is left.
        assert_eq!(
            (p2.items, p2.label_flags, p2.verdict_accuracy),
            (1, 1, None)
        );
        assert_eq!(r.overall.judgements, 4);
        assert_eq!(r.overall.verdict_accuracy, Some(2.0 / 3.0));
        assert_eq!(r.overall.mean_score, Some(11.0 / 4.0));
        // Nothing was judged twice.
        assert_eq!(r.agreement.items, 0);
        assert_eq!(r.agreement.kappa_verdict, None);
        // BERTScore against the human score: items 1 and 2 only (5 at 0.9, 3 at 0.5).
        assert_eq!(r.metric.n, 2);
        assert!((r.metric.spearman.unwrap() - 1.0).abs() < 1e-12);
        assert!((r.metric.kendall.unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn agreement_of_two_reviewers_by_hand() {
        // Four items judged by reviewers 1 and 2. Verdict calls: (R,R) (R,R) (W,W) (R,W):
        // observed agreement 3/4; rater 1 says R 3/4, rater 2 R 2/4, so chance agreement
        // 3/4·2/4 + 1/4·2/4 = 1/2 and κ = (3/4 − 1/2)/(1 − 1/2) = 1/2.
        let pair = |a: V, b: V, sa: i64, sb: i64| {
            item(
                "P1",
                None,
                vec![
                    (1, j(a, E::Correct, sa, &[])),
                    (2, j(b, E::Correct, sb, &[])),
                ],
            )
        };
        let items = vec![
            pair(V::Right, V::Right, 5, 5),
            pair(V::Right, V::Right, 4, 4),
            pair(V::Wrong, V::Wrong, 1, 2),
            pair(V::Right, V::Wrong, 3, 1),
            item("P1", None, vec![(3, j(V::Right, E::Correct, 5, &[]))]),
        ];
        let r = summarize(&items);
        assert_eq!((r.agreement.items, r.agreement.reviewers), (4, 2));
        let k = r.agreement.kappa_verdict.unwrap();
        assert!((k - 0.5).abs() < 1e-12, "{k}");
        // Every explanation call is "correct": no variation, κ and α are undefined.
        assert_eq!(r.agreement.kappa_explanation, None);
        assert_eq!(r.agreement.alpha_explanation, None);
        // Nominal α for the verdicts: the coincidence matrix of the 4 pairable units has
        // o(R,R) = 4, o(W,W) = 2, o(R,W) = o(W,R) = 1; n = 8, n_R = 5, n_W = 3.
        // D_o = (1 + 1)/8, D_e = (5·3 + 3·5)/(8·7), α = 1 − D_o/D_e = 1 − (2/8)/(30/56) = 8/15.
        let a = r.agreement.alpha_verdict.unwrap();
        assert!((a - 8.0 / 15.0).abs() < 1e-12, "{a}");
        assert!(r.agreement.alpha_score.is_some());
    }
}
