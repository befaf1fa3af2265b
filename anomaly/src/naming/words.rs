//! Words of a text as the checks read them: sentences, normal forms, negation.

/// One word of a sentence: as written (lower-cased) and its normal form.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Word {
    pub(super) raw: String,
    pub(super) norm: String,
}

/// The sentences of a text, as words.
pub(super) fn sentences(text: &str) -> Vec<Vec<Word>> {
    let lower = text
        .to_lowercase()
        .replace("n't", " not")
        .replace("n\u{2019}t", " not");
    let mut out: Vec<Vec<Word>> = vec![Vec::new()];
    let mut word = String::new();
    for ch in lower.chars() {
        if ch.is_alphanumeric() {
            word.push(ch);
            continue;
        }
        flush(&mut word, &mut out);
        if matches!(
            ch,
            '.' | '!' | '?' | ';' | '\n' | '\r' | '。' | '！' | '？' | '；'
        ) {
            out.push(Vec::new());
        }
    }
    flush(&mut word, &mut out);
    out.retain(|s| !s.is_empty());
    out
}

/// Ends the word being read, if any, as the last word of the last sentence.
fn flush(word: &mut String, out: &mut [Vec<Word>]) {
    if !word.is_empty() {
        let raw = std::mem::take(word);
        if let Some(s) = out.last_mut() {
            s.push(Word {
                norm: normalise(&raw),
                raw,
            });
        }
    }
}

/// British spellings (as word beginnings) and their American forms; longer ones first where
/// one begins another.
const AMERICAN: [(&str, &str); 11] = [
    ("discolour", "discolor"),
    ("colour", "color"),
    ("centred", "centered"),
    ("centring", "centering"),
    ("centre", "center"),
    ("grey", "gray"),
    ("mould", "mold"),
    ("fibre", "fiber"),
    ("metre", "meter"),
    ("labell", "label"),
    ("aluminium", "aluminum"),
];

/// Irregular forms and their base.
const IRREGULAR: [(&str, &str); 12] = [
    ("torn", "tear"),
    ("tore", "tear"),
    ("broken", "break"),
    ("broke", "break"),
    ("bent", "bend"),
    ("worn", "wear"),
    ("found", "find"),
    ("stuck", "stick"),
    ("fallen", "fall"),
    ("fell", "fall"),
    ("shown", "show"),
    ("held", "hold"),
];

/// The normal form of one word (see the module documentation): lower-cased, American
/// spelling, irregular forms to their base, plural and verb endings and a final -e removed.
pub fn normalise(word: &str) -> String {
    let lower = word.to_lowercase();
    let american = AMERICAN
        .iter()
        .find_map(|(gb, us)| lower.strip_prefix(gb).map(|rest| format!("{us}{rest}")))
        .unwrap_or(lower);
    if let Some((_, base)) = IRREGULAR.iter().find(|(w, _)| *w == american) {
        return base.to_string();
    }
    stem(&american)
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The light stemmer. Suffixes are ASCII, so every cut falls on a character boundary.
fn stem(w: &str) -> String {
    let n = chars(w);
    let plural: String = if let Some(b) = w.strip_suffix("ies").filter(|_| n > 4) {
        format!("{b}y")
    } else if let Some(b) = w.strip_suffix("sses") {
        format!("{b}ss")
    } else if let Some(b) = w
        .strip_suffix("es")
        .filter(|b| n > 4 && ["s", "x", "z", "ch", "sh"].iter().any(|e| b.ends_with(e)))
    {
        b.to_string()
    } else if let Some(b) = w
        .strip_suffix('s')
        .filter(|_| n > 3 && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is"))
    {
        b.to_string()
    } else {
        w.to_string()
    };
    let n = chars(&plural);
    let mut s = if let Some(b) = plural.strip_suffix("ied").filter(|_| n > 4) {
        format!("{b}y")
    } else if plural.ends_with("eed") {
        // need, speed, exceed: not a past tense.
        plural
    } else if let Some(b) = plural.strip_suffix("ed").filter(|b| chars(b) >= 3) {
        undouble(b)
    } else if let Some(b) = plural.strip_suffix("ing").filter(|b| chars(b) >= 3) {
        undouble(b)
    } else {
        plural
    };
    if chars(&s) > 3 && s.ends_with('e') {
        s.pop();
    }
    s
}

/// "ripp" → "rip", "cutt" → "cut"; "fill", "miss" and "buzz" stay.
fn undouble(b: &str) -> String {
    let mut it = b.chars().rev();
    match (it.next(), it.next()) {
        (Some(a), Some(c)) if a == c && a.is_ascii_alphabetic() && !"aeiouylsz".contains(a) => {
            let mut s = b.to_string();
            s.pop();
            s
        }
        _ => b.to_string(),
    }
}

/// Words that negate the word after them, up to three words on.
const NEGATORS: [&str; 10] = [
    "no", "not", "never", "without", "nothing", "none", "neither", "nor", "free", "cannot",
];

/// Whether the word at `i` is negated: a negator among the three words before it, or a
/// negated word before "and"/"or"/"nor" just before it ("free of dirt and stains").
pub(super) fn negated(s: &[Word], i: usize) -> bool {
    s[i.saturating_sub(3)..i]
        .iter()
        .any(|w| NEGATORS.contains(&w.raw.as_str()))
        || (i >= 2 && ["and", "or", "nor"].contains(&s[i - 1].raw.as_str()) && negated(s, i - 2))
}
