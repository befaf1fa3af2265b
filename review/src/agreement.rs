//! How far reviewers agree with each other, and with the model: Cohen's κ (two raters, categories),
//! Krippendorff's α (any number of raters, missing ratings, nominal, ordinal or interval
//! values), and Spearman's ρ and Kendall's τ-b (rank correlation of scores). Each follows the
//! implementation a reader would check it against (scikit-learn, the `krippendorff` package,
//! scipy; tests/fixtures/agreement/ holds their results) and is None exactly where that one
//! gives nan, so an undefined statistic is never reported as a number.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::Hash;

use serde::Serialize;

/// Input that no statistic can be computed from (as opposed to an undefined statistic, None).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AgreementError {
    #[error("the two sequences pair item by item but have lengths {left} and {right}")]
    LengthsDiffer { left: usize, right: usize },
    #[error(
        "rater {rater} has values for {len} units and rater 0 for {expected}; \
         every rater needs one entry (None if not rated) per unit"
    )]
    RowLengthsDiffer {
        rater: usize,
        len: usize,
        expected: usize,
    },
    #[error("{side}[{index}] is not a number")]
    NotANumber { side: &'static str, index: usize },
    #[error("rater {rater}'s value for unit {unit} is not a number (None means not rated)")]
    RatingNotANumber { rater: usize, unit: usize },
    #[error("rater {rater}'s value for unit {unit} is infinite; interval α needs finite values")]
    RatingInfinite { rater: usize, unit: usize },
}

/// Cohen's κ of two raters labelling the same items: 1 − observed / chance disagreement, as
/// scikit-learn's `cohen_kappa_score` (unweighted). None for no items, or where chance
/// agreement is certain (both raters used one and the same label throughout).
pub fn cohen_kappa<T: Eq + Hash + Clone>(a: &[T], b: &[T]) -> Result<Option<f64>, AgreementError> {
    same_length(a.len(), b.len())?;
    let mut index: HashMap<&T, usize> = HashMap::new();
    // Per label: how often rater a and rater b used it.
    let mut counts: Vec<(u128, u128)> = Vec::new();
    let mut agreed: u128 = 0;
    for (x, y) in a.iter().zip(b) {
        let i = label_index(&mut index, &mut counts, x);
        let j = label_index(&mut index, &mut counts, y);
        counts[i].0 += 1;
        counts[j].1 += 1;
        agreed += (x == y) as u128;
    }
    // κ = (p_o − p_e) / (1 − p_e), both sides times n²: (n·agreed − chance) / (n² − chance).
    // Integers, so the undefined case is an exact zero; u128 holds n² for any slice length.
    let n = a.len() as u128;
    let chance: u128 = counts.iter().map(|(ca, cb)| ca * cb).sum();
    let observed = n * agreed;
    let denominator = n * n - chance;
    if denominator == 0 {
        return Ok(None);
    }
    let numerator = if observed >= chance {
        (observed - chance) as f64
    } else {
        -((chance - observed) as f64)
    };
    Ok(Some(numerator / denominator as f64))
}

fn label_index<'a, T: Eq + Hash>(
    index: &mut HashMap<&'a T, usize>,
    counts: &mut Vec<(u128, u128)>,
    label: &'a T,
) -> usize {
    *index.entry(label).or_insert_with(|| {
        counts.push((0, 0));
        counts.len() - 1
    })
}

/// How Krippendorff's α measures the distance between two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Categories (codes compared exactly): equal or not.
    Nominal,
    /// Ranks: the distance grows with how many values lie between the two.
    Ordinal,
    /// Numbers: squared difference.
    Interval,
}

