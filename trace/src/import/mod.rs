//! The importer of QEMU `-trace fdc_*` logs (the library behind `fdc-replay import
//! qemu-log`).
//!
//! Each log is read twice: a first pass checks every line (so a malformed log fails
//! before any output is created) and learns what the header must say (clock, whether
//! data reads need the image); the second pass streams events into the writer. Neither
//! pass holds the log in memory.
//!
//! Event times: with timestamps, t = 0 is the earliest of the first log event and the
//! first sidecar event, and times are host nanoseconds after that. A time that goes
//! backwards (host clock stepped) is held at the previous event's time and counted in
//! the header notes. Without timestamps, events are 1 µs apart (the header's clock says
//! `synthetic`) and a sidecar cannot be placed, so it is refused.
//!
//! Sidecar merge order: a sidecar event at the same microsecond as a log event goes
//! *before* it. A marker announces a stage that the port accesses of that instant belong
//! to, and a media change at time t is visible to an access at t.

mod drives;
mod error;
mod pass;

pub use drives::{DriveSetup, MediumSetup};
pub use error::ImportError;
pub use pass::{PassStats, MAX_LOG_LINE, SYNTHETIC_STEP_NS};

use crate::error::TraceError;
use crate::format::*;
use crate::sidecar::{read_sidecar, SidecarEvent, SidecarKind};
use crate::writer::{TraceWriter, WriteOptions};
use pass::run_pass;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// File extension of traces written by the importer.
pub const TRACE_EXTENSION: &str = "fdctrace";

/// When to store a drive image's content in the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Embed {
    /// When the log contains a command that reads the medium (read data, read track,
    /// verify, scan...).
    Auto,
    /// Whenever a drive is given as an image file.
    Always,
    /// Never: the trace keeps the image's size and digest only.
    Never,
}

/// Everything an import needs besides the log.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The recorded machine's drives.
    pub drives: [DriveSetup; 2],
    /// Guest operating system.
    pub guest: Option<String>,
    /// Guest operating system version.
    pub guest_version: Option<String>,
    /// What the guest was doing.
    pub workload: Option<String>,
    /// Where the log came from.
    pub provenance: ProvenanceKind,
    /// QEMU version that wrote the log.
    pub qemu_version: Option<String>,
    /// How the log was recorded (free text, e.g. the command line).
    pub recorder: Option<String>,
    /// When to keep image file content in the trace.
    pub embed: Embed,
    /// Gzip-compress the trace body.
    pub gzip: bool,
    /// Merge `LOG.events.jsonl` when it exists.
    pub sidecar: bool,
    /// The importing tool, recorded in the header's provenance.
    pub tool: PackageVersion,
}

/// What an import wrote.
#[derive(Clone, Debug)]
pub struct ImportSummary {
    /// The counts of the pass that wrote the trace.
    pub stats: PassStats,
    /// The header written.
    pub header: TraceHeader,
}

/// The sidecar of `log`: `LOG.events.jsonl`.
pub fn sidecar_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_os_string();
    s.push(".events.jsonl");
    PathBuf::from(s)
}

/// Where the traces of `logs` go: with one log, `output` is a file or an existing
/// directory; with several, a directory (created here). Without `output`, beside each
/// log, `.log` replaced by `.fdctrace`.
pub fn output_paths(logs: &[PathBuf], output: Option<&Path>) -> Result<Vec<PathBuf>, ImportError> {
    let several = logs.len() > 1;
    if several {
        if let Some(out) = output {
            if out.exists() && !out.is_dir() {
                return Err(ImportError::Output(format!(
                    "{}: with several LOGs, -o must be a directory",
                    out.display()
                )));
            }
            std::fs::create_dir_all(out).map_err(|source| ImportError::Io {
                path: out.to_path_buf(),
                source,
            })?;
        }
    }
    let mut outputs: Vec<PathBuf> = Vec::new();
    for log in logs {
        let out = output_path(log, output, several)?;
        if outputs.contains(&out) {
            return Err(ImportError::Output(format!(
                "{}: two logs would be written to {}; rename one",
                log.display(),
                out.display()
            )));
        }
        outputs.push(out);
    }
    Ok(outputs)
}

fn output_path(log: &Path, output: Option<&Path>, several: bool) -> Result<PathBuf, ImportError> {
    let name = log
        .file_name()
        .ok_or_else(|| ImportError::Output(format!("{}: not a file name", log.display())))?
        .to_string_lossy()
        .into_owned();
    let base = name
        .strip_suffix(".log")
        .filter(|s| !s.is_empty())
        .unwrap_or(&name);
    let stem = format!("{base}.{TRACE_EXTENSION}");
    Ok(match output {
        None => log.with_file_name(stem),
        Some(out) if several || out.is_dir() => out.join(stem),
        Some(out) => out.to_path_buf(),
    })
}

/// Imports `log` into the trace `out`: validates the whole log first, then writes a
/// temporary file beside `out` and renames it into place, so a failed import leaves no
/// half-written trace.
pub fn import_log(
    log: &Path,
    out: &Path,
    opts: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    import_log_with(log, out, opts, &mut |_| {})
}

/// Where an import stands, for a progress display: told after every event of each pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportProgress {
    /// 1: reading and validating the log; 2: writing the trace.
    pub pass: u8,
    /// Events of this pass so far.
    pub events: u64,
    /// The events pass 2 writes (known from pass 1); `None` in pass 1.
    pub total: Option<u64>,
}

