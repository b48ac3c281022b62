//! `fdc-replay whatif`: at every migration point, what a destination loaded without a
//! subsection would do (see [`crate::analysis::whatif`]).

use super::analysis::{inputs, pool, ReportFormat, EXIT_NOTHING};
use super::progress::{Again, Progress};
use crate::analysis::verdict::{ClosedOutcomes, WhatifSummary};
use crate::analysis::whatif::closed::{
    controls, migrate, planned_runs, tally, ClosedLoop, ClosedLoopOptions, ClosedRun,
};
use crate::analysis::whatif::engine::TraceWhatif;
use crate::analysis::whatif::render::{render, render_closed, render_policy};
use crate::analysis::whatif::summary::{guest_totals, policy_rows, summarize, Policy, PolicyRow};
use crate::analysis::whatif::{whatif_file, whatif_reader, WhatifOptions};
use crate::drivermodel::workloads::WORKLOADS;
use clap::Args;
use fdc::Subsection;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct WhatifArgs {
    /// Trace files or directories (searched recursively for *.fdctrace). Default: corpora/
    pub paths: Vec<PathBuf>,
    /// A subsection to drop (repeatable; default: each of the six, one at a time), e.g.
    /// `fdrive/media_changed`.
    #[arg(long = "drop", value_name = "S")]
    pub drop: Vec<String>,
    /// Also print the probabilities of a policy: (a) prevalent-state subsection, (b) tied
    /// to the machine type, (c) both.
    #[arg(long, value_enum)]
    pub policy: Option<Policy>,
    /// The model's implementation profile.
    #[arg(long, default_value = crate::analysis::whatif::summary::PROFILE)]
    pub profile: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Worker threads (default: all cores). The output is the same for any value.
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
    /// Print one JSON line per point and subsection instead of the summary (index, t_ns,
    /// subsection, class, first_difference, reconverged_after_events; plus the trace).
    #[arg(long)]
    pub points: bool,
    /// Real-guest outcome records (default: corpora/whatif/runs when it exists).
    #[arg(long, value_name = "DIR")]
    pub real: Option<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Closed loop instead of the traces: run the Windows 2000 driver model's workloads on
    /// the model, migrate once (without the subsection) at a port access where QEMU sends
    /// it, and report what the driver does compared with the run without migration:
    /// carries_on, retries (extra retries, commands and guest time), error (reported to
    /// the workload), data_corruption (the workload's data checks fail), hang (no end
    /// within 20x the port accesses of the run without migration, plus a million).
    /// Takes no PATH.
    #[arg(long, conflicts_with_all = ["paths", "points", "policy", "real"])]
    pub closed_loop: bool,
    /// With --closed-loop: a workload of the driver model (repeatable; default: all of
    /// boot-empty, boot-disk, dir, copy, setup-4-disks, format).
    #[arg(long, value_name = "W", requires = "closed_loop")]
    pub workload: Vec<String>,
    /// With --closed-loop: migrations per workload and subsection, at most, evenly spaced
    /// over the port accesses where QEMU sends the subsection in the run without
    /// migration (the first such access always among them).
    #[arg(long, value_name = "N", requires = "closed_loop",
          default_value_t = crate::analysis::whatif::closed::DEFAULT_POINTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    pub migrations: usize,
}

/// The subsections `names` asks for (all six when empty).
pub fn parse_drops(names: &[String]) -> anyhow::Result<Vec<Subsection>> {
    if names.is_empty() {
        return Ok(Subsection::ALL.to_vec());
    }
    let mut out = Vec::new();
    for n in names {
        let s = Subsection::from_name(n).ok_or_else(|| {
            let all: Vec<&str> = Subsection::ALL.iter().map(|s| s.name()).collect();
            anyhow::anyhow!("--drop {n:?}: not a subsection (one of {})", all.join(", "))
        })?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.sort();
    Ok(out)
}

/// Runs the what-if over `paths` on `jobs` threads; results in path order.
pub fn whatif_all(
    paths: &[PathBuf],
    opts: &WhatifOptions,
    jobs: Option<usize>,
    quiet: bool,
) -> anyhow::Result<Vec<Result<TraceWhatif, String>>> {
    let pool = pool(jobs)?;
    let progress = Progress::events("whatif (traces)", Some(paths.len() as u64), quiet);
    let out = pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                let r = whatif_file(p, opts).map_err(|e| e.to_string());
                progress.inc(1);
                r
            })
            .collect()
    });
    progress.finish();
    Ok(out)
}

