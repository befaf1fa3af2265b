//! Location words of an explanation and the region's place, as cells of a 3 × 3 grid.

use std::sync::OnceLock;

use super::words::{negated, normalise, sentences, Word};
use super::LocationMatch;
use crate::dataset::qa::Region;

/// Cells of a 3 × 3 grid over the image (bit 3 · row + column; row 0 is the top).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cells(u16);

impl Cells {
    /// Every cell in one of `rows` and one of `cols` (bit sets of 0, 1, 2).
    fn grid(rows: u8, cols: u8) -> Cells {
        let mut bits = 0u16;
        for r in 0..3 {
            for c in 0..3 {
                if rows >> r & 1 == 1 && cols >> c & 1 == 1 {
                    bits |= 1 << (3 * r + c);
                }
            }
        }
        Cells(bits)
    }

    /// The cell in `row` and `col` (0, 1, 2).
    pub fn cell(row: u8, col: u8) -> Cells {
        Cells::grid(1 << row.min(2), 1 << col.min(2))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, other: Cells) -> Cells {
        Cells(self.0 | other.0)
    }

    pub fn intersects(self, other: Cells) -> bool {
        self.0 & other.0 != 0
    }
}

/// How far (in image widths) a region's centre may lie past a border of thirds and still be
/// in the third on the other side.
pub const THIRD_TOLERANCE: f32 = 1.0 / 12.0;

/// The thirds (bit set) one coordinate of a centre lies in.
fn thirds(v: f32) -> u8 {
    (0..3u8)
        .filter(|&k| {
            let (lo, hi) = (k as f32 / 3.0, (k + 1) as f32 / 3.0);
            v >= lo - THIRD_TOLERANCE && v <= hi + THIRD_TOLERANCE
        })
        .fold(0, |bits, k| bits | 1 << k)
}

