//! `paired` against reference values computed with SciPy and statsmodels
//! (`fixtures/make_paired_statistics.py` wrote `fixtures/paired_statistics.json` once).

use std::collections::BTreeMap;

use omnireward_shared::Task;
use omnireward_shared::paired::{
    PairedOutcome, compare_paired, compare_paired_overall, holm_adjusted, mcnemar_exact,
    paired_bootstrap_interval,
};
use omnireward_shared::scorecard::BootstrapConfig;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    mcnemar: Vec<McNemarCase>,
    holm: Vec<HolmCase>,
    bootstrap: Vec<BootstrapCase>,
}

#[derive(Deserialize)]
struct McNemarCase {
    b: usize,
    c: usize,
    p: f64,
}

#[derive(Deserialize)]
struct HolmCase {
    p: Vec<f64>,
    adjusted: Vec<f64>,
}

#[derive(Deserialize)]
struct BootstrapCase {
    name: String,
    seed: u64,
    resamples: usize,
    tasks: Vec<String>,
    difference: f64,
    ci95: [f64; 2],
    scipy_ci95: Option<[f64; 2]>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/paired_statistics.json")).expect("fixture parses")
}

/// One character per item: `2 * first_correct + second_correct`.
fn decode(items: &str) -> Vec<PairedOutcome> {
    items
        .bytes()
        .map(|code| {
            let value = code - b'0';
            PairedOutcome {
                first_correct: value & 2 != 0,
                second_correct: value & 1 != 0,
            }
        })
        .collect()
}

#[test]
fn mcnemar_equals_scipy_binomtest() {
    for case in fixture().mcnemar {
        let p = mcnemar_exact(case.b, case.c);
        // Relative tolerance: the smallest reference p-value is about 2e-7.
        let tolerance = 1e-10 * case.p.max(1e-300);
        assert!(
            (p - case.p).abs() <= tolerance.max(1e-13),
            "b = {}, c = {}: {p} against SciPy's {}",
            case.b,
            case.c,
            case.p
        );
    }
}

#[test]
fn holm_equals_statsmodels() {
    for case in fixture().holm {
        let adjusted = holm_adjusted(&case.p);
        for (value, want) in adjusted.iter().zip(&case.adjusted) {
            assert!((value - want).abs() < 1e-12, "{:?}: {adjusted:?}", case.p);
        }
    }
}

#[test]
fn paired_bootstrap_equals_the_replayed_resampling_and_agrees_with_scipy() {
    for case in fixture().bootstrap {
        let config = BootstrapConfig {
            resamples: case.resamples,
            seed: case.seed,
        };
        let tasks: Vec<Vec<PairedOutcome>> = case.tasks.iter().map(|task| decode(task)).collect();
        let comparison = if let [only] = tasks.as_slice() {
            assert_eq!(paired_bootstrap_interval(only, config), case.ci95);
            compare_paired(only, config)
        } else {
            let per_task: BTreeMap<Task, Vec<PairedOutcome>> =
                Task::ALL.into_iter().zip(tasks).collect();
            compare_paired_overall(&per_task, config)
        }
        .expect("shared items");
        assert!(
            (comparison.difference - case.difference).abs() < 1e-12,
            "{}",
            case.name
        );
        for (value, want) in comparison.ci95.iter().zip(case.ci95) {
            assert!(
                (value - want).abs() < 1e-12,
                "{}: {:?}",
                case.name,
                comparison.ci95
            );
        }
        // SciPy resamples with its own generator (20,000 times): within a step or so of 1/n.
        if let Some(scipy) = case.scipy_ci95 {
            for (value, want) in comparison.ci95.iter().zip(scipy) {
                assert!(
                    (value - want).abs() < 0.025,
                    "{}: {:?} against SciPy's {scipy:?}",
                    case.name,
                    comparison.ci95
                );
            }
        }
    }
}
