//! `fdc-replay import qemu-log`: turns QEMU `-trace fdc_*` logs into traces.
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

use super::format::*;
use super::geometry;
use super::qemu_log::{parse_line, Parsed, Record};
use super::serial::SerialMarks;
use super::sidecar::{read_sidecar, SidecarEvent, SidecarKind};
use super::writer::{TraceWriter, WriteOptions};
use anyhow::{anyhow, bail, Context};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Synthetic spacing of events when the log has no timestamps.
pub const SYNTHETIC_STEP_NS: u64 = 1000;
/// Longest log line considered; longer lines are skipped (an fdc line never is that long).
pub const MAX_LOG_LINE: usize = 64 * 1024;
/// File extension of traces written by the importer.
pub const TRACE_EXTENSION: &str = "fdctrace";

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

    /// Drive configuration, repeatable: N=SPEC[,ro][,type=auto|144|288|120] with N 0 or 1
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

/// A drive as configured on the command line.
#[derive(Debug, Clone)]
enum DriveArg {
    Absent,
    Present {
        drive_type: DriveType,
        medium: Option<MediumArg>,
    },
}

#[derive(Debug, Clone)]
struct MediumArg {
    format: Option<&'static str>,
    size: u64,
    read_only: bool,
    /// Content of an image file given by path.
    image: Option<Vec<u8>>,
}

/// Parses `N=SPEC[,ro][,type=...]`.
fn parse_drive_arg(arg: &str) -> anyhow::Result<(u8, DriveArg)> {
    let (unit, spec) = arg
        .split_once('=')
        .ok_or_else(|| anyhow!("--drive {arg:?}: expected N=SPEC, e.g. 0=1.44M"))?;
    let unit: u8 = match unit.trim() {
        "0" => 0,
        "1" => 1,
        other => bail!("--drive {arg:?}: drive {other:?} is not 0 or 1 (QEMU's floppy controller has two drives)"),
    };
    // Options are the trailing comma-separated words we know; the rest is the SPEC, so
    // that a path containing commas still works.
    let mut main = spec;
    let mut read_only = false;
    let mut drive_type = DriveType::Auto;
    while let Some((head, opt)) = main.rsplit_once(',') {
        match opt.trim() {
            "ro" => read_only = true,
            "rw" => read_only = false,
            t if t.starts_with("type=") => {
                drive_type = match &t[5..] {
                    "auto" => DriveType::Auto,
                    "144" => DriveType::Fd144,
                    "288" => DriveType::Fd288,
                    "120" => DriveType::Fd120,
                    other => {
                        bail!("--drive {arg:?}: unknown drive type {other:?} (auto, 144, 288, 120)")
                    }
                }
            }
            _ => break,
        }
        main = head;
    }
    let main = main.trim();
    let drive = match main {
        "none" => DriveArg::Absent,
        "empty" => DriveArg::Present {
            drive_type,
            medium: None,
        },
        _ => {
            let medium = if let Some((size, format)) = geometry::parse_size(main) {
                if size == 0 || size > MAX_MEDIUM_BYTES {
                    bail!("--drive {arg:?}: size {size} is out of range 1..={MAX_MEDIUM_BYTES}");
                }
                MediumArg {
                    format,
                    size,
                    read_only,
                    image: None,
                }
            } else {
                let path = Path::new(main);
                let meta = std::fs::metadata(path).with_context(|| {
                    format!("--drive {arg:?}: {main:?} is neither a known size nor a readable file")
                })?;
                if meta.len() > MAX_MEDIUM_BYTES {
                    bail!(
                        "--drive {arg:?}: {} is {} bytes, more than {MAX_MEDIUM_BYTES}",
                        path.display(),
                        meta.len()
                    );
                }
                let data = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
                if data.is_empty() {
                    bail!("--drive {arg:?}: {} is empty", path.display());
                }
                let size = data.len() as u64;
                MediumArg {
                    format: geometry::by_size(size).map(|f| f.name),
                    size,
                    read_only,
                    image: Some(data),
                }
            };
            DriveArg::Present {
                drive_type,
                medium: Some(medium),
            }
        }
    };
    Ok((unit, drive))
}

