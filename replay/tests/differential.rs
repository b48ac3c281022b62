//! The differential conformance test: random well-formed op sequences run on the
//! model and on real QEMU 7.2; every read, the IRQ after every op, and at sampled points the
//! migrated fdc section (all fields and subsections) must be equal.
//!
//! Needs `qemu-system-x86_64`. Set `FDC_SKIP_QEMU=1` to skip explicitly; without QEMU and
//! without that variable the test fails and says how to install it. Scale with
//! `FDC_DIFF_INSTANCES`, `FDC_DIFF_SEQUENCES` (per instance) and `FDC_DIFF_SEED`.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc_replay::conformance::{describe_failure, run_instance, run_plan, Plan, Stats};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn qemu_available() -> bool {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("FDC_SKIP_QEMU=1: differential test against real QEMU skipped");
        return false;
    }
    let qemu = fdc_oracle::default_qemu();
    if let Err(e) = fdc_oracle::find_qemu(&qemu) {
        panic!("{e}: the differential test needs real QEMU. Install it with `apt-get install qemu-system-x86` (or set FDC_SKIP_QEMU=1 to skip explicitly)");
    }
    true
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn model_matches_real_qemu_on_random_sequences() {
    if !qemu_available() {
        return;
    }
    let instances = env_num("FDC_DIFF_INSTANCES", 24) as usize;
    let plan = Plan {
        seed: env_num("FDC_DIFF_SEED", 0x0F1D_2026),
        instances,
        sequences_per_instance: env_num("FDC_DIFF_SEQUENCES", 90) as usize,
        migrate_every: 400,
        workdir: std::env::temp_dir().join(format!("fdc-differential-{}", std::process::id())),
        shrink_budget: env_num("FDC_DIFF_SHRINK", 150) as usize,
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let only = std::env::var("FDC_DIFF_ONLY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let results: Vec<_> = match only {
        // FDC_DIFF_ONLY=N re-runs one instance (to reproduce or shrink a failure).
        Some(i) => vec![run_instance(&plan, i)],
        None => run_plan(&plan, threads),
    };
    let _ = std::fs::remove_dir_all(&plan.workdir);
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for o in &results {
        total.add(&o.stats);
        if let Some((i, slots, ops, m)) = &o.failure {
            failures.push(describe_failure(*i, slots, ops, m));
        }
    }
    eprintln!(
        "differential: {} QEMU instances, {} sequences, {} ops ({} reads compared), {} migration points, {} DMA buffer checks, {} oracle time steps stopped by hand, {} oracle retries, {} resyncs after indeterminate scans, {} mismatching instance(s)",
        total.instances, total.sequences, total.ops, total.reads, total.migrations, total.memory_checks, total.lost_stops, total.oracle_retries, total.resyncs, failures.len()
    );
    eprintln!(
        "points at which QEMU sent each subsection: {:?}",
        total.subsections
    );
    for f in &total.oracle_faults {
        eprintln!("oracle fault (not a verdict on the model): {f}");
    }
    assert!(
        failures.is_empty(),
        "model and QEMU disagree:\n{}",
        failures.join("\n")
    );
    if only.is_none() {
        assert_eq!(total.instances, plan.instances);
    }
    // The volume of what was compared, for the instances that ran (one with
    // FDC_DIFF_ONLY=N): about 90 ops and 1/12 migration point per sequence at least. An
    // instance whose only failures were oracle faults ran no complete pass: not counted.
    let ran = (total.instances - total.oracle_faults.len().min(total.instances))
        * plan.sequences_per_instance;
    if ran >= 2000 {
        assert!(
            total.ops >= 90 * ran,
            "only {} ops compared in {ran} sequences",
            total.ops
        );
        assert!(
            total.migrations >= ran / 12,
            "only {} migration points compared in {ran} sequences",
            total.migrations
        );
    }
}
