//! `fdc-replay import qemu-log`: the command line of the importer ([`fdc_trace::import`]).

use super::progress::Progress;
use fdc_trace::import::{
    import_log_with, output_paths, DriveSetup, Embed, ImportOptions, ImportProgress, ImportSummary,
};
use fdc_trace::{Clock, PackageVersion, ProvenanceKind};
use std::path::{Path, PathBuf};

/// Provenance as given on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvenanceArg {
    /// Recorded from a real guest.
    Recorded,
    /// Produced by a scripted guest (driver model).
    DriverModel,
}

/// When to store a drive image's content in the trace.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbedArg {
    /// When the log contains a command that reads the medium (read data, read track,
    /// verify, scan...).
    Auto,
    /// Whenever a drive is given as an image file.
    Always,
    /// Never: the trace keeps the image's size and digest only.
    Never,
}

/// Import QEMU `-trace fdc_*` logs into fdc-replay traces.
#[derive(clap::Args, Debug)]
#[command(after_long_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// QEMU log files (written with `-trace 'fdc_*'`, optionally `-trace serial_write`,
    /// with or without `-msg timestamp=on`).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,

    /// Output trace. With one LOG: a file (or an existing directory to write into).
    /// With several LOGs: a directory (created if needed), one trace per log named after
    /// it. Default: beside each LOG, its name with `.log` replaced by `.fdctrace`.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Drive configuration, repeatable: `N=SPEC[,ro][,type=auto|144|288|120]` with N 0 or 1
    /// and SPEC one of: a size (1.44M, 720K, 2.88M, 1.2M, 360K, 1.68M, 1.72M, 820K, ... or a
    /// byte count), `none` (no drive), `empty` (drive without medium), or an image file
    /// path (a size name wins over a file of that name: write `./720K`). Default: 0=1.44M,
    /// 1=none (what `-drive if=floppy` gives).
    #[arg(long = "drive", value_name = "N=SPEC")]
    pub drives: Vec<String>,

    /// Guest operating system.
    #[arg(long)]
    pub guest: Option<String>,
    /// Guest operating system version.
    #[arg(long)]
    pub guest_version: Option<String>,
    /// What the guest was doing.
    #[arg(long)]
    pub workload: Option<String>,
    /// Where the log came from.
    #[arg(long, value_enum, default_value = "recorded")]
    pub provenance: ProvenanceArg,
    /// QEMU version that wrote the log.
    #[arg(long)]
    pub qemu_version: Option<String>,
    /// How the log was recorded (free text, e.g. the command line).
    #[arg(long)]
    pub recorder: Option<String>,
    /// When to keep image file content in the trace.
    #[arg(long, value_enum, default_value = "auto")]
    pub embed: EmbedArg,
    /// Write the trace body uncompressed.
    #[arg(long)]
    pub no_gzip: bool,
    /// Ignore LOG.events.jsonl sidecar files.
    #[arg(long)]
    pub no_sidecar: bool,
    /// Print no summary.
    #[arg(short, long)]
    pub quiet: bool,
}

const IMPORT_HELP: &str = "\
Lines understood (any of QEMU's prefixes: none, `PID@SECONDS.MICROS:`, an ISO-8601
timestamp, a `program:` prefix):
  fdc_ioport_read read reg 0xRR val 0xVV      -> port read  (reg 0..7, val 0..0xff)
  fdc_ioport_write write reg 0xRR val 0xVV    -> port write
  serial_write write addr 0xAA val 0xVV       -> UART text; a line `MARK <stage>` becomes
                                                 a stage marker at its newline's time
Other lines are skipped; a malformed fdc line is an error naming file:line.
Without timestamps, events are given synthetic times 1 us apart.

Sidecar: if LOG.events.jsonl exists, each line is
  {\"t\": SECONDS, \"marker\": \"label\"}  or
  {\"t\": SECONDS, \"media\": {\"drive\": 0, \"action\": \"eject\"|\"insert\", \"size\": \"720K\"}}
with t on the log's clock (host seconds since the epoch); its events are merged by
time, before log events of the same microsecond.

Several LOGs: -o must be a directory; each LOG gives OUT/NAME.fdctrace, NAME being the
log's file name without a `.log` extension.";

impl ImportArgs {
    /// The importer's options (the drive table parsed, image files read).
    fn options(&self) -> anyhow::Result<ImportOptions> {
        Ok(ImportOptions {
            drives: DriveSetup::table(&self.drives)?,
            guest: self.guest.clone(),
            guest_version: self.guest_version.clone(),
            workload: self.workload.clone(),
            provenance: match self.provenance {
                ProvenanceArg::Recorded => ProvenanceKind::Recorded,
                ProvenanceArg::DriverModel => ProvenanceKind::DriverModel,
            },
            qemu_version: self.qemu_version.clone(),
            recorder: self.recorder.clone(),
            embed: match self.embed {
                EmbedArg::Auto => Embed::Auto,
                EmbedArg::Always => Embed::Always,
                EmbedArg::Never => Embed::Never,
            },
            gzip: !self.no_gzip,
            sidecar: !self.no_sidecar,
            tool: PackageVersion {
                name: env!("CARGO_PKG_NAME").into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
        })
    }
}

/// Entry point of `fdc-replay import qemu-log`.
pub fn run(args: ImportArgs) -> anyhow::Result<i32> {
    let opts = args.options()?;
    let outputs = output_paths(&args.logs, args.output.as_deref())?;
    for (log, out) in args.logs.iter().zip(&outputs) {
        let summary = import_one(log, out, &opts, args.quiet)?;
        if !args.quiet {
            print_summary(log, out, &summary);
        }
    }
    Ok(0)
}

/// Imports one log with a progress bar per pass (events checked, then events written).
fn import_one(
    log: &Path,
    out: &Path,
    opts: &ImportOptions,
    quiet: bool,
) -> anyhow::Result<ImportSummary> {
    let mut bar: Option<(u8, Progress)> = None;
    let summary = import_log_with(log, out, opts, &mut |p: ImportProgress| {
        if bar.as_ref().map(|b| b.0) != Some(p.pass) {
            if let Some((_, b)) = &bar {
                b.finish();
            }
            let what = if p.pass == 1 { "reading" } else { "writing" };
            let label = format!("import {}: {what}", log.display());
            bar = Some((p.pass, Progress::events(&label, p.total, quiet)));
        }
        if let Some((_, b)) = &bar {
            b.inc(1);
        }
    });
    if let Some((_, b)) = &bar {
        b.finish();
    }
    Ok(summary?)
}

fn print_summary(log: &Path, out: &Path, s: &ImportSummary) {
    let st = &s.stats;
    let synthetic = matches!(s.header.clock, Clock::Synthetic { .. });
    eprintln!(
        "{} -> {}: {} events ({} reads, {} writes, {} markers, {} media changes), duration {:.6} s{}",
        log.display(),
        out.display(),
        st.events,
        st.reads,
        st.writes,
        st.markers,
        st.media,
        st.last_t as f64 / 1e9,
        if synthetic { " (synthetic times)" } else { "" }
    );
    for n in &s.header.notes {
        eprintln!("  note: {n}");
    }
}
