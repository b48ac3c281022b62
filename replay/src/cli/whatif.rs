//! `fdc-replay whatif`: at every migration point, what a destination loaded without a
//! subsection would do (see [`crate::analysis::whatif`]).

use super::analysis::{inputs, pool, ReportFormat, EXIT_NOTHING};
use super::progress::{Again, Progress};
use crate::analysis::check::check_reader_as;
use crate::analysis::verdict::{ClosedOutcomes, TraceReadDifference, WhatifSummary};
use crate::analysis::whatif::closed::{
    controls, migrate, planned_controls, planned_runs, tally, ClosedLoop, ClosedLoopOptions,
    ClosedRun,
};
use crate::analysis::whatif::engine::TraceWhatif;
use crate::analysis::whatif::render::{render, render_closed, render_migrations, render_policy};
use crate::analysis::whatif::summary::{
    guest_totals, policy_rows, profile_share, summarize, version_migration, Policy, PolicyRow,
};
use crate::analysis::whatif::REGISTER_NAMES;
use crate::analysis::whatif::{whatif_reader, WhatifOptions};
use crate::drivermodel::workloads::WORKLOADS;
use clap::Args;
use fdc::{Profile, Subsection};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// The model's implementation profile: qemu-7.2, qemu-7.2-no-rqm-fix (the 2015 "Fix
    /// MSR.RQM flag" change undone) or qemu-2.3 (no phase field, no fdc/* or
    /// fdrive/perpendicular subsections). The traces were recorded on QEMU 7.2: under
    /// another profile some recorded reads get other values (the guest would have seen
    /// those), and the replay goes on with the recorded writes (open loop). The summary's
    /// profile table and version migrations cover all three whatever this says.
    #[arg(long, default_value = crate::analysis::whatif::summary::PROFILE)]
    pub profile: String,
    /// Instead of dropping subsections: the migration from --profile into this version at
    /// every point (the destination is a device of it loaded with its load rules; refused
    /// where the source sends a subsection it does not know). Prints that migration's
    /// row of the summary's migration table, or with --points its records (subsection
    /// `none (control)`: nothing dropped).
    #[arg(long, value_name = "P", conflicts_with_all = ["drop", "policy", "closed_loop"])]
    pub into: Option<String>,
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
    /// within 20x the port accesses of the run without migration, plus a million). Also
    /// the migrations between versions (`--drop backward`, `--drop forward`): the driver
    /// starts on QEMU 7.2 (2.3), which is replaced by a QEMU 2.3 (7.2) device loaded from
    /// its state, at an access where nothing 2.3 (7.2) does not know is sent, and is
    /// compared with its run without migration on 7.2 (2.3). Takes no PATH.
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

/// Runs the what-if over `paths` on `jobs` threads, each file opened once
/// ([`trace_whatif`], with the profile replays and version migrations when `versions`);
/// results in path order.
pub fn whatif_all(
    paths: &[PathBuf],
    opts: &WhatifOptions,
    jobs: Option<usize>,
    quiet: bool,
    versions: bool,
) -> anyhow::Result<Vec<Result<(TraceWhatif, Versions), String>>> {
    let pool = pool(jobs)?;
    let progress = Progress::events("whatif (traces)", Some(paths.len() as u64), quiet);
    let opener = Progress::hidden();
    let out = pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                let r = opener
                    .open_again(p)
                    .map_err(|e| e.to_string())
                    .and_then(|(_, mut again)| trace_whatif(p, &mut again, opts, versions));
                progress.inc(1);
                r
            })
            .collect()
    });
    progress.finish();
    Ok(out)
}

/// One trace's replays for the profile table and the version migrations (beside its
/// what-if, read from the same open file); all `None` and empty when not asked for.
#[derive(Default)]
pub struct Versions {
    /// Backward QEMU 7.2 -> 2.3 (source under `qemu-7.2`), with `versions`.
    pub backward: Option<TraceWhatif>,
    /// Forward QEMU 2.3 -> 7.2 (source under `qemu-2.3`), with `versions`.
    pub forward: Option<TraceWhatif>,
    /// A plain replay under `qemu-7.2-no-rqm-fix`, with `versions`, unless the what-if's
    /// own profile is that one.
    pub no_rqm: Option<TraceWhatif>,
    /// Per profile ([`Profile::ALL`] order), the first recorded read it answers
    /// otherwise (the `check` of the trace under it), with `versions`.
    pub first_reads: Vec<Option<TraceReadDifference>>,
}

