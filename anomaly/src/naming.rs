//! Does an explanation name the annotated defect, and does it put it where the annotation's
//! region is? Two checks of a detected anomaly's explanation against its QA annotation
//! (`anomaly`, `region`), by words alone: no model, no randomness.
//!
//! # Words
//!
//! A text is lower-cased, "n't" becomes " not", and it is cut into sentences at `.`, `!`, `?`,
//! `;` and line breaks, and into words at every character that is not a letter or a digit
//! ("top-left" is two words, "défaut" one). Each word gets a normal form ([`normalise`]):
//! British spellings become American (colour → color, centre → center, grey → gray, …), a few
//! irregular forms become their base (torn → tear, broken → break, bent → bend, …), and a
//! light stemmer drops plural and verb endings (-ies → -y; -es after s, x, z, ch, sh; -s;
//! -ied → -y; -ed; -ing, undoubling a final consonant other than l, s, z; then a final -e), so
//! "scratches", "scratched" and "scratching" are all `scratch`, and "misplace", "misplaced"
//! and "misplacing" all `misplac`.
//!
//! # Naming the defect
//!
//! - A name's **content words** are its words without stop-words (articles, prepositions,
//!   pronouns, forms of "be"/"have") and without words that name no defect in particular
//!   (defect, anomaly, logical, structural, issue, …). A name with no content word ("", "the
//!   defect") is not judged: [`names_defect`] gives None.
//! - Each content word stands for its **synonym groups** ([`GROUPS`]: missing ≈ absent, lacking,
//!   empty, gone; pin ≈ pushpin, thumbtack; broken ≈ cracked, fractured, snapped; …), or for
//!   itself when it is in none.
//! - A word of the explanation is **negated** when no, not, never, without, nothing, none,
//!   neither, nor, free or cannot is among the three words before it in its sentence ("not
//!   missing", "free of scratches"), or when it follows "and"/"or"/"nor" right after a negated
//!   word ("free of dirt and stains"). A negated word does not count, except for a word of a
//!   *thing* group (pin, cable, label, …: "no cable" still speaks of the cable). Some groups
//!   also count certain words *when negated* ("do not match" is a mismatch, "not present" is
//!   missing).
//! - Absence: a word of the *missing* group is also there when another content word of the name
//!   is negated and no missing-group word follows within three words ("a cell without a
//!   pushpin", "there is no cable" name "missing pin" and "missing cable"; "no cable is
//!   missing" does not).
//! - The explanation **names the defect** when one of its sentences has, for every content word
//!   of the name, a counted word of that content word's groups. Known names also have
//!   alternative phrasings ([`ALTERNATIVES`], mostly the generator's own wording: "low fill" is
//!   also named by "underfilled"), judged the same way; any of them will do.
//!
//! # Location
//!
//! - Location words are left, right, top, upper, bottom, lower, centre/center, central,
//!   middle, mid and corner (with -most and -hand forms). Consecutive ones make a phrase, and a
//!   phrase covers cells of a 3 × 3 grid over the image: a row word and a column word one cell
//!   ("top left"), a lone row or column word its row or column ("left"), centre/middle the middle
//!   of the axes no other word names ("top centre": top row, middle column; "centre": the middle
//!   cell), and corner the corners of the axes no other word names ("corner": four cells).
//! - A location word does not count when it is negated ("not in the centre"), counts cells
//!   ("the third cell from the left"), says where something should be or is in the template
//!   (instead, rather, should, supposed, expected, normally, template or reference among the
//!   four words before it), names an image ("the left image"), means correct ("the right
//!   number", "all right") or is a verb ("nothing left"); upper and lower count only beside
//!   another location word or before a word like part, half, side, edge or area ("a lower fill
//!   level" names no place). Every sentence of the explanation is read, not only the one that
//!   names the defect.
//! - The region's centre is placed in horizontal and vertical thirds, and a centre within 1/12
//!   of the image of a border between two thirds is in both (the generator names places with
//!   borders at 0.38 and 0.62, and the product sits slightly rotated).
//! - The explanation's location **agrees** when the cells its phrases cover (all of them
//!   together) include a cell of the region, **disagrees** when they include none, and it has
//!   **no location words** when it has no phrase. An image with several regions agrees when one
//!   of them does.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::dataset::qa::Region;

mod location;
mod synonyms;
mod words;

pub use location::{location_cells, region_cells, Cells, THIRD_TOLERANCE};
pub use synonyms::{Group, Role, ALTERNATIVES, GROUPS};
pub use words::normalise;

use location::location_in;
use synonyms::{tables, Prepared};
use words::{negated, sentences, Word};

/// How an explanation's location words compare with the annotated region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationMatch {
    Agrees,
    Disagrees,
    /// The explanation says nothing about where the defect is.
    NoLocationWords,
}

impl LocationMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationMatch::Agrees => "agrees",
            LocationMatch::Disagrees => "disagrees",
            LocationMatch::NoLocationWords => "no_location_words",
        }
    }
}

/// Both checks of one explanation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Whether the explanation names the defect; None when the annotation names none (or only
    /// with words that name nothing).
    pub named: Option<bool>,
    /// None when the annotation has no usable region.
    pub location: Option<LocationMatch>,
}

impl Check {
    /// True when neither check applies (nothing annotated to compare with).
    pub fn is_empty(&self) -> bool {
        self.named.is_none() && self.location.is_none()
    }
}

