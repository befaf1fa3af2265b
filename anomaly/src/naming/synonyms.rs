//! The synonym groups, the alternative phrasings of known defect names and the stop-words,
//! and their normalised forms.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::words::sentences;

/// What a synonym group's words say about the defect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// What is wrong (broken, bent, extra): a negated word does not count.
    Defect,
    /// The thing that is wrong (pin, cable): a negated word counts too.
    Thing,
    /// Missing: as a defect word, and also satisfied by another negated content word.
    Absence,
}

/// A group of words that name one thing or one kind of defect.
pub struct Group {
    pub role: Role,
    pub words: &'static [&'static str],
    /// Words that say what the group says when they are negated ("not match").
    pub when_negated: &'static [&'static str],
}

const fn group(role: Role, words: &'static [&'static str]) -> Group {
    Group {
        role,
        words,
        when_negated: &[],
    }
}

/// The synonym groups: the defect kinds of the generator (`synth::categories`, underscores as
/// spaces) and the words it and models use for them. Words are normalised when used.
pub const GROUPS: &[Group] = &[
    Group {
        role: Role::Absence,
        words: &[
            "missing", "absent", "absence", "lack", "lacking", "empty", "gone", "removed",
            "omitted", "vacant",
        ],
        when_negated: &["present", "there", "visible", "found", "seen"],
    },
    group(
        Role::Defect,
        &[
            "extra",
            "additional",
            "surplus",
            "excess",
            "excessive",
            "superfluous",
            "spare",
            "another",
            "duplicate",
            "many",
        ],
    ),
    Group {
        role: Role::Defect,
        words: &[
            "wrong",
            "incorrect",
            "incorrectly",
            "different",
            "replaced",
            "substituted",
            "swapped",
            "mismatched",
            "unexpected",
        ],
        when_negated: &["correct", "match", "expected", "same"],
    },
    group(
        Role::Defect,
        &[
            "misplaced",
            "displaced",
            "mispositioned",
            "misaligned",
            "shifted",
            "moved",
            "offset",
            "relocated",
        ],
    ),
    Group {
        role: Role::Defect,
        words: &[
            "mismatch",
            "mismatched",
            "differ",
            "different",
            "inconsistent",
            "wrong",
            "incorrect",
            "unmatched",
        ],
        when_negated: &["match", "correspond", "agree", "fit", "same"],
    },
    Group {
        role: Role::Defect,
        words: &["low", "under", "below", "insufficient"],
        when_negated: &["enough", "full", "sufficient"],
    },
    group(
        Role::Defect,
        &[
            "broken",
            "break",
            "cracked",
            "crack",
            "fractured",
            "fracture",
            "snapped",
            "shattered",
            "split",
            "damaged",
            "chipped",
        ],
    ),
    group(
        Role::Defect,
        &[
            "bent", "bend", "crooked", "deformed", "twisted", "warped", "kinked", "buckled",
        ],
    ),
    group(
        Role::Defect,
        &[
            "torn",
            "tear",
            "ripped",
            "rip",
            "ruptured",
            "rupture",
            "hole",
            "punctured",
            "slit",
            "gash",
        ],
    ),
    group(
        Role::Defect,
        &["cut", "severed", "split", "snipped", "sliced"],
    ),
    group(
        Role::Defect,
        &[
            "scratch",
            "scratched",
            "scrape",
            "scraped",
            "scuff",
            "scuffed",
            "abrasion",
            "graze",
        ],
    ),
    group(
        Role::Defect,
        &[
            "contamination",
            "contaminated",
            "contaminate",
            "contaminant",
            "stain",
            "stained",
            "dirt",
            "dirty",
            "soiled",
            "spot",
            "smudge",
            "blot",
            "particle",
            "debris",
            "foreign",
            "speck",
            "residue",
            "grime",
            "dust",
            "smear",
            "blemish",
        ],
    ),
    group(Role::Thing, &["pin", "pushpin", "thumbtack", "tack"]),
    group(
        Role::Thing,
        &[
            "fruit",
            "mandarin",
            "tangerine",
            "clementine",
            "orange",
            "peach",
            "apple",
            "nectarine",
        ],
    ),
    group(Role::Thing, &["chip", "banana", "slice", "crisp"]),
    group(
        Role::Thing,
        &[
            "part",
            "screw",
            "nut",
            "washer",
            "bolt",
            "component",
            "piece",
            "item",
            "fastener",
        ],
    ),
    group(Role::Thing, &["cable", "wire", "cord"]),
    group(Role::Thing, &["connector", "terminal", "plug"]),
    group(Role::Thing, &["label", "sticker", "tag"]),
    group(
        Role::Thing,
        &[
            "colour", "color", "hue", "shade", "tint", "yellow", "blue", "red", "green", "orange",
            "black", "white", "purple", "pink", "brown",
        ],
    ),
    group(Role::Thing, &["fill", "filled", "level", "full"]),
    group(Role::Thing, &["juice", "liquid"]),
    group(
        Role::Thing,
        &["divider", "wall", "partition", "separator", "barrier"],
    ),
    group(
        Role::Thing,
        &["bag", "pouch", "packet", "sack", "package", "wrapper"],
    ),
    group(Role::Thing, &["cap", "lid", "closure"]),
];

