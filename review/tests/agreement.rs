//! The agreement statistics against the reference packages (tests/fixtures/agreement/
//! make_fixtures.py: scikit-learn's cohen_kappa_score, the krippendorff package's alpha at three
//! levels, scipy's spearmanr and kendalltau): within 1e-9 (relative above 1), and None exactly
//! where the package gives nan.

use std::collections::BTreeMap;
use std::path::Path;

use review::agreement::{cohen_kappa, kendall_tau_b, krippendorff_alpha, spearman, Level};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    versions: BTreeMap<String, String>,
    cohen_kappa: Vec<KappaCase>,
    krippendorff_alpha: Vec<AlphaCase>,
    correlation: Vec<CorrelationCase>,
}

#[derive(Deserialize)]
struct KappaCase {
    name: String,
    a: Vec<String>,
    b: Vec<String>,
    kappa: Option<f64>,
}

#[derive(Deserialize)]
struct AlphaCase {
    name: String,
    data: Vec<Vec<Option<f64>>>,
    /// Level name → α (null where undefined).
    alpha: BTreeMap<String, Option<f64>>,
}

#[derive(Deserialize)]
struct CorrelationCase {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    spearman: Option<f64>,
    kendall_tau_b: Option<f64>,
}

fn reference() -> Reference {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agreement/reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Records a mismatch between our value and the package's.
fn compare(failures: &mut Vec<String>, what: String, got: Option<f64>, want: Option<f64>) {
    let ok = match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        _ => false,
    };
    if !ok {
        failures.push(format!("{what}: got {got:?}, reference {want:?}"));
    }
}

#[test]
fn matches_the_reference_packages() {
    let r = reference();
    for package in ["scikit-learn", "scipy", "krippendorff", "numpy"] {
        assert!(
            r.versions.contains_key(package),
            "reference.json records no {package} version"
        );
    }
    assert!(
        r.cohen_kappa.len() >= 15 && r.krippendorff_alpha.len() >= 20 && r.correlation.len() >= 20
    );
    let mut failures = Vec::new();
    let mut checked = 0;

    for c in &r.cohen_kappa {
        let got = cohen_kappa(&c.a, &c.b).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        compare(&mut failures, format!("kappa {}", c.name), got, c.kappa);
        checked += 1;
    }
    for c in &r.krippendorff_alpha {
        for (level_name, want) in &c.alpha {
            let level = match level_name.as_str() {
                "nominal" => Level::Nominal,
                "ordinal" => Level::Ordinal,
                "interval" => Level::Interval,
                other => panic!("{}: unknown level {other}", c.name),
            };
            let got =
                krippendorff_alpha(&c.data, level).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            compare(
                &mut failures,
                format!("alpha {} {level_name}", c.name),
                got,
                *want,
            );
            checked += 1;
        }
    }
    for c in &r.correlation {
        let rho = spearman(&c.x, &c.y).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let tau = kendall_tau_b(&c.x, &c.y).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        for got in [rho, tau].into_iter().flatten() {
            assert_eq!(got.n, c.x.len(), "{}", c.name);
        }
        compare(
            &mut failures,
            format!("spearman {}", c.name),
            rho.map(|c| c.coefficient),
            c.spearman,
        );
        compare(
            &mut failures,
            format!("kendall {}", c.name),
            tau.map(|c| c.coefficient),
            c.kendall_tau_b,
        );
        checked += 2;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
