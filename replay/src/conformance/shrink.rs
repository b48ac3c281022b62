//! Shrinking a failing op list (ddmin-style) by re-running fresh QEMUs on subsets of it.

use std::path::PathBuf;

use fdc::ops::Op;

use super::pair::Pair;
use super::{Mismatch, MismatchKind, Slot, Stats};

/// Runs `ops` on a fresh pair; returns the first mismatch.
pub fn run_ops(slots: &[Slot; 2], ops: &[Op], images: PathBuf) -> Result<Stats, Mismatch> {
    run_ops_counted(slots, ops, images).0
}

/// [`run_ops`], also returning how many oracle time steps lost their watchdog stop
/// before the run ended (the evidence of an oracle fault when a mismatch does not
/// reproduce).
pub fn run_ops_counted(
    slots: &[Slot; 2],
    ops: &[Op],
    images: PathBuf,
) -> (Result<Stats, Mismatch>, usize) {
    let mut pair = match Pair::start(slots, images) {
        Ok(p) => p,
        Err(e) => return (Err(Mismatch::setup(e)), 0),
    };
    for (i, op) in ops.iter().enumerate() {
        if let Err(m) = pair.step(i, op) {
            return (Err(m), pair.other.lost_stops() as usize);
        }
    }
    let lost = pair.stats.lost_stops;
    (Ok(pair.stats), lost)
}

/// Shrinks a failing op list by removing chunks while it still fails (ddmin-style), at
/// most `budget` QEMU runs. Returns the smallest failing list found and its mismatch.
pub fn shrink(
    slots: &[Slot; 2],
    ops: Vec<Op>,
    first: Mismatch,
    images: PathBuf,
    budget: usize,
) -> (Vec<Op>, Mismatch) {
    let mut best = ops[..=first.index.min(ops.len().saturating_sub(1))].to_vec();
    let mut best_m = first;
    let mut runs = 0;
    let mut chunk = best.len() / 2;
    while chunk >= 1 && runs < budget {
        let mut start = 0;
        let mut progressed = false;
        while start < best.len() && runs < budget {
            let end = (start + chunk).min(best.len());
            let candidate: Vec<Op> = best[..start].iter().chain(&best[end..]).cloned().collect();
            runs += 1;
            if candidate.is_empty() {
                start = end;
                continue;
            }
            match run_ops(slots, &candidate, images.clone()) {
                Err(m) if m.kind == MismatchKind::Differs => {
                    best = candidate[..=m.index.min(candidate.len() - 1)].to_vec();
                    best_m = m;
                    progressed = true;
                }
                _ => start = end,
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    (best, best_m)
}