/// The drive table: the default, overridden by `--drive` arguments.
fn drive_table(args: &[String]) -> anyhow::Result<[DriveArg; 2]> {
    let mut table = [
        DriveArg::Present {
            drive_type: DriveType::Auto,
            medium: Some(MediumArg {
                format: Some("1.44M"),
                size: 1_474_560,
                read_only: false,
                image: None,
            }),
        },
        DriveArg::Absent,
    ];
    for a in args {
        let (unit, d) = parse_drive_arg(a)?;
        table[usize::from(unit)] = d;
    }
    Ok(table)
}

/// Reads one line into `buf` (without the `\n`), keeping at most `cap` bytes of it.
/// Returns `None` at end of input, else whether the line was cut. Memory stays bounded
/// whatever the input's line lengths.
pub fn read_line_capped<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    let mut any = false;
    let mut truncated = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if any { Some(truncated) } else { None });
        }
        any = true;
        let (chunk, done, used) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], true, i + 1),
            None => (avail, false, avail.len()),
        };
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            truncated = true;
            buf.extend_from_slice(&chunk[..room]);
        } else {
            buf.extend_from_slice(chunk);
        }
        r.consume(used);
        if done {
            return Ok(Some(truncated));
        }
    }
}

/// Follows the FIFO byte stream just enough to tell whether a command that reads the
/// medium was issued, so that `--embed auto` keeps the image only when it matters.
/// Parameter bytes are skipped using the command lengths; after an unknown command it
/// waits for a result-phase FIFO read to find the next command byte. Errs towards
/// "yes": a false positive only costs a compressed image in the trace.
#[derive(Debug, Default)]
struct CommandTracker {
    params_left: u8,
    lost: bool,
    data_read: bool,
}

impl CommandTracker {
    fn write(&mut self, reg: u8, val: u8) {
        match reg {
            // DOR with the reset bit low, or DSR with the software reset bit: the
            // controller starts over.
            2 if val & 0x04 == 0 => {
                *self = CommandTracker {
                    data_read: self.data_read,
                    ..Default::default()
                }
            }
            4 if val & 0x80 != 0 => {
                *self = CommandTracker {
                    data_read: self.data_read,
                    ..Default::default()
                }
            }
            5 => {
                if self.params_left > 0 {
                    self.params_left -= 1;
                } else if !self.lost {
                    match command_length(val) {
                        Some(n) => self.params_left = n - 1,
                        None => self.lost = true,
                    }
                    if matches!(val & 0x1f, 0x02 | 0x06 | 0x0c | 0x11 | 0x16 | 0x19 | 0x1d) {
                        self.data_read = true;
                    }
                }
            }
            _ => {}
        }
    }

    fn read(&mut self, reg: u8) {
        if reg == 5 {
            self.params_left = 0;
            self.lost = false;
        }
    }
}

/// Bytes in a command (command byte included), for the 82078-style commands QEMU knows.
fn command_length(cmd: u8) -> Option<u8> {
    match cmd {
        0x0e | 0x10 | 0x14 | 0x94 | 0x18 | 0x2e | 0x08 => Some(1),
        0x4e => Some(17),
        0x8f | 0xcf => Some(3),
        _ => match cmd & 0x1f {
            0x02 | 0x05 | 0x06 | 0x09 | 0x0c | 0x11 | 0x16 | 0x19 | 0x1d => Some(9),
            0x03 | 0x0f => Some(3),
            0x04 | 0x07 | 0x0a | 0x12 | 0x17 => Some(2),
            0x0d => Some(6),
            0x13 => Some(4),
            _ => None,
        },
    }
}

/// What one pass over a log found.
#[derive(Debug, Default, Clone)]
struct PassStats {
    events: u64,
    reads: u64,
    writes: u64,
    markers: u64,
    media: u64,
    /// Host time of t = 0 (timed logs).
    origin: Option<u64>,
    /// Whether the log has timestamps (None: no fdc/serial line at all).
    timed: Option<bool>,
    last_t: u64,
    clamped: u64,
    suspicious: u64,
    serial_divisor_bytes: u64,
    serial_overlong_lines: u64,
    data_read: bool,
}