/// The report's analysis of `paths` and, from the same open file, the what-if of every
/// subsection of each trace the analysis accepted: a file the what-if refuses is a bad
/// file (with the reason), so the analysis and the what-if count the same traces.
pub fn analyze_with_whatif(
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> (Vec<super::analysis::Analyzed>, Vec<TraceWhatif>) {
    let opts = WhatifOptions::default();
    let then = |p: &std::path::Path, again: &mut Again| {
        let r = again.reader().map_err(crate::analysis::ReplayError::from);
        r.and_then(|r| whatif_reader(p, r, &opts))
            .map_err(|e| format!("what-if: {e}"))
    };
    let mut results = Vec::new();
    let mut whatifs = Vec::new();
    for r in super::analysis::analyze_all_then(paths, pool, progress, &then) {
        match r {
            Ok((a, w)) => {
                results.push(Ok(a));
                whatifs.push(w);
            }
            Err(e) => results.push(Err(e)),
        }
    }
    (results, whatifs)
}

/// The what-if summary for the report of the traces [`analyze_with_whatif`] gave: every
/// subsection, real outcomes from `corpora/whatif/runs`, and the closed loop at up to
/// `closed` migrations per workload and subsection unless `None`.
pub fn report_summary(
    traces: &[TraceWhatif],
    jobs: Option<usize>,
    closed: Option<usize>,
) -> anyhow::Result<WhatifSummary> {
    let real = crate::analysis::whatif::real::load_default(None)?;
    let mut summary = summarize(traces, &real);
    if let Some(points) = closed {
        let cl = closed_loop_all(&ClosedLoopOptions::all(points), jobs, true)?;
        summary.set_closed_loop(&tally(&cl));
    }
    Ok(summary)
}

/// Runs the closed loop of `opts` on `jobs` threads (progress bar unless `quiet`); the
/// result is the same for any number of threads.
pub fn closed_loop_all(
    opts: &ClosedLoopOptions,
    jobs: Option<usize>,
    quiet: bool,
) -> anyhow::Result<ClosedLoop> {
    let pool = pool(jobs)?;
    let fail = |e: std::io::Error| anyhow::anyhow!("closed loop (driver model): {e}");
    let n = opts.workloads.len() as u64;
    let progress = Progress::events("closed loop: runs without migration", Some(n), quiet);
    let controls = pool
        .install(|| controls(opts, &|| progress.inc(1)))
        .map_err(fail)?;
    progress.finish();
    let n = planned_runs(&controls, opts);
    let progress = Progress::events("closed loop: migrated runs", Some(n), quiet);
    let cl = pool
        .install(|| migrate(&controls, opts, &|| progress.inc(1)))
        .map_err(fail)?;
    progress.finish();
    Ok(cl)
}

#[derive(Serialize)]
struct ClosedJson<'a> {
    points: usize,
    subsections: &'a BTreeMap<String, ClosedOutcomes>,
    runs: &'a [ClosedRun],
}

/// `whatif --closed-loop`.
fn run_closed(args: &WhatifArgs) -> anyhow::Result<i32> {
    let workloads = if args.workload.is_empty() {
        ClosedLoopOptions::all(args.migrations).workloads
    } else {
        let mut w = Vec::new();
        for n in &args.workload {
            if !WORKLOADS.iter().any(|(k, _)| k == n) {
                let all: Vec<&str> = WORKLOADS.iter().map(|(k, _)| *k).collect();
                anyhow::bail!(
                    "--workload {n:?}: not a workload (one of {})",
                    all.join(", ")
                );
            }
            if !w.contains(n) {
                w.push(n.clone());
            }
        }
        w
    };
    let opts = ClosedLoopOptions {
        workloads,
        subsections: parse_drops(&args.drop)?,
        points: args.migrations,
    };
    let cl = closed_loop_all(&opts, args.jobs, args.quiet)?;
    let tallied = tally(&cl);
    let text = match args.format {
        ReportFormat::Json => {
            let j = ClosedJson {
                points: cl.points,
                subsections: &tallied,
                runs: &cl.runs,
            };
            serde_json::to_string_pretty(&j)? + "\n"
        }
        f => render_closed(&tallied, f == ReportFormat::Markdown),
    };
    let mut so = std::io::BufWriter::new(std::io::stdout().lock());
    so.write_all(text.as_bytes())?;
    so.flush()?;
    Ok(0)
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    summary: &'a WhatifSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'a [PolicyRow]>,
}

fn write_points(traces: &[TraceWhatif], w: &mut dyn Write) -> anyhow::Result<()> {
    for t in traces {
        let trace = t.path.display().to_string();
        for r in &t.records {
            let mut v = serde_json::to_value(r)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("trace".into(), trace.clone().into());
            }
            writeln!(w, "{}", serde_json::to_string(&v)?)?;
        }
    }
    Ok(())
}

pub fn run(args: WhatifArgs) -> anyhow::Result<i32> {
    if args.profile != crate::analysis::whatif::summary::PROFILE {
        anyhow::bail!("--profile {:?}: the only profile is qemu-7.2", args.profile);
    }
    if args.closed_loop {
        return run_closed(&args);
    }
    let (found, shown) = inputs(&args.paths);
    found.warn_duplicates("whatif");
    for (p, e) in &found.bad {
        eprintln!("fdc-replay whatif: bad file: {}: {e}", p.display());
    }
    let paths = found.traces;
    if paths.is_empty() {
        eprintln!("fdc-replay whatif: no *.fdctrace traces under {shown}");
        return Ok(EXIT_NOTHING);
    }
    let opts = WhatifOptions {
        subsections: parse_drops(&args.drop)?,
        keep_points: args.points,
        control: false,
    };
    let results = whatif_all(&paths, &opts, args.jobs, args.quiet)?;
    let mut traces = Vec::new();
    let mut bad = found.bad.len();
    for r in results {
        match r {
            Ok(t) => traces.push(t),
            Err(e) => {
                bad += 1;
                eprintln!("fdc-replay whatif: bad file: {e}");
            }
        }
    }
    let mut so = std::io::BufWriter::new(std::io::stdout().lock());
    if args.points {
        write_points(&traces, &mut so)?;
    } else {
        let real = crate::analysis::whatif::real::load_default(args.real.as_deref())?;
        let summary = summarize(&traces, &real);
        let rows = args
            .policy
            .map(|p| policy_rows(&summary, &guest_totals(&traces), p));
        let text = match args.format {
            ReportFormat::Json => {
                let j = JsonOut {
                    summary: &summary,
                    policy: rows.as_deref(),
                };
                serde_json::to_string_pretty(&j)? + "\n"
            }
            f => {
                let md = f == ReportFormat::Markdown;
                let mut s = render(&summary, md);
                if let Some(rows) = &rows {
                    s.push_str(&render_policy(rows, md));
                }
                s
            }
        };
        so.write_all(text.as_bytes())?;
    }
    so.flush()?;
    Ok(if bad == 0 { 0 } else { 1 })
}
