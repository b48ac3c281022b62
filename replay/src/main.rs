//! The `fdc-replay` command line.
use clap::{Parser, Subcommand};

/// Replays floppy-controller traces against the QEMU FDC model and reports, at every
/// migration point, which migration subsections QEMU would send.
#[derive(Parser, Debug)]
#[command(name = "fdc-replay", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Drive real QEMU's floppy controller port by port (qtest) and ask it, over QMP,
    /// which migration subsections it would send.
    Oracle(fdc_replay::cli::oracle::OracleArgs),
    /// Run random well-formed port-level sequences on the model and on real QEMU side by
    /// side and report every disagreement (reads, IRQ, migrated fdc section).
    Conformance(fdc_replay::cli::conformance::ConformanceArgs),
    /// Import recorded logs into the trace format.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Replay traces against the model and compare every recorded port read.
    Check(fdc_replay::cli::analysis::CheckArgs),
    /// Print every migration point of a trace (phase, MSR, needed subsections).
    Points(fdc_replay::cli::analysis::PointsArgs),
    /// Report which migration subsections QEMU would send, per trace, stage, guest and overall.
    Report(fdc_replay::cli::analysis::ReportArgs),
    /// Merge reports written with `report --format json` (e.g. of `--shard K/N` jobs) into
    /// the report of one run over all their inputs, in any format.
    Merge(fdc_replay::cli::merge::MergeArgs),
    /// Replay the corpus and fail with a readable diff if any report statistic or
    /// conformance figure moved against the stored baseline (`--update` rewrites it).
    Regress(fdc_replay::cli::regress::RegressArgs),
    /// Run the Windows 2000 floppy driver model closed-loop against real QEMU (or the
    /// model) and record the trace.
    RecordDriverModel(fdc_replay::cli::record::RecordArgs),
    /// Measure decode+replay+analysis throughput and memory on a generated trace.
    Bench(fdc_replay::cli::bench::BenchArgs),
    /// Inspect and edit QEMU migration streams (sections, fdc subsections, vmdesc).
    Stream(fdc_replay::cli::stream::StreamArgs),
    /// At every migration point, what a destination loaded without a subsection would do
    /// (the first difference a guest could notice), per subsection and guest; with
    /// `--closed-loop`, what the Windows 2000 driver model does when resumed from one.
    Whatif(fdc_replay::cli::whatif::WhatifArgs),
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Import QEMU `-trace fdc_*` log output.
    QemuLog(fdc_replay::cli::import::ImportArgs),
}

fn main() {
    fdc_replay::cli::signals::install();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Oracle(args) => fdc_replay::cli::oracle::run(args),
        Command::Conformance(args) => fdc_replay::cli::conformance::run_cli(args),
        Command::Import(ImportCommand::QemuLog(args)) => fdc_replay::cli::import::run(args),
        Command::Check(args) => fdc_replay::cli::analysis::run_check(args),
        Command::Points(args) => fdc_replay::cli::analysis::run_points(args),
        Command::Report(args) => fdc_replay::cli::analysis::run_report(args),
        Command::Merge(args) => fdc_replay::cli::merge::run(args),
        Command::Bench(args) => fdc_replay::cli::bench::run(args),
        Command::Regress(args) => fdc_replay::cli::regress::run(args),
        Command::RecordDriverModel(args) => fdc_replay::cli::record::run_cli(args),
        Command::Stream(args) => fdc_replay::cli::stream::run(args),
        Command::Whatif(args) => fdc_replay::cli::whatif::run(args),
    };
    match result {
        Ok(code) => fdc_replay::cli::signals::exit(code, None),
        // `fdc-replay points T | head`: the reader has all it wants.
        Err(err) if fdc_replay::cli::output::is_broken_pipe(&err) => {
            fdc_replay::cli::signals::exit(0, None)
        }
        Err(err) => fdc_replay::cli::signals::exit(1, Some(&err)),
    }
}
