//! `fdc-replay regress`: replays the corpus and compares every statistic of the report and
//! every conformance figure (reads checked, mismatches, DMA counts chosen) with a stored
//! baseline; a model change that moves any number fails with a readable diff.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::analysis::{analyze_all, inputs, pool, progress, EXIT_NOTHING};
use crate::analysis::check::check_file_with;
use crate::analysis::report::Report;

#[derive(Args, Debug)]
pub struct RegressArgs {
    /// Trace files or directories (searched recursively for *.fdctrace). Default: corpora/
    pub paths: Vec<PathBuf>,
    /// The baseline to compare with.
    #[arg(long, default_value = "corpora/baseline.json")]
    pub baseline: PathBuf,
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
pub fn current(paths: &[PathBuf], jobs: Option<usize>, quiet: bool) -> anyhow::Result<Value> {
    let pool = pool(jobs)?;
    let pb = progress(paths.len() * 2, quiet, "regress");
    let results = analyze_all(paths, &pool, pb.as_ref());
    let report: Value = serde_json::to_value(Report::build(&results))?;
    let checks: Vec<Value> = pool.install(|| {
        paths
            .par_iter()
            .map(|p| {
                if let Some(pb) = &pb {
                    pb.inc(1);
                }
                let name = p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
                match check_file_with(p, 0, 0) {
                    Ok(c) => json!({
                        "trace": name, "events": c.events, "reads": c.reads, "mismatches": c.mismatches,
                        "dma": { "whole": c.dma.whole, "shortened": c.dma.shortened,
                                 "no_result": c.dma.no_result, "no_match": c.dma.no_match },
                    }),
                    Err(e) => json!({ "trace": name, "error": e.to_string() }),
                }
            })
            .collect()
    });
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(json!({ "report": report, "check": checks }))
}

/// Every leaf that differs, as `path: baseline -> now` lines.
pub fn diff(base: &Value, now: &Value, path: &str, out: &mut Vec<String>) {
    match (base, now) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => diff(va, vb, &p, out),
                    None => out.push(format!("{p}: {va} -> (missing)")),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(format!("{path}.{k}: (missing) -> {vb}"));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let p = format!("{path}[{i}]");
                match (a.get(i), b.get(i)) {
                    (Some(va), Some(vb)) => diff(va, vb, &p, out),
                    (Some(va), None) => out.push(format!("{p}: {va} -> (missing)")),
                    (None, Some(vb)) => out.push(format!("{p}: (missing) -> {vb}")),
                    (None, None) => {}
                }
            }
        }
        _ if base != now => out.push(format!("{path}: {base} -> {now}")),
        _ => {}
    }
}

pub fn run(args: RegressArgs) -> anyhow::Result<i32> {
    let (paths, shown) = inputs(&args.paths);
    if paths.is_empty() {
        eprintln!("fdc-replay regress: no *.fdctrace traces under {shown}");
        return Ok(EXIT_NOTHING);
    }
    let now = current(&paths, args.jobs, args.quiet)?;
    let text = serde_json::to_string_pretty(&now)? + "\n";
    if args.update {
        std::fs::write(&args.baseline, text)
            .with_context(|| format!("writing {}", args.baseline.display()))?;
        println!(
            "{}: baseline rewritten from {} traces",
            args.baseline.display(),
            paths.len()
        );
        return Ok(0);
    }
    let base_text = std::fs::read_to_string(&args.baseline)
        .with_context(|| format!("reading {}", args.baseline.display()))?;
    let base: Value = serde_json::from_str(&base_text)
        .with_context(|| format!("{}: not JSON", args.baseline.display()))?;
    let mut out = Vec::new();
    diff(&base, &now, "$", &mut out);
    if out.is_empty() {
        println!(
            "{} traces: every statistic and conformance figure equals {}",
            paths.len(),
            args.baseline.display()
        );
        Ok(0)
    } else {
        println!(
            "{} figure(s) moved against {} (baseline -> now):",
            out.len(),
            args.baseline.display()
        );
        for line in out.iter().take(200) {
            println!("  {line}");
        }
        if out.len() > 200 {
            println!("  ... and {} more", out.len() - 200);
        }
        println!(
            "If the change is intended, rewrite the baseline with `fdc-replay regress --update`."
        );
        Ok(1)
    }
}
