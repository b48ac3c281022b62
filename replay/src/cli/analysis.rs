//! The `check`, `points`, `report` and `bench` subcommands.
//!
//! Exit codes: 0 success; 1 a bad file (reported with its reason after every other file
//! was processed), a read mismatch (`check`), or an I/O error; 2 nothing to do (no trace
//! found under the given paths, or under `corpora/` when no path is given: an empty
//! report is almost always a mistake in a script, so it is not reported as a success).

use super::MachineArg;
use crate::analysis::check::{check, check_file_with, render_mismatch, CheckResult};
use crate::analysis::machine::MachineReplay;
use crate::analysis::points::{write_machine_points, write_points};
use crate::analysis::replay::{analyze_file, AnalyzeOptions};
use crate::analysis::report::Report;
use anyhow::Context;
use clap::{Args, ValueEnum};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Exit code when no trace was found.
pub const EXIT_NOTHING: i32 = 2;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Trace files or directories (searched recursively for *.fdctrace). Default: corpora/
    pub paths: Vec<PathBuf>,
    /// Worker threads, 1 to 1024 (default: all cores; at most 4 per core are started).
    #[arg(short = 'j', long = "jobs", value_parser = super::jobs_parser())]
    pub jobs: Option<usize>,
    /// Mismatches shown per trace, with context.
    #[arg(long, default_value_t = 5)]
    pub max_mismatches: usize,
    /// Preceding events shown with each mismatch.
    #[arg(long, default_value_t = crate::analysis::check::CONTEXT_EVENTS)]
    pub context: usize,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// The machine whose reads are compared with the recording: `model`, or
    /// `qemu[=PATH]` (a real QEMU replaying the trace, DMA programmed as the model's
    /// replay infers it; one QEMU per trace).
    #[arg(long, default_value = "model", value_name = "model|qemu[=PATH]")]
    pub machine: MachineArg,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PointsFormat {
    /// One JSON object per line.
    Jsonl,
}

#[derive(Args, Debug)]
pub struct PointsArgs {
    /// The trace.
    pub trace: PathBuf,
    #[arg(long, value_enum, default_value_t = PointsFormat::Jsonl)]
    pub format: PointsFormat,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// `model`: every point of the model's replay. `qemu[=PATH]`: the trace replayed into
    /// a real QEMU, migrated every `--every` events; each line gives the subsections
    /// QEMU sent there next to the model's.
    #[arg(long, default_value = "model", value_name = "model|qemu[=PATH]")]
    pub machine: MachineArg,
    /// With `--machine qemu`: events between two sampled points.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub every: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Markdown,
    Json,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Trace files or directories (searched recursively for *.fdctrace). Default: corpora/
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Worker threads, 1 to 1024 (default: all cores; at most 4 per core are started). The
    /// output is the same for any value.
    #[arg(short = 'j', long = "jobs", value_parser = super::jobs_parser())]
    pub jobs: Option<usize>,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The directory searched when no path is given: `./corpora`, else the source tree's.
pub fn default_corpora() -> PathBuf {
    let here = PathBuf::from("corpora");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("corpora")
}

/// Expands paths: files as given, directories searched recursively for `*.fdctrace`
/// (sorted). A path that does not exist is kept, so that it is reported as a bad file.
pub fn collect_traces(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found);
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == fdc_trace::import::TRACE_EXTENSION)
        {
            out.push(p);
        }
    }
}

/// A rayon pool for `-j` (see [`super::effective_jobs`]).
pub fn pool(jobs: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let n = super::effective_jobs(jobs);
    Ok(rayon::ThreadPoolBuilder::new().num_threads(n).build()?)
}

pub(crate) fn progress(n: usize, quiet: bool, what: &str) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(what.to_string());
    Some(pb)
}

pub(crate) fn inputs(paths: &[PathBuf]) -> (Vec<PathBuf>, String) {
    if paths.is_empty() {
        let d = default_corpora();
        let shown = d.display().to_string();
        (collect_traces(&[d]), shown)
    } else {
        (
            collect_traces(paths),
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

fn write_out(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(p) => std::fs::write(p, text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())),
        None => {
            let mut so = std::io::stdout().lock();
            so.write_all(text.as_bytes())?;
            so.flush()?;
            Ok(())
        }
    }
}

/// Analyses `paths` on `pool`; results in path order (`Err((path, reason))` for a bad file).
pub fn analyze_all(
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    pb: Option<&ProgressBar>,
) -> Vec<Result<crate::analysis::replay::TraceAnalysis, (String, String)>> {
    let opts = AnalyzeOptions {
        parallel_chunks: true,
    };
    pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                let r =
                    analyze_file(p, &opts).map_err(|e| (p.display().to_string(), e.to_string()));
                if let Some(pb) = pb {
                    pb.inc(1);
                }
                r
            })
            .collect()
    })
}