/// Krippendorff's α of `data[rater][unit]` (None = not rated), from the coincidence matrix as
/// the `krippendorff` package computes it: 1 − observed / expected disagreement over the
/// pairable values (those of units with at least two ratings). None where it is undefined:
/// fewer than two distinct pairable values (no data, one rater, everyone gave one value).
pub fn krippendorff_alpha(
    data: &[Vec<Option<f64>>],
    level: Level,
) -> Result<Option<f64>, AgreementError> {
    let units = data.first().map_or(0, Vec::len);
    for (rater, row) in data.iter().enumerate() {
        if row.len() != units {
            return Err(AgreementError::RowLengthsDiffer {
                rater,
                len: row.len(),
                expected: units,
            });
        }
        for (unit, v) in row.iter().enumerate() {
            match v {
                Some(v) if v.is_nan() => {
                    return Err(AgreementError::RatingNotANumber { rater, unit })
                }
                Some(v) if v.is_infinite() && level == Level::Interval => {
                    return Err(AgreementError::RatingInfinite { rater, unit })
                }
                _ => {}
            }
        }
    }
    // Each pairable unit's values, sorted; a unit rated once pairs with nothing.
    let mut pairable: Vec<Vec<f64>> = Vec::new();
    for unit in 0..units {
        let mut values: Vec<f64> = data.iter().filter_map(|row| row[unit]).map(key).collect();
        if values.len() >= 2 {
            values.sort_by(f64::total_cmp);
            pairable.push(values);
        }
    }
    let mut all: Vec<f64> = pairable.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let distinct = runs(&all);
    if distinct.len() < 2 {
        return Ok(None);
    }
    let n = all.len() as f64;
    let (observed, expected) = match level {
        Level::Nominal => {
            // Disagreeing ordered pairs: m² − Σ (count of each value)², within a unit (each
            // weighted 1/(m − 1)) and over all pairable values (weighted 1/(n − 1)).
            let observed: f64 = pairable
                .iter()
                .map(|u| {
                    let m = u.len() as f64;
                    (m * m - sum_of_squared_counts(&runs(u))) / (m - 1.0)
                })
                .sum();
            (
                observed,
                (n * n - sum_of_squared_counts(&distinct)) / (n - 1.0),
            )
        }
        Level::Ordinal | Level::Interval => {
            let position = positions(&distinct, level);
            let at = |v: f64| {
                distinct
                    .binary_search_by(|(d, _)| d.total_cmp(&v))
                    .map_or(0.0, |i| position[i])
            };
            // Σ over ordered pairs of (p_i − p_j)² = 2m Σ (p_i − mean)²: O(m), not O(m²).
            let observed: f64 = pairable
                .iter()
                .map(|u| {
                    let p: Vec<f64> = u.iter().map(|&v| at(v)).collect();
                    let m = p.len() as f64;
                    let mean = p.iter().sum::<f64>() / m;
                    2.0 * m * p.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0)
                })
                .sum();
            let weighted = || distinct.iter().map(|(_, c)| *c as f64).zip(&position);
            let mean = weighted().map(|(c, p)| c * p).sum::<f64>() / n;
            let spread: f64 = weighted().map(|(c, p)| c * (p - mean).powi(2)).sum();
            (observed, 2.0 * n * spread / (n - 1.0))
        }
    };
    let alpha = 1.0 - observed / expected;
    Ok((expected > 0.0 && alpha.is_finite()).then_some(alpha))
}

/// Where each distinct value sits on the scale that α's distance is the squared difference
/// of. Ordinal: Σ n_g over g from c to k, minus (n_c + n_k)/2, is the difference of the
/// midpoints "values below c plus half of c's own". Interval: the value, shifted by the
/// minimum and divided by the range so that squares cannot overflow (α is unchanged by both).
fn positions(distinct: &[(f64, usize)], level: Level) -> Vec<f64> {
    match level {
        Level::Ordinal => {
            let mut below = 0.0;
            distinct
                .iter()
                .map(|(_, c)| {
                    let c = *c as f64;
                    let midpoint = below + c / 2.0;
                    below += c;
                    midpoint
                })
                .collect()
        }
        // Nominal distances need no positions; it never asks.
        Level::Nominal | Level::Interval => {
            let (lo, hi) = match (distinct.first(), distinct.last()) {
                (Some(lo), Some(hi)) => (lo.0, hi.0),
                _ => return Vec::new(),
            };
            // A range past f64::MAX is taken in halves.
            let halve = if (hi - lo).is_finite() { 1.0 } else { 0.5 };
            let range = hi * halve - lo * halve;
            distinct
                .iter()
                .map(|(v, _)| (v * halve - lo * halve) / range)
                .collect()
        }
    }
}