/// The cells a region's centre lies in; None when a coordinate is not a number.
pub fn region_cells(r: &Region) -> Option<Cells> {
    if ![r.x, r.y, r.w, r.h].iter().all(|v| v.is_finite()) {
        return None;
    }
    let cx = (r.x + r.w / 2.0).clamp(0.0, 1.0);
    let cy = (r.y + r.h / 2.0).clamp(0.0, 1.0);
    Some(Cells::grid(thirds(cy), thirds(cx)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Top,
    Bottom,
    Left,
    Right,
    Middle,
    Corner,
    /// "upper", "lower": a row, but only beside another place or a part word.
    Upper,
    Lower,
}

const PLACES: [(&str, Place); 22] = [
    ("top", Place::Top),
    ("topmost", Place::Top),
    ("uppermost", Place::Top),
    ("bottom", Place::Bottom),
    ("bottommost", Place::Bottom),
    ("lowermost", Place::Bottom),
    ("left", Place::Left),
    ("leftmost", Place::Left),
    ("lefthand", Place::Left),
    ("right", Place::Right),
    ("rightmost", Place::Right),
    ("righthand", Place::Right),
    ("centre", Place::Middle),
    ("center", Place::Middle),
    ("central", Place::Middle),
    ("centrally", Place::Middle),
    ("middle", Place::Middle),
    ("mid", Place::Middle),
    ("midpoint", Place::Middle),
    ("corner", Place::Corner),
    ("upper", Place::Upper),
    ("lower", Place::Lower),
];

/// Words before a place (within four) that make it where something should be, not where it is.
const ELSEWHERE: [&str; 8] = [
    "instead",
    "rather",
    "should",
    "supposed",
    "expected",
    "normally",
    "template",
    "reference",
];
const ORDINALS: [&str; 11] = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "last",
];
/// Words after a place that make it an image ("the left image").
const IMAGES: [&str; 6] = ["image", "picture", "photo", "photograph", "panel", "frame"];
/// Words after "right" that make it mean correct.
const CORRECT_SENSE: [&str; 12] = [
    "number", "amount", "kind", "type", "colour", "color", "size", "order", "way", "count",
    "shape", "quantity",
];
/// Words after "upper"/"lower" that make them a place.
const PART_WORDS: [&str; 12] = [
    "part", "half", "side", "edge", "area", "region", "section", "portion", "end", "row", "third",
    "rim",
];

fn place_of(w: &Word) -> Option<Place> {
    static NORMS: OnceLock<Vec<(String, Place)>> = OnceLock::new();
    NORMS
        .get_or_init(|| PLACES.iter().map(|(w, p)| (normalise(w), *p)).collect())
        .iter()
        .find(|(n, _)| *n == w.norm)
        .map(|(_, p)| *p)
}

fn is_ordinal(raw: &str) -> bool {
    ORDINALS.contains(&raw)
        || (raw.starts_with(|c: char| c.is_ascii_digit())
            && ["st", "nd", "rd", "th"].iter().any(|e| raw.ends_with(e)))
}

/// Whether the place word at `i` is left out (see the module documentation).
fn skipped(s: &[Word], i: usize, place: Place) -> bool {
    let raw = |k: usize| s.get(k).map(|w| w.raw.as_str()).unwrap_or("");
    let next = raw(i + 1);
    if negated(s, i) || IMAGES.contains(&next) {
        return true;
    }
    if s[i.saturating_sub(4)..i]
        .iter()
        .any(|w| ELSEWHERE.contains(&w.raw.as_str()))
    {
        return true;
    }
    // "the third cell from the left": a count, not a place.
    if let Some(from) = (i.saturating_sub(2)..i).rev().find(|&k| raw(k) == "from") {
        if s[from.saturating_sub(3)..from]
            .iter()
            .any(|w| is_ordinal(&w.raw))
        {
            return true;
        }
    }
    match place {
        Place::Right => CORRECT_SENSE.contains(&next) || raw(i.wrapping_sub(1)) == "all",
        Place::Left => ["nothing", "only", "anything", "been"].contains(&raw(i.wrapping_sub(1))),
        Place::Upper | Place::Lower => next == "than",
        _ => false,
    }
}

/// The cells one phrase of consecutive places covers.
fn phrase_cells(places: &[Place]) -> Cells {
    let (mut rows, mut cols) = (0u8, 0u8);
    let (mut middle, mut corner) = (false, false);
    for p in places {
        match p {
            Place::Top | Place::Upper => rows |= 1,
            Place::Bottom | Place::Lower => rows |= 4,
            Place::Left => cols |= 1,
            Place::Right => cols |= 4,
            Place::Middle => middle = true,
            Place::Corner => corner = true,
        }
    }
    let (rest_rows, rest_cols) = if middle {
        (2, 2)
    } else if corner {
        (5, 5)
    } else {
        (7, 7)
    };
    if rows == 0 {
        rows = rest_rows;
    }
    if cols == 0 {
        cols = rest_cols;
    }
    Cells::grid(rows, cols)
}

/// Every cell the location words of a text cover.
fn claimed(text: &[Vec<Word>]) -> Cells {
    let mut all = Cells::default();
    for s in text {
        let mut phrase: Vec<Place> = Vec::new();
        let mut end = |phrase: &mut Vec<Place>, next: Option<&Word>| {
            let only_comparatives = phrase
                .iter()
                .all(|p| matches!(p, Place::Upper | Place::Lower));
            let part_follows = next.is_some_and(|w| PART_WORDS.contains(&w.raw.as_str()));
            if !phrase.is_empty() && (!only_comparatives || part_follows) {
                all = all.union(phrase_cells(phrase));
            }
            phrase.clear();
        };
        for (i, w) in s.iter().enumerate() {
            match place_of(w) {
                Some(p) if !skipped(s, i, p) => phrase.push(p),
                // "left-hand corner"
                _ if w.raw == "hand" && !phrase.is_empty() => {}
                _ => end(&mut phrase, Some(w)),
            }
        }
        end(&mut phrase, None);
    }
    all
}

/// The cells the location words of `explanation` cover (empty: no location words).
pub fn location_cells(explanation: &str) -> Cells {
    claimed(&sentences(explanation))
}

pub(super) fn location_in(text: &[Vec<Word>], regions: &[Region]) -> Option<LocationMatch> {
    let cells: Vec<Cells> = regions.iter().filter_map(region_cells).collect();
    if cells.is_empty() {
        return None;
    }
    let claim = claimed(text);
    Some(if claim.is_empty() {
        LocationMatch::NoLocationWords
    } else if cells.iter().any(|c| c.intersects(claim)) {
        LocationMatch::Agrees
    } else {
        LocationMatch::Disagrees
    })
}