/// The what-if of the trace `p` as `opts` asks and, with `versions`, its [`Versions`]:
/// every pass reads the trace again through `again` (one open).
pub fn trace_whatif(
    p: &Path,
    again: &mut Again,
    opts: &WhatifOptions,
    versions: bool,
) -> Result<(TraceWhatif, Versions), String> {
    let mut run = |o: &WhatifOptions| {
        again
            .reader()
            .map_err(crate::analysis::ReplayError::from)
            .and_then(|r| whatif_reader(p, r, o))
            .map_err(|e| format!("what-if: {e}"))
    };
    let main = run(opts)?;
    let mut t = Versions::default();
    if !versions {
        return Ok((main, t));
    }
    let plain = |profile: Profile, into: Option<Profile>| WhatifOptions {
        subsections: Vec::new(),
        keep_points: false,
        control: into.is_some(),
        profile,
        into,
    };
    t.backward = Some(run(&plain(Profile::Qemu72, Some(Profile::Qemu23)))?);
    t.forward = Some(run(&plain(Profile::Qemu23, Some(Profile::Qemu72)))?);
    if opts.profile != Profile::Qemu72NoRqmFix {
        t.no_rqm = Some(run(&plain(Profile::Qemu72NoRqmFix, None))?);
    }
    for profile in Profile::ALL {
        let c = again
            .reader()
            .map_err(crate::analysis::ReplayError::from)
            .and_then(|r| check_reader_as(p, r, 1, 0, profile))
            .map_err(|e| format!("check under {}: {e}", profile.name()))?;
        t.first_reads
            .push(c.first.first().map(|m| TraceReadDifference {
                trace: p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
                event: m.index,
                register: REGISTER_NAMES[usize::from(m.offset & 7)].into(),
                recorded: m.recorded,
                model: m.model,
            }));
    }
    Ok((main, t))
}

/// The names `--profile` accepts.
fn profile_names() -> String {
    let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
    names.join(", ")
}

/// Fills `summary`'s profile table (all three profiles) and version migrations
/// (backward QEMU 7.2 -> 2.3, forward 2.3 -> 7.2) from the traces' [`Versions`]: each
/// profile's share comes from a run whose source replays under it (`main`, the what-if
/// itself, for `main_profile`).
pub fn add_versions(
    summary: &mut WhatifSummary,
    main: &[TraceWhatif],
    traces: &[Versions],
    main_profile: Profile,
) {
    let pick = |f: &dyn Fn(&Versions) -> Option<&TraceWhatif>| -> Vec<&TraceWhatif> {
        traces.iter().filter_map(f).collect()
    };
    let main: Vec<&TraceWhatif> = main.iter().collect();
    let backward = pick(&|t| t.backward.as_ref());
    let forward = pick(&|t| t.forward.as_ref());
    let no_rqm = pick(&|t| t.no_rqm.as_ref());
    summary.profiles = Profile::ALL
        .into_iter()
        .enumerate()
        .map(|(k, p)| {
            let runs: &[&TraceWhatif] = match p {
                _ if p == main_profile => &main,
                Profile::Qemu72 => &backward,
                Profile::Qemu23 => &forward,
                Profile::Qemu72NoRqmFix => &no_rqm,
            };
            let reads = traces
                .iter()
                .filter_map(|t| t.first_reads.get(k).cloned().flatten())
                .collect();
            profile_share(p, runs, reads)
        })
        .collect();
    summary.migrations = vec![
        version_migration("backward", Profile::Qemu72, Profile::Qemu23, &backward),
        version_migration("forward", Profile::Qemu23, Profile::Qemu72, &forward),
    ];
}

/// The report's analysis of `paths` and, from the same open file, the what-if of every
/// subsection of each trace the analysis accepted, with its profile replays and version
/// migrations ([`trace_whatif`]): a file the what-if refuses is a bad file (with the
/// reason), so the analysis and the what-if count the same traces.
pub fn analyze_with_whatif(
    paths: &[PathBuf],
    pool: &rayon::ThreadPool,
    progress: &Progress,
) -> (
    Vec<super::analysis::Analyzed>,
    Vec<TraceWhatif>,
    Vec<Versions>,
) {
    let opts = WhatifOptions::default();
    let then = |p: &Path, again: &mut Again| trace_whatif(p, again, &opts, true);
    let mut results = Vec::new();
    let mut whatifs = Vec::new();
    let mut versions = Vec::new();
    for r in super::analysis::analyze_all_then(paths, pool, progress, &then) {
        match r {
            Ok((a, (w, v))) => {
                results.push(Ok(a));
                whatifs.push(w);
                versions.push(v);
            }
            Err(e) => results.push(Err(e)),
        }
    }
    (results, whatifs, versions)
}

