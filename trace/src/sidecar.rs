//! The `LOG.events.jsonl` sidecar: stage markers and media changes recorded by the host
//! harness next to a QEMU log, on the log's clock.
//!
//! One JSON object per line (blank lines are ignored):
//!
//! ```text
//! {"t": 1795642276.5, "marker": "copy files"}
//! {"t": 1795642280.25, "media": {"drive": 0, "action": "eject"}}
//! {"t": 1795642281.0, "media": {"drive": 0, "action": "insert", "size": "720K", "ro": false}}
//! ```
//!
//! `t` is host seconds since the Unix epoch (the clock QEMU's `-msg timestamp=on` uses);
//! it is rounded to the microsecond, the resolution of QEMU's timestamps (an `f64` holds
//! no more than about a quarter of a microsecond at today's epoch values anyway).
//! `size` is a format name from the geometry table or a byte count (string or number).

use crate::format::{MediaChange, MAX_LABEL_BYTES, MAX_MEDIUM_BYTES};
use crate::geometry;
use crate::lines::{read_line_capped, FileLineError, LineError};
use serde::Deserialize;
use std::path::Path;

/// What a sidecar line says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarKind {
    /// A stage marker with its label.
    Marker(String),
    /// A media change.
    Media {
        /// The drive, 0 or 1.
        drive: u8,
        /// What happened.
        change: MediaChange,
    },
}

/// One sidecar line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarEvent {
    /// Host time, nanoseconds since the Unix epoch (a whole number of microseconds).
    pub unix_ns: u64,
    /// 1-based line number in the sidecar, for error messages.
    pub line: usize,
    /// What happened.
    pub kind: SidecarKind,
}

/// Unknown fields are ignored: recorders add their own (e.g. `image_sha256` of an
/// inserted image), and an importer should not refuse them.
#[derive(Deserialize)]
struct RawLine {
    t: f64,
    #[serde(default)]
    marker: Option<String>,
    #[serde(default)]
    media: Option<RawMedia>,
}

#[derive(Deserialize)]
struct RawMedia {
    drive: u8,
    action: String,
    #[serde(default)]
    size: Option<serde_json::Value>,
    #[serde(default, alias = "read_only")]
    ro: Option<bool>,
}

/// Largest sidecar time in host seconds: its nanoseconds must fit in a u64.
pub const MAX_SIDECAR_T: f64 = 1.8e10;

/// Highest drive unit a sidecar may name: QEMU's floppy controller has drives 0 and 1.
pub const MAX_SIDECAR_DRIVE: u8 = 1;

/// Parses one sidecar line (not blank). Errors say what is wrong, not where.
pub fn parse_sidecar_line(text: &str) -> Result<(u64, SidecarKind), LineError> {
    parse(text).map_err(LineError)
}

fn parse(text: &str) -> Result<(u64, SidecarKind), String> {
    let raw: RawLine =
        serde_json::from_str(text).map_err(|e| format!("invalid sidecar line: {e}"))?;
    // Nanoseconds since the epoch must fit in u64: up to ~1.8e10 s (year 2554); a larger
    // `t` once overflowed the multiplication below (found by the trace_decode fuzzer).
    if !raw.t.is_finite() || raw.t < 0.0 || raw.t > MAX_SIDECAR_T {
        return Err(format!(
            "`t` must be host seconds since the epoch (at most {MAX_SIDECAR_T:e}), not {}",
            raw.t
        ));
    }
    // In range by the check above, so neither the cast nor the product can overflow.
    let unix_ns = (raw.t * 1e6).round() as u64 * 1000;
    let kind = match (raw.marker, raw.media) {
        (Some(_), Some(_)) => return Err("a line has either `marker` or `media`, not both".into()),
        (None, None) => return Err("a line needs `marker` or `media`".into()),
        (Some(label), None) => {
            let label = label.trim().to_string();
            if label.is_empty() {
                return Err("empty `marker` label".into());
            }
            if label.len() > MAX_LABEL_BYTES {
                return Err(format!(
                    "`marker` label is longer than {MAX_LABEL_BYTES} bytes"
                ));
            }
            SidecarKind::Marker(label)
        }
        (None, Some(m)) => {
            if m.drive > MAX_SIDECAR_DRIVE {
                return Err(format!(
                    "drive {} is out of range 0..={MAX_SIDECAR_DRIVE}",
                    m.drive
                ));
            }
            let change = match m.action.as_str() {
                "eject" => {
                    if m.size.is_some() {
                        return Err("`eject` takes no `size`".into());
                    }
                    MediaChange::Eject
                }
                "insert" => {
                    let size = match &m.size {
                        None => {
                            return Err(
                                "`insert` needs a `size` (e.g. \"1.44M\" or a byte count)".into()
                            )
                        }
                        Some(serde_json::Value::String(s)) => {
                            geometry::parse_size(s).map(|p| p.0).ok_or_else(|| {
                                format!("unknown size {s:?} (use e.g. 1.44M, 720K or a byte count)")
                            })?
                        }
                        Some(serde_json::Value::Number(n)) => n
                            .as_u64()
                            .ok_or_else(|| format!("size {n} is not a byte count"))?,
                        Some(other) => {
                            return Err(format!(
                                "size {other} is neither a format name nor a byte count"
                            ))
                        }
                    };
                    if size == 0 || size > MAX_MEDIUM_BYTES {
                        return Err(format!("size {size} is out of range"));
                    }
                    MediaChange::Insert {
                        size,
                        read_only: m.ro.unwrap_or(false),
                    }
                }
                other => {
                    return Err(format!(
                        "unknown media action {other:?} (expected \"eject\" or \"insert\")"
                    ))
                }
            };
            SidecarKind::Media {
                drive: m.drive,
                change,
            }
        }
    };
    Ok((unix_ns, kind))
}

/// Reads a sidecar file, returning its events sorted by time (stably: lines with equal
/// times keep their order). Errors name the file and line.
pub fn read_sidecar(path: &Path) -> Result<Vec<SidecarEvent>, FileLineError> {
    let f = std::fs::File::open(path).map_err(|source| FileLineError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    parse_sidecar(&mut std::io::BufReader::new(f), path)
}

/// [`read_sidecar`] over the sidecar's text from `reader` (`path` names it in errors).
pub fn parse_sidecar(
    mut reader: &mut dyn std::io::BufRead,
    path: &Path,
) -> Result<Vec<SidecarEvent>, FileLineError> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        line_no += 1;
        let fail = |msg: String| FileLineError::Line {
            path: path.to_path_buf(),
            line: line_no,
            msg,
        };
        let n =
            read_line_capped(&mut reader, &mut buf, 1 << 20).map_err(|e| fail(e.to_string()))?;
        let Some(truncated) = n else { break };
        if truncated {
            return Err(fail("line is longer than 1 MiB".into()));
        }
        let text = std::str::from_utf8(&buf).map_err(|_| fail("line is not UTF-8".into()))?;
        if text.trim().is_empty() {
            continue;
        }
        let (unix_ns, kind) = parse_sidecar_line(text).map_err(|e| fail(e.0))?;
        out.push(SidecarEvent {
            unix_ns,
            line: line_no,
            kind,
        });
    }
    out.sort_by_key(|e| e.unix_ns);
    Ok(out)
}
