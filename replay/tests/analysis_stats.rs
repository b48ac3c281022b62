//! Interval estimates checked against values computed by hand.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc_replay::analysis::stats::*;

#[test]
fn wilson_hand_values() {
    // p = 7/9, z = 1.95996: center 0.69469, half-width 0.24209.
    let (lo, hi) = wilson(7, 9, Z95).unwrap();
    assert!((lo - 0.452_589).abs() < 1e-6, "{lo}");
    assert!((hi - 0.936_775).abs() < 1e-6, "{hi}");
    // The textbook 10 of 100: [0.0552, 0.1744].
    let (lo, hi) = wilson(10, 100, Z95).unwrap();
    assert!((lo - 0.055_229).abs() < 1e-6 && (hi - 0.174_366).abs() < 1e-6);
    // 1 of 1000: [0.000177, 0.005643].
    let (lo, hi) = wilson(1, 1000, Z95).unwrap();
    assert!((lo - 0.000_176_5).abs() < 1e-7 && (hi - 0.005_642_6).abs() < 1e-7);
    assert_eq!(wilson(1, 0, Z95), None);
    assert_eq!(wilson(5, 4, Z95), None);
}

#[test]
fn rule_of_three_when_nothing_or_everything_is_seen() {
    let p = proportion(0, 300).unwrap();
    assert_eq!((p.low, p.high, p.method), (0.0, 0.01, Method::RuleOfThree));
    assert_eq!(p.estimate, 0.0);
    let p = proportion(300, 300).unwrap();
    assert!((p.low - 0.99).abs() < 1e-12 && p.high == 1.0 && p.method == Method::RuleOfThree);
    // 3/n is capped at 1 for tiny samples.
    assert_eq!(rule_of_three(2), Some(1.0));
    assert_eq!(proportion(0, 0), None);
    let p = proportion(7, 9).unwrap();
    assert_eq!(p.method, Method::Wilson);
    assert!((p.estimate - 7.0 / 9.0).abs() < 1e-12);
}
