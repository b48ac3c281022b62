//! `fdc-replay conformance`: the differential test ([`crate::conformance`]) as a command.

use super::progress::Progress;
use crate::conformance::{describe_failure, instance_ops, run_plan_with, Plan, Stats};

/// `fdc-replay conformance`: the differential test as a command.
#[derive(clap::Args, Debug)]
pub struct ConformanceArgs {
    /// QEMU instances to run (each runs its sequences back to back).
    #[arg(long, default_value_t = 4)]
    pub instances: usize,
    /// Sequences per instance.
    #[arg(long, default_value_t = 50)]
    pub sequences: usize,
    /// Seed of the generator (the same seed gives the same operations).
    #[arg(long, default_value_t = 0x0F1D_2026)]
    pub seed: u64,
    /// QEMU runs the shrinker may spend on a mismatch.
    #[arg(long, default_value_t = 100)]
    pub shrink: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress bar (it is drawn on standard error only when that is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Entry point of the subcommand: exit code 0 when the model agrees with QEMU everywhere.
pub fn run_cli(args: ConformanceArgs) -> anyhow::Result<i32> {
    fdc_oracle::find_qemu(&fdc_oracle::default_qemu())?;
    let plan = Plan {
        seed: args.seed,
        instances: args.instances,
        sequences_per_instance: args.sequences,
        migrate_every: 400,
        workdir: std::env::temp_dir().join(format!("fdc-conformance-{}", std::process::id())),
        shrink_budget: args.shrink,
    };
    let _cleanup = fdc_oracle::cleanup::Guard::path(&plan.workdir);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    // The bar counts ops, advanced when an instance finishes.
    let per_instance: Vec<u64> = (0..plan.instances)
        .map(|i| instance_ops(&plan, i).len() as u64)
        .collect();
    let progress = Progress::events("conformance", Some(per_instance.iter().sum()), args.quiet);
    let outcomes = run_plan_with(&plan, threads, &|i| {
        progress.inc(per_instance.get(i).copied().unwrap_or(0))
    });
    progress.finish();
    let _ = std::fs::remove_dir_all(&plan.workdir);
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for o in &outcomes {
        total.add(&o.stats);
        if let Some((i, slots, ops, m)) = &o.failure {
            failures.push(describe_failure(*i, slots, ops, m));
        }
    }
    match args.format {
        Format::Text => {
            crate::outln!(
                "{} QEMU instances, {} sequences, {} ops, {} reads compared, {} migration points compared, {} mismatching instance(s)",
                total.instances, total.sequences, total.ops, total.reads, total.migrations, failures.len()
            )?;
            crate::outln!(
                "points at which QEMU sent each subsection: {:?}",
                total.subsections
            )?;
            for f in &total.oracle_faults {
                crate::outln!("oracle fault (not a verdict on the model): {f}")?;
            }
            for f in &failures {
                crate::outln!("{f}")?;
            }
        }
        Format::Json => crate::outln!(
            "{}",
            serde_json::json!({
                "instances": total.instances, "sequences": total.sequences, "ops": total.ops,
                "reads": total.reads, "migrations": total.migrations,
                "memory_checks": total.memory_checks, "subsections": total.subsections,
                "oracle_faults": total.oracle_faults,
                "failures": failures,
            })
        )?,
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}