/// Runs one pass over `log`, merging `sidecar`, handing each event to `emit`.
fn run_pass(
    log: &Path,
    sidecar: &[SidecarEvent],
    sidecar_path: &Path,
    emit: &mut dyn FnMut(Event) -> anyhow::Result<()>,
) -> anyhow::Result<PassStats> {
    let f = std::fs::File::open(log).with_context(|| format!("{}", log.display()))?;
    let mut reader = BufReader::new(f);
    let mut st = PassStats::default();
    let mut marks = SerialMarks::new();
    let sidecar_has_markers = sidecar
        .iter()
        .any(|e| matches!(e.kind, SidecarKind::Marker(_)));
    let mut cmds = CommandTracker::default();
    let mut sc = sidecar.iter().peekable();
    let first_sidecar = sidecar.first().map(|e| e.unix_ns);
    let mut synth = 0u64;
    let mut buf = Vec::new();
    let mut line_no = 0usize;

    // Emits an event at relative time `t`, holding times from going backwards.
    let mut put = |st: &mut PassStats, ev: Event, t: u64| -> anyhow::Result<()> {
        let t = if t < st.last_t {
            st.clamped += 1;
            st.last_t
        } else {
            t
        };
        st.last_t = t;
        st.events += 1;
        match &ev {
            Event::PortRead { .. } => st.reads += 1,
            Event::PortWrite { .. } => st.writes += 1,
            Event::Stage { .. } => st.markers += 1,
            Event::Media { .. } => st.media += 1,
        }
        emit(ev.with_time(t))
    };
    let sidecar_event = |e: &SidecarEvent| match &e.kind {
        SidecarKind::Marker(label) => Event::Stage {
            t_ns: 0,
            label: label.clone(),
        },
        SidecarKind::Media { drive, change } => Event::Media {
            t_ns: 0,
            drive: *drive,
            change: change.clone(),
        },
    };

    loop {
        buf.clear();
        line_no += 1;
        let at = || format!("{}:{line_no}", log.display());
        let Some(truncated) =
            read_line_capped(&mut reader, &mut buf, MAX_LOG_LINE).with_context(at)?
        else {
            break;
        };
        let text = String::from_utf8_lossy(&buf);
        let parsed = parse_line(&text).map_err(|e| anyhow!("{}: {e}", at()))?;
        let line = match parsed {
            Parsed::Line(l) => l,
            Parsed::Unrelated => continue,
            Parsed::Suspicious => {
                st.suspicious += 1;
                continue;
            }
        };
        if truncated {
            bail!("{}: line is longer than {MAX_LOG_LINE} bytes", at());
        }
        let is_timed = line.unix_ns.is_some();
        match st.timed {
            None => {
                st.timed = Some(is_timed);
                if !is_timed && !sidecar.is_empty() {
                    bail!(
                        "{}: the log has no timestamps, so the events of {} cannot be placed \
                         (record with -msg timestamp=on, or use --no-sidecar)",
                        at(),
                        sidecar_path.display()
                    );
                }
            }
            Some(t) if t != is_timed => bail!(
                "{}: this line {} a timestamp but the log's first event line {}",
                at(),
                if is_timed { "has" } else { "has no" },
                if t { "has one" } else { "has none" }
            ),
            Some(_) => {}
        }
        let ev = match line.record {
            Record::FdcRead { reg, val } => {
                cmds.read(reg);
                Event::PortRead {
                    t_ns: 0,
                    offset: reg,
                    value: val,
                }
            }
            Record::FdcWrite { reg, val } => {
                cmds.write(reg, val);
                Event::PortWrite {
                    t_ns: 0,
                    offset: reg,
                    value: val,
                }
            }
            // A sidecar that carries markers is the recorder's own account of the stages
            // (the recorders derive it from these very serial lines): the serial MARK lines
            // are then not turned into markers a second time.
            Record::SerialWrite { addr, val } => match marks.feed(addr, val) {
                Some(label) if !sidecar_has_markers => Event::Stage { t_ns: 0, label },
                _ => continue,
            },
        };
        let t = match line.unix_ns {
            Some(unix) => {
                let origin = *st
                    .origin
                    .get_or_insert(first_sidecar.map_or(unix, |s| s.min(unix)));
                while let Some(e) = sc.next_if(|e| e.unix_ns <= unix) {
                    put(&mut st, sidecar_event(e), e.unix_ns - origin)?;
                }
                unix.saturating_sub(origin)
            }
            None => {
                let t = synth * SYNTHETIC_STEP_NS;
                synth += 1;
                t
            }
        };
        put(&mut st, ev, t)?;
    }
    if sc.peek().is_some() {
        let origin = *st.origin.get_or_insert(first_sidecar.unwrap_or(0));
        for e in sc {
            put(&mut st, sidecar_event(e), e.unix_ns.saturating_sub(origin))?;
        }
        if st.timed.is_none() {
            st.timed = Some(true);
        }
    }
    st.serial_divisor_bytes = marks.divisor_bytes;
    st.serial_overlong_lines = marks.overlong_lines;
    st.data_read = cmds.data_read;
    Ok(st)
}

