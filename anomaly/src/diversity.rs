//! How varied a run's explanations are (the paper observes that fine-tuning narrows them):
//! distinct-n (distinct n-grams over all n-grams of all texts) and self-BLEU (each text's
//! BLEU-4 against all the others as references, averaged; higher means more alike), with
//! lowercase word tokens. BLEU as NLTK's `sentence_bleu` with uniform weights and smoothing
//! method 1 (ε = 0.1 for an n-gram order without matches), the usual self-BLEU set-up.

use std::collections::{HashMap, HashSet};

fn tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

fn ngrams(words: &[String], n: usize) -> Vec<&[String]> {
    if words.len() < n {
        return Vec::new();
    }
    (0..=words.len() - n).map(|i| &words[i..i + n]).collect()
}

/// Distinct n-grams over all n-grams of `texts` (None when there is none).
pub fn distinct_n(texts: &[String], n: usize) -> Option<f64> {
    let mut all = 0usize;
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    for t in texts {
        let w = tokens(t);
        for g in ngrams(&w, n) {
            all += 1;
            seen.insert(g.to_vec());
        }
    }
    (all > 0).then(|| seen.len() as f64 / all as f64)
}

/// BLEU-4 of `hyp` against `refs` (smoothing method 1).
pub fn bleu(hyp: &[String], refs: &[Vec<String>]) -> f64 {
    if hyp.is_empty() {
        return 0.0;
    }
    let mut log_sum = 0.0;
    for n in 1..=4 {
        let counts = count(&ngrams(hyp, n));
        // NLTK divides by at least 1 (a hypothesis shorter than n has precision 0/1 there).
        let total: usize = counts.values().sum::<usize>().max(1);
        let mut max_ref: HashMap<&[String], usize> = HashMap::new();
        for r in refs {
            for (g, c) in count(&ngrams(r, n)) {
                let e = max_ref.entry(g).or_default();
                *e = (*e).max(c);
            }
        }
        let clipped: usize = counts
            .iter()
            .map(|(g, &c)| c.min(max_ref.get(g).copied().unwrap_or(0)))
            .sum();
        if n == 1 && clipped == 0 {
            // NLTK returns 0 outright when not even a word matches.
            return 0.0;
        }
        let p = if clipped == 0 {
            0.1 / total as f64
        } else {
            clipped as f64 / total as f64
        };
        log_sum += 0.25 * p.ln();
    }
    // Brevity penalty against the closest reference length (ties: the shorter).
    let c = hyp.len();
    let r = refs
        .iter()
        .map(Vec::len)
        .min_by_key(|&l| (l.abs_diff(c), l))
        .unwrap_or(c);
    let bp = if c > r {
        1.0
    } else {
        (1.0 - r as f64 / c as f64).exp()
    };
    bp * log_sum.exp()
}

fn count<'a>(grams: &[&'a [String]]) -> HashMap<&'a [String], usize> {
    let mut m = HashMap::new();
    for g in grams {
        *m.entry(*g).or_default() += 1;
    }
    m
}

/// Mean BLEU-4 of each text against all the others (None with fewer than two texts).
pub fn self_bleu(texts: &[String]) -> Option<f64> {
    if texts.len() < 2 {
        return None;
    }
    let toks: Vec<Vec<String>> = texts.iter().map(|t| tokens(t)).collect();
    let total: f64 = (0..toks.len())
        .map(|i| {
            let others: Vec<Vec<String>> = toks
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, t)| t.clone())
                .collect();
            bleu(&toks[i], &others)
        })
        .sum();
    Some(total / toks.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn distinct_by_hand() {
        let texts = s(&["The cap is missing.", "the cap is bent"]);
        // unigrams: the cap is missing the cap is bent → 5 distinct of 8.
        assert_eq!(distinct_n(&texts, 1), Some(5.0 / 8.0));
        // bigrams: the-cap cap-is is-missing the-cap cap-is is-bent → 4 of 6.
        assert_eq!(distinct_n(&texts, 2), Some(4.0 / 6.0));
        assert_eq!(distinct_n(&s(&["one"]), 2), None);
    }

    #[test]
    fn bleu_by_hand() {
        let t = |x: &str| tokens(x);
        // Identical: 1.
        let same = bleu(&t("a b c d e"), &[t("a b c d e")]);
        assert!((same - 1.0).abs() < 1e-12);
        // Hyp "a b c d x" vs ref "a b c d e": p1 4/5, p2 3/4, p3 2/3, p4 1/2, no brevity penalty.
        let got = bleu(&t("a b c d x"), &[t("a b c d e")]);
        let want = (0.8f64 * 0.75 * (2.0 / 3.0) * 0.5).powf(0.25);
        assert!((got - want).abs() < 1e-12, "{got} {want}");
        // No 4-gram match: smoothed p4 = 0.1 / 2; shorter hyp: brevity penalty e^(1 − 6/5).
        let got = bleu(&t("a b c x e"), &[t("a b c y e f")]);
        let want = (1.0 - 6.0f64 / 5.0).exp() * (0.8f64 * 0.5 * (1.0 / 3.0) * 0.05).powf(0.25);
        assert!((got - want).abs() < 1e-12, "{got} {want}");
        // Shorter than 4 words: p3 = p4 = 0.1 / 1 after smoothing.
        assert!((bleu(&t("a b"), &[t("a b")]) - 0.01f64.powf(0.25)).abs() < 1e-12);
        assert_eq!(
            bleu(&t("x y z w"), &[t("a b c d")]),
            0.0,
            "no word in common"
        );
        let sb = self_bleu(&s(&["a b c d e", "a b c d e", "v w x y z"])).unwrap();
        assert!((sb - 2.0 / 3.0).abs() < 1e-12, "{sb}");
        assert_eq!(self_bleu(&s(&["alone"])), None);
    }
}
