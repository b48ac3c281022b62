//! `fdc-replay merge` (the report of several reports' JSON together) and `report
//! --shard K/N` (a deterministic subset of the inputs): a corpus too large for one
//! machine runs as N independent `report --shard K/N --format json` jobs, and `merge`
//! of their outputs is byte-identical to one run over the whole corpus, in every format.

use super::analysis::ReportFormat;
use crate::analysis::report::Report;
use clap::Args;
use std::path::PathBuf;
use std::str::FromStr;

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// Reports written by `fdc-replay report --format json` (or by `merge --format json`).
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Shard `k` of `n` (1-based): input `i` (0-based, in the order the inputs are listed:
/// paths as given, directories walked in sorted order) belongs to shard `i % n + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse::<usize>().map_err(|_| bad())?,
            n.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// The inputs of this shard, in their order.
    pub fn select<T>(&self, paths: Vec<T>) -> Vec<T> {
        paths
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.n + 1 == self.k)
            .map(|(_, p)| p)
            .collect()
    }
}

/// The report rendered in `format`.
pub fn render(report: &Report, format: ReportFormat) -> String {
    match format {
        ReportFormat::Table => report.render(false),
        ReportFormat::Markdown => report.render(true),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Html => report.to_html(),
    }
}

pub fn run(args: MergeArgs) -> anyhow::Result<i32> {
    let report = match Report::merge_files(&args.reports) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fdc-replay merge: {e}");
            return Ok(1);
        }
    };
    super::output::write_all(args.output.as_deref(), &render(&report, args.format))?;
    for b in &report.bad_files {
        eprintln!("fdc-replay merge: bad file: {}", b.error);
    }
    Ok(if report.bad_files.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_inputs() {
        assert_eq!("2/4".parse(), Ok(Shard { k: 2, n: 4 }));
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let paths: Vec<PathBuf> = (0..10).map(|i| PathBuf::from(format!("t{i}"))).collect();
        let mut all: Vec<PathBuf> = (1..=3)
            .flat_map(|k| Shard { k, n: 3 }.select(paths.clone()))
            .collect();
        assert_eq!(Shard { k: 1, n: 3 }.select(paths.clone()).len(), 4);
        all.sort();
        let mut want = paths.clone();
        want.sort();
        assert_eq!(all, want);
    }
}