/// Counts of both checks over a group of detected anomalies (counts, not ratios).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamingScores {
    /// Explanations whose annotation names the defect (N).
    pub judged: usize,
    /// Of those, the explanations that name it (n).
    pub named: usize,
    /// Explanations with an annotated region and location words.
    pub located: usize,
    /// Of those, the ones whose words agree with the region.
    pub location_agrees: usize,
    /// Explanations with an annotated region but no location words.
    pub no_location_words: usize,
}

impl NamingScores {
    /// Counts one explanation's checks.
    pub fn add(&mut self, c: &Check) {
        if let Some(named) = c.named {
            self.judged += 1;
            self.named += usize::from(named);
        }
        match c.location {
            Some(LocationMatch::Agrees) => {
                self.located += 1;
                self.location_agrees += 1;
            }
            Some(LocationMatch::Disagrees) => self.located += 1,
            Some(LocationMatch::NoLocationWords) => self.no_location_words += 1,
            None => {}
        }
    }

    /// n / N, None without a judged explanation.
    pub fn named_share(&self) -> Option<f64> {
        (self.judged > 0).then(|| self.named as f64 / self.judged as f64)
    }

    /// Agreeing / located, None without a located explanation.
    pub fn location_share(&self) -> Option<f64> {
        (self.located > 0).then(|| self.location_agrees as f64 / self.located as f64)
    }
}

/// Both checks of `explanation` against an image's annotated defect names and regions (an
/// image may carry several annotations; one that matches is enough).
pub fn check(explanation: &str, names: &[String], regions: &[Region]) -> Check {
    let text = sentences(explanation);
    let verdicts: Vec<bool> = names.iter().filter_map(|n| names_in(&text, n)).collect();
    Check {
        named: (!verdicts.is_empty()).then(|| verdicts.contains(&true)),
        location: location_in(&text, regions),
    }
}

/// Whether `explanation` names the defect called `name`; None when the name has no content
/// word.
pub fn names_defect(explanation: &str, name: &str) -> Option<bool> {
    names_in(&sentences(explanation), name)
}

/// How the location words of `explanation` compare with `regions`; None when no region is
/// usable (none, or with coordinates that are not numbers).
pub fn location_match(explanation: &str, regions: &[Region]) -> Option<LocationMatch> {
    location_in(&sentences(explanation), regions)
}

// ----------------------------------------------------------------------------------- naming

/// The content words of a defect's name, normalised.
pub fn content_words(name: &str) -> Vec<String> {
    let t = tables();
    sentences(name)
        .into_iter()
        .flatten()
        .map(|w| w.norm)
        .filter(|w| !t.stop.contains(w))
        .collect()
}

/// What one content word of a name needs in a sentence.
struct Need {
    role: Role,
    words: HashSet<String>,
    when_negated: HashSet<String>,
}

fn need(word: &str) -> Need {
    let mine: Vec<&Prepared> = tables()
        .groups
        .iter()
        .filter(|g| g.words.contains(word))
        .collect();
    let role = if mine.iter().any(|g| g.role == Role::Absence) {
        Role::Absence
    } else if mine.iter().any(|g| g.role == Role::Defect) || mine.is_empty() {
        // A word of no group (an unknown name's) is read as a defect word: "no X" does not
        // say there is an X.
        Role::Defect
    } else {
        Role::Thing
    };
    let mut words: HashSet<String> = mine.iter().flat_map(|g| g.words.clone()).collect();
    words.insert(word.to_string());
    Need {
        role,
        words,
        when_negated: mine.iter().flat_map(|g| g.when_negated.clone()).collect(),
    }
}

fn names_in(text: &[Vec<Word>], name: &str) -> Option<bool> {
    let content = content_words(name);
    if content.is_empty() {
        return None;
    }
    let mut phrasings = vec![content.clone()];
    for (known, alts) in &tables().alternatives {
        if *known == content {
            phrasings.extend(alts.iter().cloned());
        }
    }
    let phrasings: Vec<Vec<Need>> = phrasings
        .iter()
        .map(|p| p.iter().map(|w| need(w)).collect())
        .collect();
    Some(
        text.iter()
            .any(|s| phrasings.iter().any(|needs| all_met(s, needs))),
    )
}

/// Whether one sentence meets every need of a phrasing.
fn all_met(s: &[Word], needs: &[Need]) -> bool {
    let neg: Vec<bool> = (0..s.len()).map(|i| negated(s, i)).collect();
    let mut met: Vec<bool> = needs
        .iter()
        .map(|n| {
            s.iter().zip(&neg).any(|(w, &ng)| {
                (n.words.contains(&w.norm) && (!ng || n.role == Role::Thing))
                    || (ng && n.when_negated.contains(&w.norm))
            })
        })
        .collect();
    // "A cell without a pushpin": the negated thing says the missing-word's part too.
    let absence: HashSet<&String> = needs
        .iter()
        .filter(|n| n.role == Role::Absence)
        .flat_map(|n| n.words.iter())
        .collect();
    for (a, na) in needs.iter().enumerate() {
        if na.role != Role::Absence || met[a] {
            continue;
        }
        for (b, nb) in needs.iter().enumerate() {
            if b == a {
                continue;
            }
            let absent = s.iter().enumerate().any(|(i, w)| {
                neg[i]
                    && nb.words.contains(&w.norm)
                    && !s[i + 1..(i + 4).min(s.len())]
                        .iter()
                        .any(|f| absence.contains(&f.norm))
            });
            if absent {
                met[a] = true;
                met[b] = true;
            }
        }
    }
    met.iter().all(|&m| m)
}

#[cfg(test)]
mod tests;
