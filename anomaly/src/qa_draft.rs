//! Drafting QA annotations with a model (docs/review.md): which images a drafting job takes, and
//! the prompt that tells the model what the dataset already knows about each one (its product,
//! its label and, from the mask, where the defect lies), so the model only has to put into words
//! what a person then verifies.

use serde::{Deserialize, Serialize};

use crate::dataset::qa::Region;
use crate::explain::Decoding;
use crate::Label;

/// A drafting job: a model writes answers for a dataset's images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftConfig {
    /// A registered model or a folder on the server; remote models too.
    pub model: String,
    pub dataset: String,
    /// Only images of this category (every category when None).
    #[serde(default)]
    pub category: Option<String>,
    /// Only images with this label.
    #[serde(default)]
    pub label: Option<Label>,
    /// Draft images that have an annotation already, too (by default only those without).
    #[serde(default)]
    pub include_annotated: bool,
    /// At most this many images, in the dataset's order.
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default)]
    pub decoding: Decoding,
}

fn cpu() -> String {
    "cpu".into()
}

impl DraftConfig {
    pub fn new(model: &str, dataset: &str) -> Self {
        DraftConfig {
            model: model.into(),
            dataset: dataset.into(),
            category: None,
            label: None,
            include_annotated: false,
            limit: None,
            device: cpu(),
            decoding: Decoding {
                max_new_tokens: 96,
                ..Decoding::default()
            },
        }
    }
}

/// What the dataset knows of one image, told to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftFacts<'a> {
    pub category: &'a str,
    pub label: Label,
    /// The defect's name, when an annotation of the image gives one.
    pub defect: Option<&'a str>,
    /// Where the defect lies (from the mask).
    pub region: Option<Region>,
}

/// The words for where `r` lies in the image ("top left", "centre", …), the ones the location
/// check of `crate::naming` reads back; "most of the image" for a region that covers it.
pub fn region_words(r: &Region) -> &'static str {
    if r.w * r.h > 0.5 {
        return "most of the image";
    }
    let third = |v: f32| {
        if v < 1.0 / 3.0 {
            0
        } else if v < 2.0 / 3.0 {
            1
        } else {
            2
        }
    };
    let (col, row) = (third(r.x + r.w / 2.0), third(r.y + r.h / 2.0));
    [
        ["top left", "top", "top right"],
        ["left", "centre", "right"],
        ["bottom left", "bottom", "bottom right"],
    ][row][col]
}

/// The message (after the image) asking for the answer to `question` about an image with these
/// facts: the model is told the truth and asked to describe it, not to judge.
pub fn draft_prompt(question: &str, facts: &DraftFacts) -> String {
    let category = facts.category.replace('_', " ");
    let mut s = format!("This image shows a {category}. ");
    s += match facts.label {
        Label::Good => "It is a normal sample: it has no defect.",
        Label::Logical => {
            "It has a logical anomaly: a part is missing, extra, misplaced or of the wrong kind or amount."
        }
        Label::Structural => {
            "It has a structural anomaly: it is damaged, for example scratched, cracked, bent or contaminated."
        }
    };
    if let Some(defect) = facts.defect.map(str::trim).filter(|d| !d.is_empty()) {
        s += &format!(" The defect is: {defect}.");
    }
    if facts.label.is_anomalous() {
        if let Some(r) = &facts.region {
            s += &format!(" It lies in the {} of the image.", region_words(r));
        }
    }
    s += &format!(
        "\nAnswer this question as an inspector would, in one or two sentences: {question}\n\
         Say first whether it is normal or anomalous; for an anomaly, say what is wrong and where."
    );
    s
}

/// The answer kept from a model's reply: its text without surrounding whitespace or quotes.
pub fn draft_answer(reply: &str) -> String {
    reply
        .trim()
        .trim_matches(|c| c == '"' || c == '\u{201c}' || c == '\u{201d}')
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::location_match;

    fn region(x: f32, y: f32, w: f32, h: f32) -> Region {
        Region { x, y, w, h }
    }

    #[test]
    fn regions_are_named_by_the_third_their_centre_is_in() {
        assert_eq!(region_words(&region(0.0, 0.0, 0.2, 0.2)), "top left");
        assert_eq!(region_words(&region(0.8, 0.1, 0.1, 0.1)), "top right");
        assert_eq!(region_words(&region(0.4, 0.4, 0.2, 0.2)), "centre");
        assert_eq!(region_words(&region(0.1, 0.75, 0.1, 0.2)), "bottom left");
        assert_eq!(region_words(&region(0.45, 0.8, 0.1, 0.1)), "bottom");
        assert_eq!(
            region_words(&region(0.0, 0.0, 0.9, 0.9)),
            "most of the image"
        );
    }

    #[test]
    fn the_words_read_back_as_the_same_place() {
        for r in [
            region(0.05, 0.05, 0.2, 0.2),
            region(0.7, 0.7, 0.2, 0.2),
            region(0.7, 0.4, 0.2, 0.2),
        ] {
            let text = format!("A pin is missing in the {}.", region_words(&r));
            let m = location_match(&text, std::slice::from_ref(&r));
            assert_eq!(m.map(|m| m.as_str()), Some("agrees"), "{text} for {r:?}");
        }
    }

    #[test]
    fn the_prompt_tells_the_label_the_defect_and_where() {
        let facts = DraftFacts {
            category: "screw_bag",
            label: Label::Logical,
            defect: Some("a missing washer"),
            region: Some(region(0.7, 0.05, 0.2, 0.2)),
        };
        let p = draft_prompt("Is there any defect?", &facts);
        assert!(
            p.starts_with("This image shows a screw bag. It has a logical anomaly"),
            "{p}"
        );
        assert!(p.contains("The defect is: a missing washer."), "{p}");
        assert!(p.contains("It lies in the top right of the image."), "{p}");
        assert!(p.contains("Is there any defect?"), "{p}");
        // A normal image: no defect, no place, whatever the inputs say.
        let good = DraftFacts {
            label: Label::Good,
            defect: None,
            ..facts
        };
        let p = draft_prompt("Is there any defect?", &good);
        assert!(p.contains("It is a normal sample"), "{p}");
        assert!(!p.contains("lies in"), "{p}");
    }

    #[test]
    fn answers_lose_quotes_and_whitespace() {
        assert_eq!(
            draft_answer("  \"Anomalous. A pin is missing.\"\n"),
            "Anomalous. A pin is missing."
        );
        assert_eq!(draft_answer("Normal."), "Normal.");
    }
}
