//! A conformance plan: instances of back-to-back sequences, each on a fresh QEMU, run on
//! a few threads; a mismatch is retried once when QEMU itself failed, else shrunk.

use std::fmt::Write as _;
use std::path::PathBuf;

use fdc::ops::Op;

use super::generate::generate_sequence;
use super::shrink::{run_ops_counted, shrink};
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
    let result = run_confirmed(&slots, &ops, &images, &mut stats);
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

/// Runs attempts of one instance allowed before a result stands.
pub const MAX_ATTEMPTS: usize = 3;

/// Runs `ops` on fresh pairs until the result stands, as a verdict must not depend on
/// QEMU's timing: a run that passes stands; a mismatch stands once two runs show the same
/// one (same op, same difference: the model is deterministic, and so is QEMU's virtual
/// time unless the oracle lost a watchdog stop); an oracle failure (QEMU did not answer, a
/// time step overshot) is retried and counted. Mismatches that no other run confirms are
/// oracle faults (recorded in `stats` with their evidence), not verdicts. After
/// [`MAX_ATTEMPTS`] runs without a standing result, the last oracle failure stands, or,
/// when every failure was an unconfirmed mismatch, the instance counts as passed with
/// its oracle faults.
fn run_confirmed(
    slots: &[Slot; 2],
    ops: &[Op],
    images: &std::path::Path,
    stats: &mut Stats,
) -> Result<Stats, Mismatch> {
    confirm(|| run_ops_counted(slots, ops, images.to_path_buf()), stats)
}

/// Decides an instance's result from fresh runs (one call of `run` = one run: its result
/// and its lost watchdog stops): a pass stands; a mismatch stands once two runs show the
/// same one (same op, same difference); an oracle failure is retried and counted;
/// mismatches no other run confirms are oracle faults, recorded in `stats` with their
/// evidence, not verdicts. At most [`MAX_ATTEMPTS`] runs.
pub fn confirm(
    mut run: impl FnMut() -> (Result<Stats, Mismatch>, usize),
    stats: &mut Stats,
) -> Result<Stats, Mismatch> {
    let mut seen: Vec<(Mismatch, usize)> = Vec::new();
    let mut last_failure = None;
    for attempt in 0..MAX_ATTEMPTS {
        let (result, lost) = run();
        match result {
            Ok(s) => {
                record_faults(stats, &seen, "a later run passed");
                return Ok(s);
            }
            Err(m) if m.kind == MismatchKind::MachineFailed => {
                if attempt + 1 < MAX_ATTEMPTS {
                    stats.oracle_retries += 1;
                }
                last_failure = Some(m);
            }
            Err(m) => {
                if let Some(i) = seen
                    .iter()
                    .position(|(p, _)| p.index == m.index && p.what == m.what)
                {
                    seen.remove(i);
                    record_faults(stats, &seen, "another mismatch was confirmed");
                    return Err(m);
                }
                seen.push((m, lost));
            }
        }
    }
    match last_failure {
        Some(m) if seen.is_empty() => Err(m),
        _ => {
            // Only unconfirmed mismatches (and oracle failures): no verdict on the model.
            record_faults(stats, &seen, "no other run confirmed it");
            Ok(Stats::default())
        }
    }
}

/// Records unconfirmed mismatches as oracle faults, with their evidence.
fn record_faults(stats: &mut Stats, seen: &[(Mismatch, usize)], why: &str) {
    for (m, lost) in seen {
        stats.oracle_faults.push(format!(
            "mismatch after op {} did not reproduce ({why}); {lost} oracle time step(s) of that run \
             lost their watchdog stop: {}",
            m.index, m.what
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn differs(index: usize, what: &str) -> Mismatch {
        Mismatch {
            index,
            kind: MismatchKind::Differs,
            what: what.into(),
        }
    }

    fn failed() -> Mismatch {
        Mismatch {
            index: 3,
            kind: MismatchKind::MachineFailed,
            what: "QEMU did not answer".into(),
        }
    }

    /// Runs `confirm` over scripted results; returns its verdict, the stats and the runs.
    fn scripted(results: Vec<Result<Stats, Mismatch>>) -> (Result<Stats, Mismatch>, Stats, usize) {
        let mut it = results.into_iter();
        let mut runs = 0;
        let mut stats = Stats::default();
        let r = confirm(
            || {
                runs += 1;
                (it.next().unwrap_or_else(|| Ok(Stats::default())), 5)
            },
            &mut stats,
        );
        (r, stats, runs)
    }

    fn ok(ops: usize) -> Result<Stats, Mismatch> {
        Ok(Stats {
            ops,
            ..Stats::default()
        })
    }

    #[test]
    fn a_mismatch_that_does_not_reproduce_is_an_oracle_fault() {
        let (r, stats, runs) = scripted(vec![Err(differs(16413, "result_timer")), ok(7)]);
        assert_eq!(r.unwrap().ops, 7);
        assert_eq!(runs, 2);
        assert_eq!(stats.oracle_faults.len(), 1);
        let f = &stats.oracle_faults[0];
        assert!(
            f.contains("op 16413") && f.contains("result_timer") && f.contains("5 oracle"),
            "{f}"
        );
    }

    #[test]
    fn a_reproduced_mismatch_stands() {
        let (r, stats, runs) = scripted(vec![Err(differs(9, "a")), Err(differs(9, "a"))]);
        let m = r.unwrap_err();
        assert_eq!((m.index, m.kind), (9, MismatchKind::Differs));
        assert_eq!(runs, 2);
        assert!(stats.oracle_faults.is_empty());
        // Confirmed on the third run, after a different one-off mismatch.
        let (r, stats, runs) = scripted(vec![
            Err(differs(9, "a")),
            Err(differs(4, "b")),
            Err(differs(4, "b")),
        ]);
        assert_eq!(r.unwrap_err().index, 4);
        assert_eq!(runs, 3);
        assert_eq!(stats.oracle_faults.len(), 1);
    }

    #[test]
    fn unconfirmed_mismatches_and_failures_give_no_verdict() {
        let (r, stats, runs) = scripted(vec![
            Err(differs(9, "a")),
            Err(failed()),
            Err(differs(10, "a")),
        ]);
        assert!(r.is_ok());
        assert_eq!(runs, MAX_ATTEMPTS);
        assert_eq!(stats.oracle_faults.len(), 2);
        assert_eq!(stats.oracle_retries, 1);
    }

    #[test]
    fn oracle_failures_are_retried_and_then_stand() {
        let (r, stats, runs) = scripted(vec![Err(failed()), ok(1)]);
        assert!(r.is_ok());
        assert_eq!((runs, stats.oracle_retries), (2, 1));
        let (r, _, runs) = scripted(vec![Err(failed()), Err(failed()), Err(failed())]);
        assert_eq!(r.unwrap_err().kind, MismatchKind::MachineFailed);
        assert_eq!(runs, MAX_ATTEMPTS);
    }
}
