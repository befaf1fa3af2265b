//! QA answers for synthetic images, written from the generator's own knowledge in the two
//! styles of the paper's annotations: concise ("manual") and verbose ("generated_verified").

use super::categories::CategorySpec;
use crate::dataset::qa::{QaRecord, QaSource, Region};
use crate::Label;

/// The question of the concise annotation (also the plain prompt's wording).
pub const MANUAL_QUESTION: &str =
    "Is there any defect in this image? If yes, describe the defect and where it is.";

/// The two annotations of one image. `what` describes the defect (None for normal images).
pub fn annotations(
    image: &str,
    spec: &CategorySpec,
    label: Label,
    kind: Option<&str>,
    what: Option<&str>,
    region: Option<Region>,
) -> [QaRecord; 2] {
    let product = spec.product;
    let (manual, verbose) = match (label, what) {
        (Label::Good, _) | (_, None) => (
            format!("No. This {product} is normal."),
            format!(
                "Normal. A correct {product} has {}, and this one does; no damage or contamination is visible.",
                spec.rule
            ),
        ),
        (Label::Logical, Some(what)) => (
            format!("Yes. Logical anomaly: {what}."),
            format!(
                "Anomalous (logical anomaly). A correct {product} has {}. In this image {what}, which breaks that rule.",
                spec.rule
            ),
        ),
        (Label::Structural, Some(what)) => (
            format!("Yes. Structural anomaly: {what}."),
            format!(
                "Anomalous (structural anomaly). The contents of the {product} follow the rules, but its appearance is damaged: {what}."
            ),
        ),
    };
    let anomaly = kind.map(|k| k.replace('_', " "));
    [
        QaRecord {
            image: image.to_string(),
            question: MANUAL_QUESTION.to_string(),
            answer: manual,
            source: QaSource::Manual,
            anomaly: anomaly.clone(),
            region,
            verified_by: None,
            verified_at: None,
        },
        QaRecord {
            image: image.to_string(),
            question: format!("Is this {product} normal or anomalous? Explain why."),
            answer: verbose,
            source: QaSource::GeneratedVerified,
            anomaly,
            region,
            verified_by: None,
            verified_at: None,
        },
    ]
}
