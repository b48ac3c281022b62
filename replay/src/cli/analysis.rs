//! The `check`, `points`, `report` and `bench` subcommands.
//!
//! Exit codes: 0 success; 1 a bad file (reported with its reason after every other file
//! was processed), a read mismatch (`check`), or an I/O error; 2 nothing to do (no trace
//! found under the given paths, or under `corpora/` when no path is given: an empty
//! report is almost always a mistake in a script, so it is not reported as a success).

use super::output;
use super::progress::{Again, Input, Progress};
use super::MachineArg;
use crate::analysis::check::{check_from, check_reader, render_mismatch, CheckResult};
use crate::analysis::machine::MachineReplay;
use crate::analysis::points::{write_machine_points_from, write_points_from};
use crate::analysis::replay::{analyze_reader, AnalyzeOptions};
use crate::analysis::report::Report;
use crate::analysis::ReplayError;
use anyhow::Context;
use clap::{Args, ValueEnum};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};
use fdc_trace::TraceReader;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Exit code when no trace was found.
pub const EXIT_NOTHING: i32 = 2;

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Trace files or directories (searched recursively for *.fdctrace; `-`: standard
    /// input), relative to the current directory. Default: ./corpora when it exists,
    /// else the corpora/ of the source tree this binary was built from.
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
    /// No progress bar (it is drawn on standard error only when that is a terminal).
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
    /// The trace (`-`: standard input).
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
    /// No progress bar (it is drawn on standard error only when that is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ReportFormat {
    /// Plain text: the verdict block, then padded tables.
    Table,
    /// Markdown: the same, as Markdown tables.
    Markdown,
    /// JSON: schema `fdc-replay-report` (docs/report-json.md), with the counts `merge` reads.
    Json,
    /// One self-contained HTML page (inline CSS and SVG, no script, no network).
    Html,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Trace files or directories (searched recursively for *.fdctrace; `-`: standard
    /// input), relative to the current directory. Default: ./corpora when it exists,
    /// else the corpora/ of the source tree this binary was built from.
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
    /// No progress bar (it is drawn on standard error only when that is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
    /// Leave out the what-if section (what dropping each subsection does).
    #[arg(long)]
    pub no_whatif: bool,
    /// Leave out the what-if section's closed loop (the Windows 2000 driver model resumed
    /// from destinations without each subsection; it needs mkfs.fat and mcopy).
    #[arg(long)]
    pub no_closed_loop: bool,
    /// Closed-loop migrations per workload and subsection (as `whatif --closed-loop
    /// --migrations`).
    #[arg(long, value_name = "N", default_value_t = crate::analysis::whatif::closed::DEFAULT_POINTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub closed_loop_migrations: usize,
    /// Only shard K of N of the inputs (input i, in listed order, is in shard i % N + 1);
    /// `fdc-replay merge` of the N JSON reports equals one run over all inputs.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<super::merge::Shard>,
}

/// The directory used when no path is given: `corpora` in the current directory when
/// there is one, else the `corpora/` of the source tree this binary was built from. The
/// same rule gives every default path under it (`regress`'s baseline); a path given on
/// the command line is always taken relative to the current directory.
pub fn default_corpora() -> PathBuf {
    let here = PathBuf::from("corpora");
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("corpora")
}

/// The traces found under the paths given, and the inputs that cannot be read.
#[derive(Debug, Default)]
pub struct Found {
    /// Trace files, in the order given (directories: sorted), each once.
    pub traces: Vec<PathBuf>,
    /// Directories (or entries in them) that cannot be read, with the reason.
    pub bad: Vec<(PathBuf, String)>,
    /// Inputs left out because they name a file (or unreadable directory) already listed
    /// (same canonical path).
    pub duplicates: Vec<PathBuf>,
}

impl Found {
    /// No trace and nothing unreadable.
    pub fn is_empty(&self) -> bool {
        self.traces.is_empty() && self.bad.is_empty()
    }

    /// The bad inputs as the analysis reports bad files: `(path, "path: reason")`.
    pub fn bad_results<T>(&self) -> impl Iterator<Item = Result<T, (String, String)>> + '_ {
        self.bad.iter().map(|(p, e)| {
            let p = p.display().to_string();
            Err((p.clone(), format!("{p}: {e}")))
        })
    }

    /// Says on standard error which inputs were read once only.
    pub fn warn_duplicates(&self, command: &str) {
        if self.duplicates.is_empty() {
            return;
        }
        let list: Vec<String> = self
            .duplicates
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        eprintln!(
            "fdc-replay {command}: {} input(s) name an input already given, read once: {}",
            list.len(),
            list.join(", ")
        );
    }
}

