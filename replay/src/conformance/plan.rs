//! A conformance plan: instances of back-to-back sequences, each on a fresh QEMU, run on
//! a few threads; a mismatch is retried once when QEMU itself failed, else shrunk.

use std::fmt::Write as _;
use std::path::PathBuf;

use fdc::ops::Op;

use super::generate::generate_sequence;
use super::shrink::{run_ops, shrink};
use super::{Mismatch, MismatchKind, Slot, Stats};
use crate::rng::Rng;

/// The drive set-ups instances rotate through.
pub fn slot_setups() -> Vec<[Slot; 2]> {
    let b = |bytes, read_only| Slot::Blank { bytes, read_only };
    vec![
        [b(1_474_560, false), Slot::Absent],
        [b(1_474_560, false), b(1_474_560, false)],
        [Slot::Empty, Slot::Absent],
        [b(737_280, false), Slot::Empty],
        [b(2_949_120, false), Slot::Absent],
        [b(1_474_560, true), b(737_280, false)],
        [b(368_640, false), Slot::Absent],
        [b(1_228_800, false), b(1_474_560, true)],
    ]
}

/// Parameters of a conformance run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub instances: usize,
    pub sequences_per_instance: usize,
    /// Migrate after about one op in this many (plus after every sequence with
    /// probability 1/4).
    pub migrate_every: usize,
    pub workdir: PathBuf,
    pub shrink_budget: usize,
}

/// Result of a conformance run: counters, and the first mismatch (shrunk) if any.
pub struct Outcome {
    pub stats: Stats,
    pub failure: Option<(usize, [Slot; 2], Vec<Op>, Mismatch)>,
}

/// Runs one instance of a plan: `plan.sequences_per_instance` sequences on one QEMU.
pub fn run_instance(plan: &Plan, instance: usize) -> Outcome {
    let setups = slot_setups();
    let slots = setups[instance % setups.len()].clone();
    let images = plan.workdir.join(format!("instance-{instance}"));
    let ops = instance_ops(plan, instance);
    let mut stats = Stats {
        instances: 1,
        sequences: plan.sequences_per_instance,
        ..Stats::default()
    };
    let run = || run_ops(&slots, &ops, images.clone());
    // An oracle failure (QEMU did not answer, a time step overshot) is not a verdict on
    // the model: run the instance once more on a fresh QEMU, and count it.
    let mut result = run();
    if matches!(&result, Err(m) if m.kind == MismatchKind::MachineFailed) {
        stats.oracle_retries += 1;
        result = run();
    }
    let outcome = match result {
        Ok(s) => {
            stats.add(&s);
            Outcome {
                stats,
                failure: None,
            }
        }
        Err(m) => {
            let (small, m) = shrink(&slots, ops, m, images.join("shrink"), plan.shrink_budget);
            Outcome {
                stats,
                failure: Some((instance, slots, small, m)),
            }
        }
    };
    let _ = std::fs::remove_dir_all(&images);
    outcome
}

/// The operations instance `instance` of `plan` runs (a function of the seed).
pub fn instance_ops(plan: &Plan, instance: usize) -> Vec<Op> {
    let mut rng = Rng::new(plan.seed ^ (instance as u64).wrapping_mul(0x1234_5678_9ABC));
    let mut ops = Vec::new();
    for _ in 0..plan.sequences_per_instance {
        generate_sequence(&mut rng, &mut ops);
        if rng.below(4) == 0 || rng.below(plan.migrate_every as u64) < 8 {
            ops.push(Op::Migrate);
        }
    }
    ops
}

/// Formats a failure so it can be pasted into a test.
pub fn describe_failure(instance: usize, slots: &[Slot; 2], ops: &[Op], m: &Mismatch) -> String {
    let mut s = format!(
        "instance {instance}, drives {slots:?}: mismatch after op {}: {}\nops:\n",
        m.index, m.what
    );
    for (i, op) in ops.iter().enumerate() {
        let _ = writeln!(s, "  {i:4}: {op:?}");
    }
    s
}

/// Runs a plan with up to `threads` QEMUs at once; results in instance order.
pub fn run_plan(plan: &Plan, threads: usize) -> Vec<Outcome> {
    run_plan_with(plan, threads, &|_| {})
}

/// [`run_plan`], calling `done(i)` when instance `i` has finished (a progress display).
pub fn run_plan_with(plan: &Plan, threads: usize, done: &(dyn Fn(usize) + Sync)) -> Vec<Outcome> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= plan.instances {
                    break;
                }
                let outcome = run_instance(plan, i);
                done(i);
                if let Ok(mut r) = results.lock() {
                    r.push((i, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, o)| o).collect()
}