/// [`import_log`], calling `progress` after every event of both passes.
pub fn import_log_with(
    log: &Path,
    out: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(ImportProgress),
) -> Result<ImportSummary, ImportError> {
    let sc_path = sidecar_path(log);
    let sidecar = if opts.sidecar && sc_path.exists() {
        read_sidecar(&sc_path)?
    } else {
        Vec::new()
    };
    check_sidecar_drives(&sidecar, &sc_path, &opts.drives)?;
    // Pass 1: validate and learn what the header needs.
    let mut at = ImportProgress {
        pass: 1,
        events: 0,
        total: None,
    };
    let stats = run_pass(log, &sidecar, &sc_path, &mut |_| {
        at.events += 1;
        progress(at);
        Ok(())
    })?;
    let header = header(log, opts, &stats);
    let mut at = ImportProgress {
        pass: 2,
        events: 0,
        total: Some(stats.events),
    };
    let mut counted = || {
        at.events += 1;
        progress(at);
    };
    let stats = write_trace(
        log,
        out,
        &sidecar,
        &sc_path,
        &header,
        opts.gzip,
        &mut counted,
    )?;
    Ok(ImportSummary { stats, header })
}

/// Media changes of the sidecar need a drive in their slot.
fn check_sidecar_drives(
    sidecar: &[SidecarEvent],
    sc_path: &Path,
    drives: &[DriveSetup; 2],
) -> Result<(), ImportError> {
    for e in sidecar {
        if let SidecarKind::Media { drive, .. } = e.kind {
            if matches!(drives[usize::from(drive)], DriveSetup::Absent) {
                return Err(ImportError::Line {
                    at: format!("{}:{}", sc_path.display(), e.line),
                    msg: format!(
                        "drive {drive} is absent (configure it with --drive {drive}=empty or a size)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The notes a pass's oddities deserve in the header.
fn notes(stats: &PassStats) -> Vec<String> {
    let mut notes = Vec::new();
    if stats.timed == Some(false) {
        notes.push(format!(
            "the log has no timestamps: events are given synthetic times {SYNTHETIC_STEP_NS} ns apart"
        ));
    }
    if stats.clamped > 0 {
        notes.push(format!("{} events had times before their predecessor (host clock stepped?) and were held at it", stats.clamped));
    }
    if stats.suspicious > 0 {
        notes.push(format!(
            "{} lines mention fdc_ioport_ but were not recognised and were skipped",
            stats.suspicious
        ));
    }
    if stats.serial_divisor_bytes > 0 {
        notes.push(format!(
            "{} serial bytes written with the divisor latch enabled were skipped",
            stats.serial_divisor_bytes
        ));
    }
    if stats.serial_overlong_lines > 0 {
        notes.push(format!(
            "{} over-long serial lines were skipped",
            stats.serial_overlong_lines
        ));
    }
    notes
}

/// The header drives, noting images whose content is not kept.
fn drives(opts: &ImportOptions, data_read: bool, notes: &mut Vec<String>) -> Vec<Drive> {
    let mut drives = Vec::new();
    for (unit, d) in opts.drives.iter().enumerate() {
        let DriveSetup::Present { drive_type, medium } = d else {
            continue;
        };
        let medium = medium.as_ref().map(|m| {
            let embed = m.image.is_some()
                && match opts.embed {
                    Embed::Always => true,
                    Embed::Never => false,
                    Embed::Auto => data_read,
                };
            if m.image.is_some() && !embed {
                notes.push(format!(
                    "drive {unit}: image content not kept (only its digest)"
                ));
            }
            Medium {
                format: m.format.map(str::to_string),
                size: m.size,
                read_only: m.read_only,
                digest: m.image.as_deref().map(ImageDigest::of),
                embedded: false,
                image: if embed { m.image.clone() } else { None },
            }
        });
        drives.push(Drive {
            unit: unit as u8,
            drive_type: *drive_type,
            medium,
        });
    }
    drives
}

/// The trace header of `log`, from the options and what pass 1 found.
fn header(log: &Path, opts: &ImportOptions, stats: &PassStats) -> TraceHeader {
    let mut notes = notes(stats);
    let clock = match (stats.timed, stats.origin) {
        (Some(true), Some(origin)) => Clock::Host {
            origin_unix_ns: origin,
        },
        _ => Clock::Synthetic {
            step_ns: SYNTHETIC_STEP_NS,
        },
    };
    let drives = drives(opts, stats.data_read, &mut notes);
    TraceHeader {
        guest: opts.guest.clone(),
        guest_version: opts.guest_version.clone(),
        workload: opts.workload.clone(),
        provenance: Provenance {
            kind: opts.provenance,
            recorder: opts.recorder.clone(),
            packages: vec![opts.tool.clone()],
        },
        qemu_version: opts.qemu_version.clone(),
        drives,
        clock,
        source: Some(log.display().to_string()),
        notes,
    }
}

/// Pass 2: writes the trace to a temporary file beside `out`, renamed into place on
/// success (removed on failure).
fn write_trace(
    log: &Path,
    out: &Path,
    sidecar: &[SidecarEvent],
    sc_path: &Path,
    header: &TraceHeader,
    gzip: bool,
    counted: &mut dyn FnMut(),
) -> Result<PassStats, ImportError> {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImportError::Io { path, source }
    };
    let result = (|| {
        let opts = WriteOptions {
            gzip,
            ..WriteOptions::default()
        };
        // Named after the output: the temporary file is an implementation detail.
        let file = File::create(&tmp).map_err(io(out))?;
        let named = |e: TraceError| e.with_file(Some(out));
        let mut writer = TraceWriter::new(BufWriter::new(file), header, opts).map_err(named)?;
        let st = run_pass(log, sidecar, sc_path, &mut |ev| {
            counted();
            writer.write_event(ev).map_err(|e| named(e).into())
        })?;
        writer.finish().map_err(named)?;
        std::fs::rename(&tmp, out).map_err(io(out))?;
        Ok(st)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