/// Expands paths: files as given (`-` is standard input), directories searched
/// recursively for `*.fdctrace` (sorted). A path that does not exist is kept, so that it
/// is reported as a bad file; a directory that cannot be read is a bad input; an input
/// named twice (same canonical path) is kept once.
pub fn collect_traces(paths: &[PathBuf]) -> Found {
    let mut found = Found::default();
    let mut listed = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut under = Vec::new();
            walk(p, &mut under, &mut found.bad);
            under.sort();
            listed.extend(under);
        } else {
            listed.push(p.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    let bad = std::mem::take(&mut found.bad);
    for (p, e) in bad {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            found.bad.push((p, e));
        } else {
            found.duplicates.push(p);
        }
    }
    for p in listed {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            found.traces.push(p);
        } else {
            found.duplicates.push(p);
        }
    }
    found
}

/// Adds the traces under `dir` to `out`, unreadable entries to `bad`.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, bad: &mut Vec<(PathBuf, String)>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => {
            bad.push((dir.to_path_buf(), format!("cannot read the directory: {e}")));
            return;
        }
    };
    for e in rd {
        let (p, ft) = match e.and_then(|e| e.file_type().map(|t| (e.path(), t))) {
            Ok(pt) => pt,
            Err(e) => {
                bad.push((dir.to_path_buf(), format!("cannot list the directory: {e}")));
                continue;
            }
        };
        if ft.is_dir() {
            walk(&p, out, bad);
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

/// The traces of the paths given, or of [`default_corpora`] when none is; and the paths
/// as shown in messages.
pub(crate) fn inputs(paths: &[PathBuf]) -> (Found, String) {
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

/// `msg` without a leading "`path`: " (errors of the trace reader name their file).
fn without_path(path: &Path, msg: &str) -> String {
    let prefix = format!("{}: ", path.display());
    msg.strip_prefix(&prefix).unwrap_or(msg).to_string()
}

/// One trace's analysis, or the trace (as given) and why it is a bad file.
pub type Analyzed = Result<crate::analysis::replay::TraceAnalysis, (String, String)>;

/// [`analyze_all`], and then `then(path, again)` on each file the analysis accepted,
/// which may read the file again through `again` (opened once, see
/// [`Progress::open_again`]); a file `then` refuses is a bad file, with its reason.
pub fn analyze_all_then<T: Send>(
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    progress: &Progress,
    then: &(dyn Fn(&Path, &mut Again) -> Result<T, String> + Sync),
) -> Vec<Result<(crate::analysis::replay::TraceAnalysis, T), (String, String)>> {
    let opts = AnalyzeOptions {
        parallel_chunks: true,
    };
    let name = |p: &Path| p.display().to_string();
    pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                let (reader, mut again) = progress
                    .open_again(p)
                    .map_err(|e| (name(p), e.to_string()))?;
                let a = analyze_reader(p, reader, &opts).map_err(|e| (name(p), e.to_string()))?;
                let t = then(p, &mut again).map_err(|e| (name(p), e))?;
                Ok((a, t))
            })
            .collect()
    })
}

/// Analyses `paths` on `pool`, each file read once through `progress`; results in path
/// order (`Err((path, reason))` for a bad file).
pub fn analyze_all(
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> Vec<Result<crate::analysis::replay::TraceAnalysis, (String, String)>> {
    let opts = AnalyzeOptions {
        parallel_chunks: true,
    };
    pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                progress
                    .open(p)
                    .map_err(ReplayError::from)
                    .and_then(|r| analyze_reader(p, r, &opts))
                    .map_err(|e| (p.display().to_string(), e.to_string()))
            })
            .collect()
    })
}

/// Why the report cannot run its closed loop here, if it cannot: the driver model's
/// workloads need `mkfs.fat` and `mcopy` to make their diskette images. The rest of the
/// report needs neither, so a machine without them still gets the report, saying so.
fn closed_loop_skipped() -> Option<String> {
    let missing = crate::drivermodel::workloads::missing_tools();
    if missing.is_empty() {
        return None;
    }
    let tools: Vec<String> = missing.iter().map(|(t, p)| format!("{t} ({p})")).collect();
    Some(format!(
        "{} not found, which the driver model's disk images are made with; its outcomes \
         are not in the figures or the verdicts (`bash scripts/install-deps.sh` installs \
         them)",
        tools.join(" and ")
    ))
}