pub fn run_report(args: ReportArgs) -> anyhow::Result<i32> {
    let (paths, shown) = inputs(&args.paths);
    if paths.is_empty() {
        eprintln!("fdc-replay report: no *.fdctrace traces under {shown} (import recordings with `fdc-replay import qemu-log`)");
        return Ok(EXIT_NOTHING);
    }
    let pool = pool(args.jobs)?;
    let pb = progress(paths.len(), args.quiet, "report");
    let results = analyze_all(&paths, &pool, pb.as_ref());
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let report = Report::build(&results);
    let text = match args.format {
        ReportFormat::Table => report.render(false),
        ReportFormat::Markdown => report.render(true),
        ReportFormat::Json => report.to_json(),
    };
    write_out(args.output.as_deref(), &text)?;
    for b in &report.bad_files {
        eprintln!("fdc-replay report: bad file: {}", b.error);
    }
    Ok(if report.bad_files.is_empty() { 0 } else { 1 })
}

/// A QEMU started with the drives of the trace `path` and the trace's replay into it.
fn qemu_replay(path: &Path, qemu: &Path) -> anyhow::Result<MachineReplay<Oracle>> {
    let header = fdc_trace::TraceReader::open(path)?.header().clone();
    let [c0, c1] = header
        .drive_configs()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let cfg = OracleConfig {
        qemu: qemu.to_path_buf(),
        ..OracleConfig::with_drives([DriveSpec::from(&c0), DriveSpec::from(&c1)])
    };
    let oracle =
        Oracle::start(cfg).with_context(|| format!("{}: starting QEMU", path.display()))?;
    Ok(MachineReplay::new(oracle, &header, path)?)
}

/// Checks one trace on the machine `args` asks for.
fn check_one(args: &CheckArgs, path: &Path) -> Result<CheckResult, String> {
    match &args.machine {
        MachineArg::Model => {
            check_file_with(path, args.max_mismatches, args.context).map_err(|e| e.to_string())
        }
        m @ MachineArg::Qemu(_) => qemu_replay(path, &m.qemu_binary())
            .map_err(|e| format!("{e:#}"))
            .and_then(|mut r| {
                check(path, &mut r, args.max_mismatches, args.context).map_err(|e| e.to_string())
            }),
    }
}

pub fn run_check(args: CheckArgs) -> anyhow::Result<i32> {
    let (paths, shown) = inputs(&args.paths);
    if paths.is_empty() {
        eprintln!("fdc-replay check: no *.fdctrace traces under {shown}");
        return Ok(EXIT_NOTHING);
    }
    if let MachineArg::Qemu(_) = &args.machine {
        fdc_oracle::find_qemu(&args.machine.qemu_binary())?;
    }
    let pool = pool(args.jobs)?;
    let pb = progress(paths.len(), args.quiet, "check");
    let results: Vec<_> = pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                let r = check_one(&args, p);
                if let Some(pb) = &pb {
                    pb.inc(1);
                }
                r
            })
            .collect()
    });
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let mut out = String::new();
    let (mut bad, mut mismatched, mut reads) = (0, 0, 0u64);
    for (p, r) in paths.iter().zip(results) {
        match r {
            Ok(c) => {
                reads += c.reads;
                if c.mismatches == 0 {
                    out.push_str(&format!(
                        "{}: ok: {} events, {} reads checked, all match{}\n",
                        p.display(),
                        c.events,
                        c.reads,
                        dma_note(&c.dma)
                    ));
                } else {
                    mismatched += 1;
                    out.push_str(&format!(
                        "{}: MISMATCH: {} of {} reads differ ({} events{}); first {}:\n",
                        p.display(),
                        c.mismatches,
                        c.reads,
                        c.events,
                        dma_note(&c.dma),
                        c.first.len()
                    ));
                    for m in &c.first {
                        out.push_str(&render_mismatch(p, m, c.answered_by));
                    }
                }
            }
            Err(e) => {
                bad += 1;
                out.push_str(&format!("{}: BAD FILE: {e}\n", p.display()));
            }
        }
    }
    out.push_str(&format!(
        "{} traces: {} match, {} with mismatches, {} bad; {} reads checked\n",
        paths.len(),
        paths.len() - mismatched - bad,
        mismatched,
        bad,
        reads
    ));
    write_out(None, &out)?;
    Ok(if bad + mismatched == 0 { 0 } else { 1 })
}

fn dma_note(d: &crate::analysis::DmaStats) -> String {
    let n = d.whole + d.shortened + d.no_result + d.no_match;
    if n == 0 {
        return String::new();
    }
    format!(
        "; {n} DMA transfers: {} whole, {} shortened to the recorded result, {} without result ahead, {} unmatched",
        d.whole, d.shortened, d.no_result, d.no_match
    )
}

pub fn run_points(args: PointsArgs) -> anyhow::Result<i32> {
    let PointsFormat::Jsonl = args.format;
    let mut w: Box<dyn Write> = match &args.output {
        Some(p) => {
            let f =
                std::fs::File::create(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            Box::new(std::io::BufWriter::new(f))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let r = match &args.machine {
        MachineArg::Model => write_points(&args.trace, &mut w)
            .map(drop)
            .map_err(|e| e.to_string()),
        m @ MachineArg::Qemu(_) => {
            let mut r = qemu_replay(&args.trace, &m.qemu_binary())?;
            write_machine_points(&args.trace, &mut r, args.every, &mut w)
                .map(|s| {
                    eprintln!(
                        "{}: {} points sampled on QEMU, {} agree with the model",
                        args.trace.display(),
                        s.sampled,
                        s.agree
                    )
                })
                .map_err(|e| e.to_string())
        }
    };
    w.flush()?;
    match r {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("fdc-replay points: {e}");
            Ok(1)
        }
    }
}