/// Where the trace of `log` goes.
fn output_path(log: &Path, output: Option<&Path>, several: bool) -> anyhow::Result<PathBuf> {
    let stem = {
        let name = log
            .file_name()
            .ok_or_else(|| anyhow!("{}: not a file name", log.display()))?
            .to_string_lossy()
            .into_owned();
        let base = name
            .strip_suffix(".log")
            .filter(|s| !s.is_empty())
            .unwrap_or(&name)
            .to_string();
        format!("{base}.{TRACE_EXTENSION}")
    };
    Ok(match output {
        None => log.with_file_name(stem),
        Some(out) if several || out.is_dir() => out.join(stem),
        Some(out) => out.to_path_buf(),
    })
}

/// The sidecar of `log`: `LOG.events.jsonl`.
pub fn sidecar_path(log: &Path) -> PathBuf {
    let mut s = log.as_os_str().to_os_string();
    s.push(".events.jsonl");
    PathBuf::from(s)
}

/// Entry point of `fdc-replay import qemu-log`.
pub fn run(args: ImportArgs) -> anyhow::Result<i32> {
    let table = drive_table(&args.drives)?;
    let several = args.logs.len() > 1;
    if several {
        if let Some(out) = &args.output {
            if out.exists() && !out.is_dir() {
                bail!(
                    "{}: with several LOGs, -o must be a directory",
                    out.display()
                );
            }
            std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
        }
    }
    let mut outputs: Vec<PathBuf> = Vec::new();
    for log in &args.logs {
        let out = output_path(log, args.output.as_deref(), several)?;
        if outputs.contains(&out) {
            bail!(
                "{}: two logs would be written to {}; rename one",
                log.display(),
                out.display()
            );
        }
        outputs.push(out);
    }
    for (log, out) in args.logs.iter().zip(&outputs) {
        import_one(&args, &table, log, out)?;
    }
    Ok(0)
}