pub fn run_report(args: ReportArgs) -> anyhow::Result<i32> {
    let (mut found, shown) = inputs(&args.paths);
    if found.is_empty() {
        eprintln!("fdc-replay report: no *.fdctrace traces under {shown} (import recordings with `fdc-replay import qemu-log`)");
        return Ok(EXIT_NOTHING);
    }
    found.warn_duplicates("report");
    if let Some(s) = args.shard {
        found.traces = s.select(std::mem::take(&mut found.traces));
        found.bad = s.select(std::mem::take(&mut found.bad));
    }
    let pool = pool(args.jobs)?;
    let progress = Progress::traces("report", &found.traces, args.quiet);
    let (mut results, whatifs) = if args.no_whatif {
        (analyze_all(&found.traces, &pool, &progress), None)
    } else {
        let (r, w, v) = super::whatif::analyze_with_whatif(&found.traces, &pool, &progress);
        (r, Some((w, v)))
    };
    progress.finish();
    results.extend(found.bad_results());
    let mut report = Report::build(&results);
    if let Some((w, v)) = whatifs {
        let mut closed = (!args.no_closed_loop).then_some(args.closed_loop_migrations);
        let skipped = closed.and_then(|_| closed_loop_skipped());
        if let Some(why) = &skipped {
            eprintln!("note: fdc-replay report: the what-if's closed loop is left out: {why}");
            closed = None;
        }
        let summary = super::whatif::report_summary(&w, &v, args.jobs, closed);
        let mut summary = summary.context(
            "report: the what-if section (--no-closed-loop leaves out its closed loop, \
             --no-whatif all of it)",
        )?;
        summary.closed_loop_skipped = skipped;
        report.whatif = Some(summary);
    }
    let text = super::merge::render(&report, args.format);
    output::write_all(args.output.as_deref(), &text)?;
    for b in &report.bad_files {
        eprintln!("fdc-replay report: bad file: {}", b.error);
    }
    Ok(if report.bad_files.is_empty() { 0 } else { 1 })
}

/// A QEMU started with the drives of the trace `path`, the trace's replay into it, and
/// the trace opened (read once).
fn qemu_replay(
    path: &Path,
    qemu: &Path,
    progress: &Progress,
) -> anyhow::Result<(MachineReplay<Oracle>, TraceReader<Input>)> {
    let reader = progress.open(path)?;
    let [c0, c1] = reader
        .header()
        .drive_configs()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let cfg = OracleConfig {
        qemu: qemu.to_path_buf(),
        ..OracleConfig::with_drives([DriveSpec::from(&c0), DriveSpec::from(&c1)])
    };
    let oracle =
        Oracle::start(cfg).with_context(|| format!("{}: starting QEMU", path.display()))?;
    let replay = MachineReplay::new(oracle, reader.header(), path)?;
    Ok((replay, reader))
}

/// Checks one trace on the machine `args` asks for.
fn check_one(args: &CheckArgs, path: &Path, progress: &Progress) -> Result<CheckResult, String> {
    match &args.machine {
        MachineArg::Model => progress
            .open(path)
            .map_err(ReplayError::from)
            .and_then(|r| check_reader(path, r, args.max_mismatches, args.context))
            .map_err(|e| e.to_string()),
        m @ MachineArg::Qemu(_) => qemu_replay(path, &m.qemu_binary(), progress)
            .map_err(|e| without_path(path, &output::describe(&e)))
            .and_then(|(mut r, reader)| {
                check_from(path, reader, &mut r, args.max_mismatches, args.context)
                    .map_err(|e| e.to_string())
            }),
    }
}

