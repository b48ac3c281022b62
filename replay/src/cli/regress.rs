//! `fdc-replay regress`: replays the corpus and compares every statistic of the report and
//! every conformance figure (reads checked, mismatches, DMA counts chosen) with a stored
//! baseline; a model change that moves any number fails with a readable diff.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::{json, Value};

use super::analysis::{analyze_all_then, default_corpora, inputs, pool, EXIT_NOTHING};
use super::progress::{Again, Progress};
use super::whatif::trace_whatif;
use crate::analysis::check::{check_reader, CheckResult};
use crate::analysis::report::Report;
use crate::analysis::whatif::WhatifOptions;
use crate::analysis::ReplayError;

#[derive(Args, Debug)]
pub struct RegressArgs {
    /// Trace files or directories (searched recursively for *.fdctrace; `-`: standard
    /// input), relative to the current directory. Default: ./corpora when it exists,
    /// else the corpora/ of the source tree this binary was built from.
    pub paths: Vec<PathBuf>,
    /// The baseline to compare with (relative to the current directory). Default:
    /// baseline.json in the default corpora directory (./corpora when it exists, else the
    /// source tree's), whichever traces are given.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Rewrite the baseline with the current numbers instead of comparing.
    #[arg(long)]
    pub update: bool,
    /// Worker threads, 1 to 1024 (default: all cores; at most 4 per core are started; the
    /// numbers are the same for any value).
    #[arg(short = 'j', long = "jobs", value_parser = super::jobs_parser())]
    pub jobs: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The current figures: the JSON report plus, per trace, the `check` conformance counts.
/// Each trace is opened once and read for the report, the what-if (with its profile
/// replays and version migrations) and the check.
pub fn current(paths: &[PathBuf], jobs: Option<usize>, quiet: bool) -> anyhow::Result<Value> {
    let pool = pool(jobs)?;
    let progress = Progress::traces("regress", paths, quiet);
    let opts = WhatifOptions::default();
    let then = |p: &Path, again: &mut Again| {
        let w = trace_whatif(p, again, &opts, true)?;
        let c = again
            .reader()
            .map_err(ReplayError::from)
            .and_then(|r| check_reader(p, r, 0, 0))
            .map_err(|e| e.to_string())?;
        Ok((w, c))
    };
    let all = analyze_all_then(paths, &pool, &progress, &then);
    progress.finish();
    let mut results = Vec::new();
    let mut whatifs = Vec::new();
    let mut versions = Vec::new();
    let mut checks = Vec::new();
    for (p, r) in paths.iter().zip(all) {
        let name = p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match r {
            Ok((a, ((w, v), c))) => {
                results.push(Ok(a));
                whatifs.push(w);
                versions.push(v);
                checks.push(check_json(&name, &c));
            }
            Err((file, reason)) => {
                checks.push(json!({ "trace": name, "error": reason }));
                results.push(Err((file, reason)));
            }
        }
    }
    let mut report = Report::build(&results);
    let closed = Some(crate::analysis::whatif::closed::DEFAULT_POINTS);
    report.whatif = Some(super::whatif::report_summary(
        &whatifs, &versions, jobs, closed,
    )?);
    let report: Value = serde_json::to_value(report)?;
    Ok(json!({ "report": report, "check": checks }))
}

/// The conformance counts of one trace, as the baseline stores them.
fn check_json(name: &str, c: &CheckResult) -> Value {
    json!({
        "trace": name, "events": c.events, "reads": c.reads, "mismatches": c.mismatches,
        "not_checkable": c.not_checkable,
        "dma": { "whole": c.dma.whole, "shortened": c.dma.shortened,
                 "no_result": c.dma.no_result, "no_match": c.dma.no_match,
                 "scan": c.dma.scan },
        "migration_points": { "points": c.migrations.points, "agree": c.migrations.agree,
                              "sent": c.migrations.sent },
    })
}

/// Every leaf that differs, as `path: baseline -> now` lines.
pub fn diff(base: &Value, now: &Value, path: &str, out: &mut Vec<String>) {
    match (base, now) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => diff(va, vb, &p, out),
                    None => out.push(format!("{p}: {} -> (missing)", brief(va))),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(format!("{path}.{k}: (missing) -> {}", brief(vb)));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(va), Some(vb)) => diff(va, vb, &p, out),
                    (Some(va), None) => out.push(format!("{p}: {} -> (missing)", brief(va))),
                    (None, Some(vb)) => out.push(format!("{p}: (missing) -> {}", brief(vb))),
                    (None, None) => {}
                }
            }
        }
        _ if base != now => out.push(format!("{path}: {} -> {}", brief(base), brief(now))),
        _ => {}
    }
}