/// Runs of equal values in a sorted slice: (value, how many).
fn runs(sorted: &[f64]) -> Vec<(f64, usize)> {
    let mut out: Vec<(f64, usize)> = Vec::new();
    for &v in sorted {
        match out.last_mut() {
            Some((last, count)) if *last == v => *count += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

fn sum_of_squared_counts(runs: &[(f64, usize)]) -> f64 {
    runs.iter().map(|(_, c)| (*c as f64).powi(2)).sum()
}

/// -0.0 and 0.0 are one value (as numpy compares them), so sorting must not split them.
fn key(v: f64) -> f64 {
    v + 0.0
}

/// A rank correlation and the number of pairs it was computed from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Correlation {
    pub coefficient: f64,
    pub n: usize,
}

/// Spearman's ρ: Pearson's correlation of the ranks, ties given their average rank, as
/// scipy.stats.spearmanr. None for fewer than two pairs or a constant side.
pub fn spearman(x: &[f64], y: &[f64]) -> Result<Option<Correlation>, AgreementError> {
    let n = pairs(x, y)?;
    if n < 2 || constant(x) || constant(y) {
        return Ok(None);
    }
    let (rx, ry) = (average_ranks(x), average_ranks(y));
    // Average ranks always sum to n(n + 1)/2, so their mean is exact.
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        let (da, db) = (a - mean, b - mean);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    let rho = sxy / (sxx.sqrt() * syy.sqrt());
    Ok(rho.is_finite().then(|| Correlation {
        coefficient: rho.clamp(-1.0, 1.0),
        n,
    }))
}

/// Kendall's τ-b, which corrects for ties on either side, as scipy.stats.kendalltau's default.
/// None for fewer than two pairs or a constant side. O(n log n): Knight's algorithm, sorting by
/// (x, y) and counting discordant pairs as the inversions a merge sort of y undoes.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<Option<Correlation>, AgreementError> {
    let n = pairs(x, y)?;
    if n < 2 {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| {
        key(x[i])
            .total_cmp(&key(x[j]))
            .then_with(|| key(y[i]).total_cmp(&key(y[j])))
    });
    let xs: Vec<f64> = order.iter().map(|&i| key(x[i])).collect();
    let mut ys: Vec<f64> = order.iter().map(|&i| key(y[i])).collect();
    let x_ties = tied_pairs(&xs, |i| xs[i] == xs[i - 1]);
    let joint_ties = tied_pairs(&xs, |i| xs[i] == xs[i - 1] && ys[i] == ys[i - 1]);
    let discordant = sort_counting_inversions(&mut ys);
    let y_ties = tied_pairs(&ys, |i| ys[i] == ys[i - 1]);
    let total = pair_count(n as u128);
    if x_ties == total || y_ties == total {
        return Ok(None);
    }
    // total = concordant + discordant + (x_ties − joint) + (y_ties − joint) + joint.
    let plus = total + joint_ties;
    let minus = x_ties + y_ties + 2 * discordant;
    let numerator = if plus >= minus {
        (plus - minus) as f64
    } else {
        -((minus - plus) as f64)
    };
    let tau = numerator / ((total - x_ties) as f64).sqrt() / ((total - y_ties) as f64).sqrt();
    Ok(tau.is_finite().then(|| Correlation {
        coefficient: tau.clamp(-1.0, 1.0),
        n,
    }))
}

/// The common length of two paired samples, which must hold numbers.
fn pairs(x: &[f64], y: &[f64]) -> Result<usize, AgreementError> {
    same_length(x.len(), y.len())?;
    for (side, values) in [("x", x), ("y", y)] {
        if let Some(index) = values.iter().position(|v| v.is_nan()) {
            return Err(AgreementError::NotANumber { side, index });
        }
    }
    Ok(x.len())
}

fn same_length(left: usize, right: usize) -> Result<(), AgreementError> {
    if left == right {
        Ok(())
    } else {
        Err(AgreementError::LengthsDiffer { left, right })
    }
}

fn constant(v: &[f64]) -> bool {
    v.first().is_some_and(|first| v.iter().all(|x| x == first))
}

/// 1-based ranks, tied values sharing the mean of the ranks they span.
fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| key(v[i]).total_cmp(&key(v[j])));
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Pairs within runs of adjacent items that `same(i)` (item i equals item i − 1) links.
fn tied_pairs(v: &[f64], same: impl Fn(usize) -> bool) -> u128 {
    let mut pairs = 0;
    let mut run: u128 = 1;
    for i in 1..v.len() {
        if same(i) {
            run += 1;
        } else {
            pairs += pair_count(run);
            run = 1;
        }
    }
    pairs + pair_count(run)
}

