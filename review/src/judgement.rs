//! One reviewer's judgement of one prediction, validated before anything is stored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest comment kept, in characters: a note, not an essay (a 100 KB paste is refused).
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// Longest corrected explanation, in characters (the models write a few sentences).
pub const MAX_FIX_CHARS: usize = 4_000;

/// Input a judgement cannot be stored with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("unknown {what} {value:?} (expected one of: {expected})")]
    Unknown {
        what: &'static str,
        value: String,
        expected: String,
    },
    #[error("the quality score is {0}; it must be 1 to 5")]
    Score(i64),
    #[error("the {what} has {chars} characters; at most {max} are kept")]
    TooLong {
        what: &'static str,
        chars: usize,
        max: usize,
    },
    #[error("the corrected explanation is empty: write one, or leave it out")]
    EmptyFix,
    #[error("tag {0} is given twice")]
    DuplicateTag(ReviewTag),
}

/// Declares a closed set of names stored as text: `as_str`, `ALL`, `FromStr`, `Display`.
macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = ReviewError;
            fn from_str(s: &str) -> Result<Self, ReviewError> {
                match s.trim() {
                    $($s => Ok($name::$v),)+
                    other => Err(ReviewError::Unknown {
                        what: $what,
                        value: other.to_string(),
                        expected: [$($s),+].join(", "),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// Whether the model's normal/anomalous verdict is right.
    VerdictCall, "verdict call", {
        Right => "right",
        Wrong => "wrong",
        /// The dataset's label is wrong, not the model: flagged to the dataset's admins.
        LabelWrong => "label_wrong",
    }
);

named_enum!(
    /// Whether the explanation is right about the image.
    ExplanationCall, "explanation call", {
        Correct => "correct",
        Partly => "partly",
        Wrong => "wrong",
    }
);

named_enum!(
    /// Why an explanation falls short.
    ReviewTag, "tag", {
        WrongDefect => "wrong_defect",
        WrongLocation => "wrong_location",
        MissedDefect => "missed_defect",
        HallucinatedDefect => "hallucinated_defect",
        Vague => "vague",
        NotAboutImage => "not_about_image",
        WrongLanguage => "wrong_language",
    }
);

impl ReviewTag {
    /// Words for people.
    pub fn label(self) -> &'static str {
        match self {
            ReviewTag::WrongDefect => "wrong defect",
            ReviewTag::WrongLocation => "wrong location",
            ReviewTag::MissedDefect => "missed defect",
            ReviewTag::HallucinatedDefect => "hallucinated defect",
            ReviewTag::Vague => "vague",
            ReviewTag::NotAboutImage => "not about the image",
            ReviewTag::WrongLanguage => "wrong language",
        }
    }
}

/// A 1–5 quality score of the explanation (5: as good as a careful inspector's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Score(u8);

impl Score {
    /// The score, 1 to 5.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Score {
    type Error = ReviewError;
    fn try_from(v: i64) -> Result<Self, ReviewError> {
        if (1..=5).contains(&v) {
            Ok(Score(v as u8))
        } else {
            Err(ReviewError::Score(v))
        }
    }
}

impl From<Score> for i64 {
    fn from(s: Score) -> i64 {
        i64::from(s.0)
    }
}

/// What one reviewer says of one prediction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: VerdictCall,
    pub explanation: ExplanationCall,
    pub score: Score,
    pub tags: Vec<ReviewTag>,
    pub comment: String,
    /// "Fix & accept": the reviewer's corrected explanation, kept beside the model's.
    pub fixed_explanation: Option<String>,
}

impl Judgement {
    /// Checks lengths and tags, trims the texts and puts the tags in order, so the stored
    /// judgement is the same whatever order the keys were pressed in.
    pub fn normalized(mut self) -> Result<Judgement, ReviewError> {
        self.comment = self.comment.trim().to_string();
        let chars = self.comment.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(ReviewError::TooLong {
                what: "comment",
                chars,
                max: MAX_COMMENT_CHARS,
            });
        }
        if let Some(fix) = &self.fixed_explanation {
            let fix = fix.trim();
            let chars = fix.chars().count();
            if chars == 0 {
                return Err(ReviewError::EmptyFix);
            }
            if chars > MAX_FIX_CHARS {
                return Err(ReviewError::TooLong {
                    what: "corrected explanation",
                    chars,
                    max: MAX_FIX_CHARS,
                });
            }
            self.fixed_explanation = Some(fix.to_string());
        }
        self.tags.sort();
        if let Some(w) = self.tags.windows(2).find(|w| w[0] == w[1]) {
            return Err(ReviewError::DuplicateTag(w[0]));
        }
        Ok(self)
    }

    /// Tags from their stored names, comma-separated ("" is none).
    pub fn parse_tags(s: &str) -> Result<Vec<ReviewTag>, ReviewError> {
        s.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(ReviewTag::from_str)
            .collect()
    }

    /// Tags as stored: their names, comma-separated.
    pub fn tags_text(tags: &[ReviewTag]) -> String {
        tags.iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgement() -> Judgement {
        Judgement {
            verdict: VerdictCall::Right,
            explanation: ExplanationCall::Partly,
            score: Score::try_from(3).unwrap(),
            tags: vec![ReviewTag::Vague, ReviewTag::WrongDefect],
            comment: "  close, but the cap is cracked, not missing ".into(),
            fixed_explanation: Some(" The cap is cracked on its left side. ".into()),
        }
    }

    #[test]
    fn names_round_trip_and_unknown_ones_list_the_choices() {
        for t in ReviewTag::ALL {
            assert_eq!(t.as_str().parse::<ReviewTag>(), Ok(*t));
        }
        for v in VerdictCall::ALL {
            assert_eq!(v.as_str().parse::<VerdictCall>(), Ok(*v));
        }
        let e = "blurry".parse::<ReviewTag>().unwrap_err().to_string();
        assert!(e.contains("unknown tag \"blurry\""), "{e}");
        assert!(e.contains("wrong_language"), "{e}");
        assert!("Right".parse::<VerdictCall>().is_err(), "names are exact");
    }

    #[test]
    fn scores_are_one_to_five() {
        for v in 1..=5 {
            assert_eq!(i64::from(Score::try_from(v).unwrap()), v);
        }
        for v in [0, 6, -1, i64::MAX] {
            assert_eq!(Score::try_from(v), Err(ReviewError::Score(v)));
        }
        let from_json: Result<Score, _> = serde_json::from_str("7");
        assert!(from_json.is_err());
    }

    #[test]
    fn normalizing_trims_sorts_and_limits() {
        let j = judgement().normalized().unwrap();
        assert_eq!(j.comment, "close, but the cap is cracked, not missing");
        assert_eq!(
            j.fixed_explanation.as_deref(),
            Some("The cap is cracked on its left side.")
        );
        assert_eq!(j.tags, vec![ReviewTag::WrongDefect, ReviewTag::Vague]);

        let mut long = judgement();
        long.comment = "x".repeat(100_000);
        assert_eq!(
            long.normalized(),
            Err(ReviewError::TooLong {
                what: "comment",
                chars: 100_000,
                max: MAX_COMMENT_CHARS
            })
        );
        let mut empty_fix = judgement();
        empty_fix.fixed_explanation = Some("   ".into());
        assert_eq!(empty_fix.normalized(), Err(ReviewError::EmptyFix));
        let mut twice = judgement();
        twice.tags = vec![ReviewTag::Vague, ReviewTag::Vague];
        assert_eq!(
            twice.normalized(),
            Err(ReviewError::DuplicateTag(ReviewTag::Vague))
        );
    }

    #[test]
    fn tags_text_round_trips() {
        let tags = vec![ReviewTag::MissedDefect, ReviewTag::WrongLanguage];
        let text = Judgement::tags_text(&tags);
        assert_eq!(text, "missed_defect,wrong_language");
        assert_eq!(Judgement::parse_tags(&text), Ok(tags));
        assert_eq!(Judgement::parse_tags(""), Ok(vec![]));
        assert!(Judgement::parse_tags("vague,nonsense").is_err());
    }
}