/// Other phrasings of known defect names (mostly the generator's wording), each judged like a
/// name of its own.
pub const ALTERNATIVES: &[(&str, &[&str])] = &[
    ("low fill", &["underfill", "juice low"]),
    ("extra pin", &["two pin instead"]),
    ("extra fruit", &["third fruit"]),
    ("wrong part", &["long part"]),
    ("label mismatch", &["label show hold"]),
    (
        "wrong cable colour",
        &["cable colour need", "cable colour instead"],
    ),
    (
        "misplaced chips",
        &["chip instead", "chip wrong place", "chip wrong compartment"],
    ),
    (
        "misplaced label",
        &["label instead", "label wrong place", "label wrong position"],
    ),
];

/// Words a defect's name may hold that name nothing in particular.
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "at",
    "to",
    "from",
    "for",
    "with",
    "by",
    "into",
    "onto",
    "and",
    "or",
    "nor",
    "but",
    "its",
    "it",
    "this",
    "that",
    "these",
    "those",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "has",
    "have",
    "had",
    "some",
    "any",
    "very",
    "there",
    "their",
    "defect",
    "defective",
    "anomaly",
    "anomalous",
    "abnormal",
    "abnormality",
    "logical",
    "structural",
    "issue",
    "problem",
    "type",
    "kind",
    "sample",
    "image",
    "product",
    "object",
];

/// A group with its words normalised.
pub(super) struct Prepared {
    pub(super) role: Role,
    pub(super) words: HashSet<String>,
    pub(super) when_negated: HashSet<String>,
}

pub(super) struct Tables {
    pub(super) groups: Vec<Prepared>,
    pub(super) stop: HashSet<String>,
    /// (the name's content words, each alternative's content words)
    pub(super) alternatives: Vec<(Vec<String>, Vec<Vec<String>>)>,
}

fn norm_set(words: &[&str]) -> HashSet<String> {
    words
        .iter()
        .flat_map(|w| sentences(w).into_iter().flatten().map(|w| w.norm))
        .collect()
}

pub(super) fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let stop = norm_set(STOP_WORDS);
        let content = |name: &str| -> Vec<String> {
            sentences(name)
                .into_iter()
                .flatten()
                .map(|w| w.norm)
                .filter(|w| !stop.contains(w))
                .collect()
        };
        let alternatives = ALTERNATIVES
            .iter()
            .map(|(name, alts)| (content(name), alts.iter().map(|a| content(a)).collect()))
            .collect();
        let groups = GROUPS
            .iter()
            .map(|g| Prepared {
                role: g.role,
                words: norm_set(g.words),
                when_negated: norm_set(g.when_negated),
            })
            .collect();
        Tables {
            groups,
            stop,
            alternatives,
        }
    })
}
