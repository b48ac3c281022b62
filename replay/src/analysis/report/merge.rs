//! The report's JSON (schema `fdc-replay-report`, see `docs/report-json.md`) and the
//! merge of several of them: the JSON carries every trace's record (integer counts), so
//! the report of the merged records is exactly the report of one run over all inputs.

use super::record::TraceRecord;
use super::verdict_block::VerdictSummary;
use super::{BadFile, Report};
use crate::analysis::verdict::WhatifSummary;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The `schema` field of a report's JSON.
pub const SCHEMA: &str = "fdc-replay-report";

/// The `version` field: 2 added `schema`, `version`, `summary` and `inputs` (version 1
/// had none of them and cannot be merged).
pub const VERSION: u32 = 2;

#[derive(Serialize)]
struct JsonOut<'a> {
    schema: &'static str,
    version: u32,
    summary: VerdictSummary,
    #[serde(flatten)]
    report: &'a Report,
    inputs: &'a [TraceRecord],
}

#[derive(Deserialize)]
struct JsonIn {
    schema: Option<String>,
    version: Option<u32>,
    #[serde(default)]
    inputs: Vec<TraceRecord>,
    #[serde(default)]
    bad_files: Vec<BadFile>,
    #[serde(default)]
    whatif: Option<WhatifSummary>,
}

/// Why reports cannot be merged. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The file cannot be read.
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a report's JSON (or not one this version reads).
    #[error("{}: {what}", file.display())]
    Format { file: PathBuf, what: String },
    /// The same trace is in two inputs.
    #[error("{}: trace {trace} is also in {}", file.display(), first.display())]
    Duplicate {
        file: PathBuf,
        first: PathBuf,
        trace: String,
    },
}

impl Report {
    /// The JSON rendering: `schema`, `version`, the verdict `summary`, every figure of the
    /// report, and the trace records under `inputs`.
    pub fn to_json(&self) -> String {
        let out = JsonOut {
            schema: SCHEMA,
            version: VERSION,
            summary: VerdictSummary::of(self, self.whatif.as_ref()),
            report: self,
            inputs: &self.records,
        };
        let mut s = serde_json::to_string_pretty(&out)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }

    /// The report of several reports' inputs together (files are reports' JSON). The
    /// what-if summaries, where present, are merged with [`WhatifSummary::merge`].
    pub fn merge_files(files: &[PathBuf]) -> Result<Report, MergeError> {
        let mut inputs = Vec::new();
        let mut seen: std::collections::BTreeMap<String, PathBuf> = Default::default();
        let mut whatif: Option<WhatifSummary> = None;
        for f in files {
            let one = read_one(f)?;
            let paths = one
                .inputs
                .iter()
                .map(|t| t.path.clone())
                .chain(one.bad_files.iter().map(|b| b.path.clone()));
            for p in paths {
                if let Some(first) = seen.insert(p.clone(), f.clone()) {
                    return Err(MergeError::Duplicate {
                        file: f.clone(),
                        first,
                        trace: p,
                    });
                }
            }
            inputs.extend(one.inputs.into_iter().map(Ok));
            inputs.extend(one.bad_files.into_iter().map(Err));
            match (&mut whatif, one.whatif) {
                (Some(w), Some(o)) => w.merge(&o),
                (w @ None, o) => *w = o,
                (Some(_), None) => {}
            }
        }
        let mut r = Report::from_records(inputs);
        r.whatif = whatif;
        Ok(r)
    }
}

fn read_one(f: &Path) -> Result<JsonIn, MergeError> {
    let text = std::fs::read_to_string(f).map_err(|source| MergeError::Io {
        file: f.to_path_buf(),
        source,
    })?;
    let format = |what: String| MergeError::Format {
        file: f.to_path_buf(),
        what,
    };
    let j: JsonIn = serde_json::from_str(&text).map_err(|e| {
        format(format!(
            "not a report's JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    if j.schema.as_deref() != Some(SCHEMA) {
        return Err(format(format!(
            "schema is {:?}, not {SCHEMA:?}: not the JSON of `fdc-replay report --format json`",
            j.schema
        )));
    }
    if j.version != Some(VERSION) {
        return Err(format(format!(
            "version {:?}; this fdc-replay reads version {VERSION} (re-run the report with it)",
            j.version
        )));
    }
    for t in &j.inputs {
        t.validate().map_err(format)?;
    }
    Ok(j)
}