/// The what-if summary for the report of the traces [`analyze_with_whatif`] gave: every
/// subsection, real outcomes from `corpora/whatif/runs`, every profile and both version
/// migrations, and the closed loop at up to `closed` migrations per workload and
/// subsection unless `None`.
pub fn report_summary(
    traces: &[TraceWhatif],
    versions: &[Versions],
    jobs: Option<usize>,
    closed: Option<usize>,
) -> anyhow::Result<WhatifSummary> {
    let real = crate::analysis::whatif::real::load_default(None)?;
    let mut summary = summarize(traces, &real);
    add_versions(&mut summary, traces, versions, Profile::Qemu72);
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
    let n = planned_controls(opts);
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

/// The closed loop's options for `--drop` `names` (subsections, and in the closed loop
/// also `backward` and `forward`, the migrations between versions; none: all of them).
fn closed_targets(
    workloads: Vec<String>,
    names: &[String],
    points: usize,
) -> anyhow::Result<ClosedLoopOptions> {
    let mut opts = ClosedLoopOptions {
        workloads,
        ..ClosedLoopOptions::all(points)
    };
    if names.is_empty() {
        return Ok(opts);
    }
    let (versions, subs): (Vec<String>, Vec<String>) = names
        .iter()
        .cloned()
        .partition(|n| n == "backward" || n == "forward");
    opts.subsections = if subs.is_empty() {
        Vec::new()
    } else {
        parse_drops(&subs)?
    };
    opts.versions
        .retain(|t| versions.iter().any(|n| n == t.name()));
    Ok(opts)
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
    let opts = closed_targets(workloads, &args.drop, args.migrations)?;
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

/// `whatif --into`: the migration from `profile` into `into` over `traces`, as `format`.
fn migration_text(
    traces: &[TraceWhatif],
    profile: Profile,
    into: Profile,
    format: ReportFormat,
) -> anyhow::Result<String> {
    let run: Vec<&TraceWhatif> = traces.iter().collect();
    let m = version_migration(&format!("{profile} -> {into}"), profile, into, &run);
    Ok(match format {
        ReportFormat::Json => serde_json::to_string_pretty(&m)? + "\n",
        f => render_migrations(std::slice::from_ref(&m), f == ReportFormat::Markdown),
    })
}

/// The `whatif` summary of `traces` (with the profile table and version migrations from
/// `versions`, and the policy rows `args` asks for), as `args.format`.
fn summary_text(
    args: &WhatifArgs,
    traces: &[TraceWhatif],
    versions: &[Versions],
    profile: Profile,
) -> anyhow::Result<String> {
    // The real outcomes were measured on QEMU 7.2.
    let real = if profile == Profile::Qemu72 {
        crate::analysis::whatif::real::load_default(args.real.as_deref())?
    } else {
        Default::default()
    };
    let mut summary = summarize(traces, &real);
    add_versions(&mut summary, traces, versions, profile);
    let rows = args
        .policy
        .map(|p| policy_rows(&summary, &guest_totals(traces), p));
    Ok(match args.format {
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
    })
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

/// The profile named `name`.
fn parse_profile(name: &str) -> anyhow::Result<Profile> {
    Profile::from_name(name)
        .ok_or_else(|| anyhow::anyhow!("{name:?}: not a profile (one of {})", profile_names()))
}

pub fn run(args: WhatifArgs) -> anyhow::Result<i32> {
    let profile = parse_profile(&args.profile).map_err(|e| anyhow::anyhow!("--profile {e}"))?;
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
    let into = args
        .into
        .as_deref()
        .map(|n| parse_profile(n).map_err(|e| anyhow::anyhow!("--into {e}")))
        .transpose()?;
    let opts = WhatifOptions {
        subsections: if into.is_some() {
            Vec::new()
        } else {
            parse_drops(&args.drop)?
        },
        keep_points: args.points,
        control: into.is_some(),
        profile,
        into,
    };
    let versions = !args.points && into.is_none();
    let results = whatif_all(&paths, &opts, args.jobs, args.quiet, versions)?;
    let mut traces = Vec::new();
    let mut versions = Vec::new();
    let mut bad = found.bad.len();
    for r in results {
        match r {
            Ok((t, v)) => {
                traces.push(t);
                versions.push(v);
            }
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
        let text = match into {
            Some(into) => migration_text(&traces, profile, into, args.format)?,
            None => summary_text(&args, &traces, &versions, profile)?,
        };
        so.write_all(text.as_bytes())?;
    }
    so.flush()?;
    Ok(if bad == 0 { 0 } else { 1 })
}
