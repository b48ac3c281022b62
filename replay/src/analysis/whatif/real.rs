//! The real-guest outcome records (`corpora/whatif/runs/GUEST/ID.json`, schema
//! `fdc-whatif-real/1`, see `corpora/whatif/README.md`) counted per subsection: edited runs,
//! normal controls, outcome classes, per real guest. Bounded searches that never reached
//! the subsection (`"reached": false`) are not runs.
//!
//! Runs of an `add` edit (an `fdc/phase` added that disagrees with the MSR) are counted
//! under their subsection and again in `added`, and their guest key carries [`ADD_LABEL`],
//! so that tables show them as that experiment and the verdict leaves them out.

use crate::analysis::verdict::RealOutcomes;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Suffix of the guest key of runs that added a subsection instead of dropping it.
pub const ADD_LABEL: &str = " (added disagreeing fdc/phase)";

/// The record schema read here.
pub const SCHEMA: &str = "fdc-whatif-real/1";

/// Why the records cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RealError {
    /// A directory or file cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record is not valid JSON of the schema (line and column in the message).
    #[error("{}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
    /// A record of another schema.
    #[error("{}: schema {found:?}, expected {SCHEMA:?}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// Its schema.
        found: String,
    },
}

#[derive(Deserialize)]
struct Edit {
    #[serde(default)]
    op: Option<String>,
}

/// The fields of a record the counts need.
#[derive(Deserialize)]
struct Record {
    schema: String,
    subsection: String,
    guest: String,
    #[serde(default)]
    reached: bool,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    control_normal: bool,
    #[serde(default)]
    edit: Option<Edit>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RealError + '_ {
    move |source| RealError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every `*.json` one level below `dir` (`GUEST/ID.json`), sorted.
fn record_files(dir: &Path) -> Result<Vec<PathBuf>, RealError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let sub = e.map_err(io(dir))?.path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).map_err(io(&sub))? {
            let p = f.map_err(io(&sub))?.path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every record under `dir` and counts them per subsection name.
pub fn load(dir: &Path) -> Result<BTreeMap<String, RealOutcomes>, RealError> {
    let mut out: BTreeMap<String, RealOutcomes> = BTreeMap::new();
    for path in record_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let r: Record = serde_json::from_str(&text).map_err(|source| RealError::Json {
            path: path.clone(),
            source,
        })?;
        if r.schema != SCHEMA {
            return Err(RealError::Schema {
                path,
                found: r.schema,
            });
        }
        if !r.reached {
            continue;
        }
        let class = r.class.unwrap_or_else(|| "unclassified".into());
        let add = r.edit.and_then(|e| e.op).is_some_and(|op| op == "add");
        let guest = if add {
            format!("{}{ADD_LABEL}", r.guest)
        } else {
            r.guest
        };
        let o = out.entry(r.subsection).or_default();
        o.runs += 1;
        o.controls_normal += u64::from(r.control_normal);
        *o.classes.entry(class.clone()).or_insert(0) += 1;
        if add {
            *o.added.entry(class.clone()).or_insert(0) += 1;
        }
        *o.by_guest
            .entry(guest)
            .or_default()
            .entry(class)
            .or_insert(0) += 1;
    }
    Ok(out)
}

/// The records of `dir`, or of `corpora/whatif/runs` when `dir` is `None` (nothing when
/// that directory does not exist).
pub fn load_default(dir: Option<&Path>) -> Result<BTreeMap<String, RealOutcomes>, RealError> {
    match dir {
        Some(d) => load(d),
        None => {
            let d = crate::cli::analysis::default_corpora()
                .join("whatif")
                .join("runs");
            if d.is_dir() {
                load(&d)
            } else {
                Ok(BTreeMap::new())
            }
        }
    }
}
