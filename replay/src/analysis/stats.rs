//! Interval estimates for a proportion: Wilson's score interval, and the rule of three
//! when nothing (or everything) was seen.

use serde::Serialize;

/// The 0.975 quantile of the standard normal distribution (95 % two-sided).
pub const Z95: f64 = 1.959_963_984_540_054;

/// How an interval was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Wilson score interval.
    Wilson,
    /// Rule of three: no event in `n` trials gives [0, 3/n] (and all `n` gives [1 - 3/n, 1]).
    RuleOfThree,
}

/// A proportion `k / n` with a 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Proportion {
    pub k: u64,
    pub n: u64,
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub method: Method,
}

/// Wilson score interval for `k` successes in `n` trials at normal quantile `z`.
/// `None` when `n` is 0.
pub fn wilson(k: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || k > n {
        return None;
    }
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// The rule of three: the 95 % upper bound `3 / n` (capped at 1) for a proportion when no
/// event was seen in `n` trials. `None` when `n` is 0.
pub fn rule_of_three(n: u64) -> Option<f64> {
    (n > 0).then(|| (3.0 / n as f64).min(1.0))
}

/// `k / n` with a 95 % interval: the rule of three when `k` is 0 or `n`, else Wilson.
/// `None` when `n` is 0 (nothing to estimate).
pub fn proportion(k: u64, n: u64) -> Option<Proportion> {
    if n == 0 || k > n {
        return None;
    }
    let estimate = k as f64 / n as f64;
    if k == 0 {
        let high = rule_of_three(n)?;
        return Some(Proportion {
            k,
            n,
            estimate,
            low: 0.0,
            high,
            method: Method::RuleOfThree,
        });
    }
    if k == n {
        let low = 1.0 - rule_of_three(n)?;
        return Some(Proportion {
            k,
            n,
            estimate,
            low,
            high: 1.0,
            method: Method::RuleOfThree,
        });
    }
    let (low, high) = wilson(k, n, Z95)?;
    Some(Proportion {
        k,
        n,
        estimate,
        low,
        high,
        method: Method::Wilson,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_textbook_value() {
        // 10 of 100 at 95 %: the classic (0.0552, 0.1744).
        let (lo, hi) = wilson(10, 100, Z95).unwrap();
        assert!((lo - 0.05522).abs() < 1e-4, "{lo}");
        assert!((hi - 0.17436).abs() < 1e-4, "{hi}");
    }
}