fn import_one(
    args: &ImportArgs,
    table: &[DriveArg; 2],
    log: &Path,
    out: &Path,
) -> anyhow::Result<()> {
    let sc_path = sidecar_path(log);
    let sidecar = if !args.no_sidecar && sc_path.exists() {
        read_sidecar(&sc_path)?
    } else {
        Vec::new()
    };
    for e in &sidecar {
        if let SidecarKind::Media { drive, .. } = e.kind {
            if matches!(table[usize::from(drive)], DriveArg::Absent) {
                bail!(
                    "{}:{}: drive {drive} is absent (configure it with --drive {drive}=empty or a size)",
                    sc_path.display(),
                    e.line
                );
            }
        }
    }

    // Pass 1: validate and learn what the header needs.
    let stats = run_pass(log, &sidecar, &sc_path, &mut |_| Ok(()))?;

    let mut notes = Vec::new();
    let clock = match (stats.timed, stats.origin) {
        (Some(true), Some(origin)) => Clock::Host {
            origin_unix_ns: origin,
        },
        _ => {
            if stats.timed == Some(false) {
                notes.push(format!(
                    "the log has no timestamps: events are given synthetic times {SYNTHETIC_STEP_NS} ns apart"
                ));
            }
            Clock::Synthetic {
                step_ns: SYNTHETIC_STEP_NS,
            }
        }
    };
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

    let mut drives = Vec::new();
    for (unit, d) in table.iter().enumerate() {
        let DriveArg::Present { drive_type, medium } = d else {
            continue;
        };
        let medium = medium.as_ref().map(|m| {
            let embed = m.image.is_some()
                && match args.embed {
                    EmbedArg::Always => true,
                    EmbedArg::Never => false,
                    EmbedArg::Auto => stats.data_read,
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

    let header = TraceHeader {
        guest: args.guest.clone(),
        guest_version: args.guest_version.clone(),
        workload: args.workload.clone(),
        provenance: Provenance {
            kind: match args.provenance {
                ProvenanceArg::Recorded => ProvenanceKind::Recorded,
                ProvenanceArg::DriverModel => ProvenanceKind::DriverModel,
            },
            recorder: args.recorder.clone(),
            packages: vec![PackageVersion {
                name: "fdc-replay".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            }],
        },
        qemu_version: args.qemu_version.clone(),
        drives,
        clock,
        source: Some(log.display().to_string()),
        notes,
    };

    // Pass 2: write to a temporary file beside the output, renamed into place on success,
    // so a failed import leaves no half-written trace.
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
    let result = (|| -> anyhow::Result<PassStats> {
        let opts = WriteOptions {
            gzip: !args.no_gzip,
            ..WriteOptions::default()
        };
        let mut writer = TraceWriter::create(&tmp, &header, opts).map_err(|e| anyhow!("{e}"))?;
        let st = run_pass(log, &sidecar, &sc_path, &mut |ev| {
            writer
                .write_event(ev)
                .map_err(|e| anyhow!("{}: {e}", out.display()))
        })?;
        writer
            .finish()
            .map_err(|e| anyhow!("{}: {e}", out.display()))?;
        std::fs::rename(&tmp, out).with_context(|| format!("{}", out.display()))?;
        Ok(st)
    })();
    let st = match result {
        Ok(st) => st,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };

    if !args.quiet {
        let synthetic = matches!(header.clock, Clock::Synthetic { .. });
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
        for n in &header.notes {
            eprintln!("  note: {n}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_specs() {
        let t = drive_table(&[]).unwrap();
        assert!(matches!(&t[0], DriveArg::Present { medium: Some(m), .. } if m.size == 1_474_560));
        assert!(matches!(t[1], DriveArg::Absent));
        let (u, d) = parse_drive_arg("1=720K,ro").unwrap();
        assert_eq!(u, 1);
        assert!(
            matches!(d, DriveArg::Present { medium: Some(m), .. } if m.size == 737_280 && m.read_only)
        );
        assert!(matches!(
            parse_drive_arg("0=none").unwrap().1,
            DriveArg::Absent
        ));
        assert!(matches!(
            parse_drive_arg("0=empty").unwrap().1,
            DriveArg::Present { medium: None, .. }
        ));
        assert!(matches!(
            parse_drive_arg("0=2.88M,type=288").unwrap().1,
            DriveArg::Present {
                drive_type: DriveType::Fd288,
                ..
            }
        ));
        assert!(parse_drive_arg("2=1.44M").is_err());
        assert!(parse_drive_arg("0=/nonexistent/x.img").is_err());
        assert!(parse_drive_arg("0").is_err());
    }

    #[test]
    fn tracker_finds_read_data() {
        let mut c = CommandTracker::default();
        // specify (3 bytes), recalibrate (2), then seek (3): no data read although
        // parameter bytes 0x02/0x06 appear.
        for v in [0x03, 0xaf, 0x02, 0x07, 0x00, 0x0f, 0x00, 0x06] {
            c.write(5, v);
        }
        assert!(!c.data_read);
        c.write(5, 0xe6);
        assert!(c.data_read);
    }
}