pub fn run_check(args: CheckArgs) -> anyhow::Result<i32> {
    let (found, shown) = inputs(&args.paths);
    if found.is_empty() {
        eprintln!("fdc-replay check: no *.fdctrace traces under {shown}");
        return Ok(EXIT_NOTHING);
    }
    found.warn_duplicates("check");
    if let MachineArg::Qemu(_) = &args.machine {
        fdc_oracle::find_qemu(&args.machine.qemu_binary())?;
    }
    let pool = pool(args.jobs)?;
    let progress = Progress::traces("check", &found.traces, args.quiet);
    let results: Vec<_> = pool.install(|| {
        found
            .traces
            .par_iter()
            .map(|p| check_one(&args, p, &progress))
            .collect()
    });
    progress.finish();
    let mut out = String::new();
    let (mut bad, mut mismatched, mut reads) = (0, 0, 0u64);
    for (p, r) in found.traces.iter().zip(results) {
        match r {
            Ok(c) => {
                reads += c.reads;
                if !c.failed() {
                    out.push_str(&format!(
                        "{}: ok: {} events, {} reads checked, all match{}{}{}\n",
                        p.display(),
                        c.events,
                        c.reads,
                        not_checkable_note(&c),
                        dma_note(&c.dma),
                        migration_note(&c.migrations)
                    ));
                } else {
                    mismatched += 1;
                    render_failed(&mut out, p, &c);
                }
            }
            Err(e) => {
                bad += 1;
                out.push_str(&format!(
                    "{}: BAD FILE: {}\n",
                    p.display(),
                    without_path(p, &e)
                ));
            }
        }
    }
    for (p, e) in &found.bad {
        bad += 1;
        out.push_str(&format!("{}: BAD INPUT: {e}\n", p.display()));
    }
    let total = found.traces.len() + found.bad.len();
    out.push_str(&format!(
        "{} traces: {} match, {} with mismatches, {} bad; {} reads checked\n",
        total,
        total - mismatched - bad,
        mismatched,
        bad,
        reads
    ));
    output::write_all(None, &out)?;
    Ok(if bad + mismatched == 0 { 0 } else { 1 })
}

/// The lines of a trace with mismatching reads or disagreeing migration points.
fn render_failed(out: &mut String, p: &Path, c: &CheckResult) {
    out.push_str(&format!(
        "{}: MISMATCH: {} of {} reads differ{} ({} events{}){}; first {}:\n",
        p.display(),
        c.mismatches,
        c.reads,
        not_checkable_note(c),
        c.events,
        dma_note(&c.dma),
        migration_note(&c.migrations),
        c.first.len()
    ));
    for m in &c.first {
        out.push_str(&render_mismatch(p, m, c.answered_by));
    }
    for d in &c.migrations.first {
        out.push_str(&format!(
            "{}: event {}: recorded migration {} (t {}.{:09} s) disagrees with the model: {}\n",
            p.display(),
            d.index,
            d.migration,
            d.t_ns / 1_000_000_000,
            d.t_ns % 1_000_000_000,
            d.differences.join("; ")
        ));
    }
}

/// `, N not checkable (reason: N, ...)` when reads were not compared.
fn not_checkable_note(c: &CheckResult) -> String {
    let n: u64 = c.not_checkable.values().sum();
    if n == 0 {
        return String::new();
    }
    let by: Vec<String> = c
        .not_checkable
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    format!(", {n} not checkable ({})", by.join(", "))
}

/// `; migration points: N, agree M` for a trace with recorded migrations.
fn migration_note(m: &crate::analysis::migrations::MigrationCheck) -> String {
    if m.points == 0 {
        return String::new();
    }
    format!("; migration points: {}, agree {}", m.points, m.agree)
}

fn dma_note(d: &crate::analysis::DmaStats) -> String {
    let n = d.whole + d.shortened + d.no_result + d.no_match + d.scan;
    if n == 0 {
        return String::new();
    }
    let scan = if d.scan > 0 {
        format!(", {} SCAN (result from the recording)", d.scan)
    } else {
        String::new()
    };
    format!(
        "; {n} DMA transfers: {} whole, {} shortened to the recorded result, {} without result ahead, {} unmatched{scan}",
        d.whole, d.shortened, d.no_result, d.no_match
    )
}

pub fn run_points(args: PointsArgs) -> anyhow::Result<i32> {
    let PointsFormat::Jsonl = args.format;
    let mut w = output::Output::create(args.output.as_deref())?;
    let progress = Progress::traces("points", std::slice::from_ref(&args.trace), args.quiet);
    let r = match &args.machine {
        MachineArg::Model => progress
            .open(&args.trace)
            .map_err(ReplayError::from)
            .and_then(|reader| write_points_from(&args.trace, reader, &mut w))
            .map(drop)
            .map_err(|e| e.to_string()),
        m @ MachineArg::Qemu(_) => {
            let (mut r, reader) = qemu_replay(&args.trace, &m.qemu_binary(), &progress)?;
            write_machine_points_from(&args.trace, reader, &mut r, args.every, &mut w)
                .map(|s| {
                    progress.println(&format!(
                        "{}: {} points sampled on QEMU, {} agree with the model",
                        args.trace.display(),
                        s.sampled,
                        s.agree
                    ))
                })
                .map_err(|e| e.to_string())
        }
    };
    progress.finish();
    // A failed write is the output's error, whatever the replay made of it.
    w.finish()?;
    match r {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("fdc-replay points: {e}");
            Ok(1)
        }
    }
}