/// The conformance failures of `now` (a baseline never accepts one): traces whose check
/// failed, has a mismatching read or a recorded migration point the model disagrees with.
pub fn failures(now: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in now["check"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = c["trace"].as_str().unwrap_or("?");
        if let Some(e) = c["error"].as_str() {
            out.push(format!("{name}: {e}"));
            continue;
        }
        let mism = c["mismatches"].as_u64().unwrap_or(0);
        if mism > 0 {
            out.push(format!("{name}: {mism} reads differ from the model"));
        }
        let mp = &c["migration_points"];
        let (points, agree) = (
            mp["points"].as_u64().unwrap_or(0),
            mp["agree"].as_u64().unwrap_or(0),
        );
        if agree < points {
            out.push(format!(
                "{name}: {} of {points} recorded migration points disagree with the model",
                points - agree
            ));
        }
    }
    out
}

/// `recorded migration points: N in K traces, agree M` (`None` without any).
fn migration_summary(now: &Value) -> Option<String> {
    let (mut points, mut agree, mut traces) = (0, 0, 0);
    for c in now["check"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let p = c["migration_points"]["points"].as_u64().unwrap_or(0);
        if p > 0 {
            traces += 1;
            points += p;
            agree += c["migration_points"]["agree"].as_u64().unwrap_or(0);
        }
    }
    (points > 0)
        .then(|| format!("recorded migration points: {points} in {traces} traces, agree {agree}"))
}

/// Reads the baseline: JSON with the `report` and `check` of [`current`].
fn read_baseline(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let base: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON baseline", path.display()))?;
    if !(base.get("report").is_some_and(Value::is_object)
        && base.get("check").is_some_and(Value::is_array))
    {
        anyhow::bail!(
            "{}: not a regress baseline (expected an object with a `report` object and a `check` list; \
rewrite it with `fdc-replay regress --update`)",
            path.display()
        );
    }
    Ok(base)
}

/// Renames every path under `dir` in `v` to `corpora/...`, as it is named from the
/// directory that holds `dir` (the baseline's names do not depend on the current one).
fn stable_paths(v: &mut Value, dir: &Path) {
    let prefix = format!("{}/", dir.display());
    if prefix == "corpora/" {
        return;
    }
    match v {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(&prefix) {
                *s = format!("corpora/{rest}");
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| stable_paths(x, dir)),
        Value::Object(m) => m.values_mut().for_each(|x| stable_paths(x, dir)),
        _ => {}
    }
}

/// `v` as JSON, shortened to a summary when long (a diff line stays one line).
fn brief(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 120 {
        return s;
    }
    match v {
        Value::Object(m) => format!("{{...{} keys}}", m.len()),
        Value::Array(a) => format!("[...{} items]", a.len()),
        _ => format!(
            "{}... ({} bytes)",
            s.chars().take(100).collect::<String>(),
            s.len()
        ),
    }
}

pub fn run(args: RegressArgs) -> anyhow::Result<i32> {
    let (found, shown) = inputs(&args.paths);
    if found.is_empty() {
        eprintln!("fdc-replay regress: no *.fdctrace traces under {shown}");
        return Ok(EXIT_NOTHING);
    }
    found.warn_duplicates("regress");
    if let Some((p, e)) = found.bad.first() {
        anyhow::bail!("{}: {e} (regress needs every input readable)", p.display());
    }
    let paths = found.traces;
    let baseline = args
        .baseline
        .clone()
        .unwrap_or_else(|| default_corpora().join("baseline.json"));
    let base = if args.update {
        None
    } else {
        Some(read_baseline(&baseline)?)
    };
    let mut now = current(&paths, args.jobs, args.quiet)?;
    if args.paths.is_empty() {
        // The source tree's corpora, used from elsewhere: named as from the source tree.
        stable_paths(&mut now, &default_corpora());
    }
    let text = serde_json::to_string_pretty(&now)? + "\n";
    if let Some(summary) = migration_summary(&now) {
        crate::outln!("{summary}")?;
    }
    let failed = failures(&now);
    if !failed.is_empty() {
        crate::outln!(
            "{} conformance failure(s) (a baseline never accepts one; `fdc-replay check` shows them):",
            failed.len()
        )?;
        for f in &failed {
            crate::outln!("  {f}")?;
        }
        return Ok(1);
    }
    let Some(base) = base else {
        std::fs::write(&baseline, text)
            .with_context(|| format!("writing {}", baseline.display()))?;
        crate::outln!(
            "{}: baseline rewritten from {} traces",
            baseline.display(),
            paths.len()
        )?;
        return Ok(0);
    };
    let mut out = Vec::new();
    diff(&base, &now, "$", &mut out);
    if out.is_empty() {
        crate::outln!(
            "{} traces: every statistic and conformance figure equals {}",
            paths.len(),
            baseline.display()
        )?;
        Ok(0)
    } else {
        crate::outln!(
            "{} figure(s) moved against {} (baseline -> now):",
            out.len(),
            baseline.display()
        )?;
        for line in out.iter().take(200) {
            crate::outln!("  {line}")?;
        }
        if out.len() > 200 {
            crate::outln!("  ... and {} more", out.len() - 200)?;
        }
        crate::outln!(
            "If the change is intended, rewrite the baseline with `fdc-replay regress --update`."
        )?;
        Ok(1)
    }
}