fn pair_count(n: u128) -> u128 {
    n * n.saturating_sub(1) / 2
}

/// Sorts `v` (a stable bottom-up merge sort) and returns how many pairs i < j had
/// v[i] > v[j]: equal values are not inversions, as ties are not discordant.
fn sort_counting_inversions(v: &mut Vec<f64>) -> u128 {
    let n = v.len();
    let mut from = std::mem::take(v);
    let mut to = from.clone();
    let mut inversions: u128 = 0;
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j) = (start, mid);
            for slot in &mut to[start..end] {
                let take_right =
                    j < end && (i == mid || from[j].total_cmp(&from[i]) == Ordering::Less);
                if take_right {
                    // Everything left in the left half is greater than from[j].
                    inversions += (mid - i) as u128;
                    *slot = from[j];
                    j += 1;
                } else {
                    *slot = from[i];
                    i += 1;
                }
            }
            start = end;
        }
        std::mem::swap(&mut from, &mut to);
        width *= 2;
    }
    *v = from;
    inversions
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: Option<f64> = None;

    fn close(got: Option<f64>, want: f64) {
        let got = got.expect("a defined statistic");
        assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
    }

    #[test]
    fn kappa_by_hand() {
        // Wikipedia's example: of 50 proposals, both say yes to 20 and no to 15; a says yes
        // and b no to 5, a no and b yes to 10. p_o = 35/50 = 0.7; a says yes 25 times, b 30,
        // so p_e = 0.5·0.6 + 0.5·0.4 = 0.5, and κ = (0.7 − 0.5) / (1 − 0.5) = 0.4.
        let a: Vec<&str> = [["yes"; 25], ["no"; 25]].concat();
        let b: Vec<&str> = [
            vec!["yes"; 20],
            vec!["no"; 5],
            vec!["yes"; 10],
            vec!["no"; 15],
        ]
        .concat();
        close(cohen_kappa(&a, &b).unwrap(), 0.4);
        // Swapped raters, same κ; full agreement 1; a systematic swap −1.
        close(cohen_kappa(&b, &a).unwrap(), 0.4);
        close(cohen_kappa(&a, &a).unwrap(), 1.0);
        close(cohen_kappa(&[0, 1, 0, 1], &[1, 0, 1, 0]).unwrap(), -1.0);
    }

    #[test]
    fn kappa_undefined() {
        let empty: [u8; 0] = [];
        assert_eq!(cohen_kappa(&empty, &empty), Ok(None));
        assert_eq!(cohen_kappa(&["good"; 4], &["good"; 4]), Ok(None));
        // Both constant but different: chance agreement 0, observed 0, κ = 0 (defined).
        close(cohen_kappa(&["a"; 3], &["b"; 3]).unwrap(), 0.0);
    }

    #[test]
    fn alpha_by_hand() {
        // Krippendorff (2011), "Computing Krippendorff's alpha-reliability", p. 8.
        let data = vec![
            vec![
                Some(1.),
                Some(2.),
                Some(3.),
                Some(3.),
                Some(2.),
                Some(1.),
                Some(4.),
                Some(1.),
                Some(2.),
                N,
                N,
                N,
            ],
            vec![
                Some(1.),
                Some(2.),
                Some(3.),
                Some(3.),
                Some(2.),
                Some(2.),
                Some(4.),
                Some(1.),
                Some(2.),
                Some(5.),
                N,
                Some(3.),
            ],
            vec![
                N,
                Some(3.),
                Some(3.),
                Some(3.),
                Some(2.),
                Some(3.),
                Some(4.),
                Some(2.),
                Some(2.),
                Some(5.),
                Some(1.),
                N,
            ],
            vec![
                Some(1.),
                Some(2.),
                Some(3.),
                Some(3.),
                Some(2.),
                Some(4.),
                Some(4.),
                Some(1.),
                Some(2.),
                Some(5.),
                Some(1.),
                N,
            ],
        ];
        // Unit 12 has one value and pairs with nothing; the other 11 hold n = 40 pairable
        // values: 1 ×9, 2 ×13, 3 ×10, 4 ×5, 5 ×3. Only three units disagree, each rated by
        // m = 4; their disagreeing ordered pairs m² − Σ n_uc², weighted 1/(m − 1):
        //   unit 2 (2,2,3,2): (16 − 9 − 1)/3 = 2; unit 6 (1,2,3,4): (16 − 4)/3 = 4;
        //   unit 8 (1,1,2,1): (16 − 9 − 1)/3 = 2.             Observed: 8.
        // Expected: (40² − (81 + 169 + 100 + 25 + 9)) / 39 = 1216/39.
        // α = 1 − 8 · 39 / 1216 = 0.743421…
        close(
            krippendorff_alpha(&data, Level::Nominal).unwrap(),
            1.0 - 8.0 * 39.0 / 1216.0,
        );
        close(
            krippendorff_alpha(&data, Level::Nominal).unwrap(),
            0.743421052631579,
        );
        // The paper's other levels (3 decimals there; the package's digits here).
        close(
            krippendorff_alpha(&data, Level::Ordinal).unwrap(),
            0.8153875037548814,
        );
        close(
            krippendorff_alpha(&data, Level::Interval).unwrap(),
            0.8491071428571428,
        );
    }

    #[test]
    fn alpha_undefined() {
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            assert_eq!(krippendorff_alpha(&[], level), Ok(None));
            assert_eq!(krippendorff_alpha(&[vec![], vec![]], level), Ok(None));
            // One rater: nothing pairs.
            assert_eq!(
                krippendorff_alpha(&[vec![Some(1.), Some(2.)]], level),
                Ok(None)
            );
            // Everyone gave the same value (the 5 is a single rating and does not pair).
            let same = vec![
                vec![Some(2.), Some(2.), Some(5.)],
                vec![Some(2.), Some(2.), N],
            ];
            assert_eq!(krippendorff_alpha(&same, level), Ok(None));
        }
    }

    #[test]
    fn interval_alpha_is_shift_and_scale_free() {
        let base = vec![
            vec![Some(1.), Some(2.), Some(3.), N],
            vec![Some(1.), Some(3.), Some(3.), Some(4.)],
        ];
        let want = krippendorff_alpha(&base, Level::Interval).unwrap().unwrap();
        // Values (v − 2.5)·scale + shift; the last spans more than f64::MAX (±1.5e308).
        for (scale, shift) in [
            (1e300, 0.0),
            (1e-300, 0.0),
            (1.0, 1e9),
            (-1e307, 1e308),
            (1e308, 0.0),
        ] {
            let moved: Vec<Vec<Option<f64>>> = base
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| v.map(|v| (v - 2.5) * scale + shift))
                        .collect()
                })
                .collect();
            let got = krippendorff_alpha(&moved, Level::Interval)
                .unwrap()
                .unwrap();
            assert!(
                (got - want).abs() < 1e-12,
                "scale {scale} shift {shift}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn alpha_errors() {
        let ragged = vec![vec![Some(1.), Some(2.)], vec![Some(1.)]];
        let err = krippendorff_alpha(&ragged, Level::Nominal).unwrap_err();
        assert_eq!(
            err,
            AgreementError::RowLengthsDiffer {
                rater: 1,
                len: 1,
                expected: 2
            }
        );
        assert!(err
            .to_string()
            .contains("rater 1 has values for 1 units and rater 0 for 2"));
        let nan = vec![vec![Some(1.), N], vec![Some(1.), Some(f64::NAN)]];
        let err = krippendorff_alpha(&nan, Level::Ordinal).unwrap_err();
        assert_eq!(err, AgreementError::RatingNotANumber { rater: 1, unit: 1 });
        assert!(err
            .to_string()
            .contains("rater 1's value for unit 1 is not a number"));
        // Infinity is a fine category or rank, but no interval.
        let inf = vec![
            vec![Some(1.), Some(f64::INFINITY)],
            vec![Some(2.), Some(f64::INFINITY)],
        ];
        assert!(krippendorff_alpha(&inf, Level::Nominal).unwrap().is_some());
        assert!(krippendorff_alpha(&inf, Level::Ordinal).unwrap().is_some());
        assert_eq!(
            krippendorff_alpha(&inf, Level::Interval),
            Err(AgreementError::RatingInfinite { rater: 0, unit: 1 })
        );
    }

    #[test]
    fn length_and_nan_errors() {
        let err = cohen_kappa(&[1, 2, 3], &[1, 2]).unwrap_err();
        assert_eq!(err, AgreementError::LengthsDiffer { left: 3, right: 2 });
        assert!(err.to_string().contains("lengths 3 and 2"));
        assert_eq!(
            spearman(&[1.0], &[1.0, 2.0]),
            Err(AgreementError::LengthsDiffer { left: 1, right: 2 })
        );
        assert_eq!(
            kendall_tau_b(&[1.0, 2.0, 3.0], &[1.0, f64::NAN, 3.0]),
            Err(AgreementError::NotANumber {
                side: "y",
                index: 1
            })
        );
        let err = spearman(&[f64::NAN, 1.0], &[1.0, 2.0]).unwrap_err();
        assert_eq!(err.to_string(), "x[0] is not a number");
    }

    #[test]
    fn correlation_by_hand() {
        // Wikipedia's IQ vs hours of TV: Σ d² = 194 over n = 10, ρ = 1 − 6·194 / 990 = −29/165.
        let iq = [106., 100., 86., 101., 99., 103., 97., 113., 112., 110.];
        let tv = [7., 27., 2., 50., 28., 29., 20., 12., 6., 17.];
        let rho = spearman(&iq, &tv).unwrap().unwrap();
        assert_eq!(rho.n, 10);
        close(Some(rho.coefficient), -29.0 / 165.0);
        // Of its 45 pairs 20 are concordant and 25 discordant, no ties: τ = −5/45.
        close(
            kendall_tau_b(&iq, &tv).unwrap().map(|c| c.coefficient),
            -5.0 / 45.0,
        );
        // Infinities rank like any other value.
        let x = [f64::NEG_INFINITY, 0.0, f64::INFINITY];
        close(
            spearman(&x, &[1.0, 2.0, 3.0])
                .unwrap()
                .map(|c| c.coefficient),
            1.0,
        );
        close(
            kendall_tau_b(&x, &[3.0, 2.0, 1.0])
                .unwrap()
                .map(|c| c.coefficient),
            -1.0,
        );
    }

    #[test]
    fn correlation_undefined() {
        for f in [spearman, kendall_tau_b] {
            assert_eq!(f(&[], &[]), Ok(None));
            assert_eq!(f(&[1.0], &[2.0]), Ok(None));
            assert_eq!(f(&[3.0, 3.0, 3.0], &[1.0, 2.0, 3.0]), Ok(None));
            assert_eq!(f(&[1.0, 2.0, 3.0], &[0.0, -0.0, 0.0]), Ok(None));
        }
    }

    #[test]
    fn kendall_matches_the_quadratic_count() {
        // The O(n²) definition on a seeded sample with many ties on both sides.
        // A small LCG (Knuth's MMIX constants): the sample only needs to be fixed.
        let mut state = 7u64;
        let mut below = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let x: Vec<f64> = (0..300).map(|_| below(6) as f64).collect();
        let y: Vec<f64> = (0..300).map(|_| below(4) as f64).collect();
        let (mut s, mut tx, mut ty) = (0i64, 0i64, 0i64);
        let n = x.len() as i64;
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let (dx, dy) = (x[i] - x[j], y[i] - y[j]);
                s += (dx * dy).signum() as i64 * (dx != 0.0 && dy != 0.0) as i64;
                tx += (dx == 0.0) as i64;
                ty += (dy == 0.0) as i64;
            }
        }
        let total = n * (n - 1) / 2;
        let want = s as f64 / (((total - tx) * (total - ty)) as f64).sqrt();
        let got = kendall_tau_b(&x, &y).unwrap().unwrap().coefficient;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }
}
