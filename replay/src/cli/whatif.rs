//! `fdc-replay whatif`: at every migration point, what a destination loaded without a
//! subsection would do (see [`crate::analysis::whatif`]).

use super::analysis::{inputs, pool, ReportFormat, EXIT_NOTHING};
use super::progress::Progress;
use crate::analysis::check::check_reader_as;
use crate::analysis::verdict::{TraceReadDifference, WhatifSummary};
use crate::analysis::whatif::engine::TraceWhatif;
use crate::analysis::whatif::render::{render, render_policy};
use crate::analysis::whatif::summary::{
    guest_totals, policy_rows, profile_share, summarize, version_migration, Policy, PolicyRow,
};
use crate::analysis::whatif::REGISTER_NAMES;
use crate::analysis::whatif::{whatif_file, WhatifOptions};
use clap::Args;
use fdc::{Profile, Subsection};
use rayon::prelude::*;
use serde::Serialize;
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
    /// The model's implementation profile: qemu-7.2, qemu-7.2-no-rqm-fix (the 2015 "Fix
    /// MSR.RQM flag" change undone) or qemu-2.3 (no phase field, no fdc/* or
    /// fdrive/perpendicular subsections). The traces were recorded on QEMU 7.2: under
    /// another profile some recorded reads get other values (the guest would have seen
    /// those), and the replay goes on with the recorded writes (open loop). The summary's
    /// profile table and version migrations cover all three whatever this says.
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

/// The what-if summary of `paths` for the report (every subsection, real outcomes from
/// `corpora/whatif/runs`, every profile and both version migrations); files that cannot
/// be analysed are left out (the report lists them as bad files).
pub fn report_summary(paths: &[PathBuf], jobs: Option<usize>) -> anyhow::Result<WhatifSummary> {
    let opts = WhatifOptions::default();
    let traces = analysable(whatif_all(paths, &opts, jobs, true)?);
    let real = crate::analysis::whatif::real::load_default(None)?;
    let mut summary = summarize(&traces, &real);
    add_versions(&mut summary, paths, jobs, &traces, opts.profile, true)?;
    Ok(summary)
}

fn analysable(results: Vec<Result<TraceWhatif, String>>) -> Vec<TraceWhatif> {
    results.into_iter().filter_map(Result::ok).collect()
}

/// Per trace of `paths` (in path order) whose replay under `profile` answers some
/// recorded read otherwise: that first read (the `check` of the trace under the
/// profile; traces that cannot be read are left out, as the what-if leaves them out).
fn first_reads(
    paths: &[PathBuf],
    jobs: Option<usize>,
    profile: Profile,
) -> anyhow::Result<Vec<TraceReadDifference>> {
    let pool = pool(jobs)?;
    let found: Vec<Option<TraceReadDifference>> = pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                let reader = fdc_trace::TraceReader::open(p).ok()?;
                let c = check_reader_as(p, reader, 1, 0, profile).ok()?;
                let m = c.first.first()?;
                Some(TraceReadDifference {
                    trace: p.file_name().map_or_else(
                        || p.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    ),
                    event: m.index,
                    register: REGISTER_NAMES[usize::from(m.offset & 7)].into(),
                    recorded: m.recorded,
                    model: m.model,
                })
            })
            .collect()
    });
    Ok(found.into_iter().flatten().collect())
}

/// The names `--profile` accepts.
fn profile_names() -> String {
    let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
    names.join(", ")
}

/// Fills `summary`'s profile table (all three profiles) and version migrations
/// (backward QEMU 7.2 -> 2.3, forward 2.3 -> 7.2): one replay of every trace per
/// migration (the source under one profile, destinations of the other forked at every
/// point where they differ from it) and one plain replay under `qemu-7.2-no-rqm-fix`
/// unless `main` (the what-if run under `main_profile`) already is that. Each profile's
/// share comes from a run whose source replays under it.
pub fn add_versions(
    summary: &mut WhatifSummary,
    paths: &[PathBuf],
    jobs: Option<usize>,
    main: &[TraceWhatif],
    main_profile: Profile,
    quiet: bool,
) -> anyhow::Result<()> {
    let run = |profile: Profile, into: Option<Profile>| {
        let opts = WhatifOptions {
            subsections: Vec::new(),
            keep_points: false,
            control: into.is_some(),
            profile,
            into,
        };
        whatif_all(paths, &opts, jobs, quiet).map(analysable)
    };
    let backward = run(Profile::Qemu72, Some(Profile::Qemu23))?;
    let forward = run(Profile::Qemu23, Some(Profile::Qemu72))?;
    let no_rqm = if main_profile == Profile::Qemu72NoRqmFix {
        Vec::new()
    } else {
        run(Profile::Qemu72NoRqmFix, None)?
    };
    summary.profiles = Profile::ALL
        .into_iter()
        .map(|p| {
            let traces = match p {
                _ if p == main_profile => main,
                Profile::Qemu72 => &backward,
                Profile::Qemu23 => &forward,
                Profile::Qemu72NoRqmFix => &no_rqm,
            };
            Ok(profile_share(p, traces, first_reads(paths, jobs, p)?))
        })
        .collect::<anyhow::Result<_>>()?;
    summary.migrations = vec![
        version_migration("backward", Profile::Qemu72, Profile::Qemu23, &backward),
        version_migration("forward", Profile::Qemu23, Profile::Qemu72, &forward),
    ];
    Ok(())
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
    let Some(profile) = Profile::from_name(&args.profile) else {
        anyhow::bail!(
            "--profile {:?}: not a profile (one of {})",
            args.profile,
            profile_names()
        );
    };
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
        profile,
        into: None,
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
        // The real outcomes were measured on QEMU 7.2.
        let real = if profile == Profile::Qemu72 {
            crate::analysis::whatif::real::load_default(args.real.as_deref())?
        } else {
            Default::default()
        };
        let mut summary = summarize(&traces, &real);
        add_versions(
            &mut summary,
            &paths,
            args.jobs,
            &traces,
            profile,
            args.quiet,
        )?;
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
