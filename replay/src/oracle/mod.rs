//! Real QEMU as an oracle: drive Debian's `qemu-system-x86_64` (7.2) port by port through
//! `-qtest stdio`, step its virtual clock exactly, and ask it over QMP to migrate, so tests
//! can compare the `fdc` model with the real controller (see qemu-oracle.md §2, §3, §5).
//!
//! # How time is controlled
//! The guest never runs code that matters (the BIOS is a `hlt` loop with interrupts off),
//! and the VM stays stopped (`-S`) while ports are accessed, so virtual time is frozen
//! between operations. With `-icount shift=0,sleep=off` and no PIT, a running but idle VM
//! jumps ("warps") from one timer deadline to the next. [`Oracle::advance_ns`] arms two
//! devices the floppy never looks at:
//! - an HPET comparator at the target time, so the target is always a pending deadline;
//! - the i6300esb watchdog (`-action watchdog=pause`) with a zero timeout, which requests a
//!   stop as soon as the VM runs.
//!
//! Measured on QEMU 7.2: after the stop request the VM performs exactly one more warp, to the
//! next pending deadline (never past the HPET target), and stops there *before* running the
//! timers due at that instant. Repeating until the target is reached fires every timer in
//! order, at its exact virtual time.
//!
//! Resulting semantics (the model must use the same convention): after `advance_ns` returns
//! at time T, every timer with a deadline strictly before T has fired; one due exactly at T
//! fires at the start of the next advance (still at virtual time T).
//! HPET comparators have a 10 ns resolution, and every device deadline is "now + k·10 ns"
//! from a multiple of 10, so advances must be multiples of 10 ns.

pub mod cli;
pub mod destination;
mod qmp;
mod qtest;
pub mod stream;

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use qmp::{Qmp, QmpFailure};
use qtest::{parse_hex, Qtest, QtestFailure};
pub use stream::{find_fdc_section, FdcSection, StreamError};

/// Size of a 1.44 MB floppy image (80 tracks × 2 heads × 18 sectors × 512 bytes).
pub const FLOPPY_144_BYTES: u64 = 1_474_560;
/// Default wait for any single answer from QEMU.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Environment variable naming the QEMU binary.
pub const QEMU_ENV: &str = "FDC_QEMU";
/// Virtual time of a fresh oracle after [`Oracle::start`] (one watchdog tick, see there).
pub const BOOT_CLOCK_NS: u64 = 960;
/// Shortest first advance on a destination from [`Oracle::start_incoming`], and on a source
/// after [`Oracle::migrate`].
pub const MIN_FIRST_INCOMING_ADVANCE_NS: u64 = 970;
/// Watchdog tick at its 1 MHz scale (32 PCI clocks of 30 ns).
const WDT_TICK_NS: u64 = 960;
/// How long a time step waits for the watchdog's STOP before stopping the VM itself.
const LOST_STOP_WAIT: Duration = Duration::from_secs(2);
/// Granularity of [`Oracle::advance_ns`] (one HPET tick).
pub const CLOCK_STEP_NS: u64 = 10;

/// HPET registers (the PC machine's HPET at 0xFED00000).
const HPET_BASE: u64 = 0xfed0_0000;
const HPET_CONFIG: u64 = HPET_BASE + 0x10;
const HPET_COUNTER: u64 = HPET_BASE + 0xf0;
const HPET_T0_CMP: u64 = HPET_BASE + 0x108;
/// QEMU's HPET counts at 100 MHz.
const HPET_TICK_NS: u64 = 10;

/// The watchdog sits at a fixed PCI slot so its config-space address is known.
const WDT_PCI_SLOT: u32 = 5;
const WDT_BAR: u32 = 0xfebf_0000;
/// PCI vendor/device id of the i6300esb, checked so a misplaced device is caught early.
const WDT_ID: u32 = 0x25ab_8086;

/// i8257 ports for DMA channel 2 (the floppy's).
const DMA_ADDR2: u16 = 0x04;
const DMA_COUNT2: u16 = 0x05;
const DMA_REQUEST: u16 = 0x09;
const DMA_MASK: u16 = 0x0a;
const DMA_MODE: u16 = 0x0b;
const DMA_FLIPFLOP: u16 = 0x0c;
const DMA_PAGE2: u16 = 0x81;
const DMA_CHANNEL: u8 = 2;

/// Errors from driving QEMU. Messages name the command that failed because a failing
/// oracle test is only useful if it says what QEMU was asked.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    #[error(
        "QEMU binary `{0}` not found: install it with `apt-get install qemu-system-x86` \
         (or point ${QEMU_ENV} at a qemu-system-x86_64)"
    )]
    QemuNotFound(PathBuf),
    #[error("cannot start `{path}`: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("QEMU did not answer `{command}` within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("QEMU exited while handling `{command}` ({status}){stderr}")]
    QemuExited {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("qtest `{command}` failed: {reply}")]
    Qtest { command: String, reply: String },
    #[error("QMP `{command}` failed: {class}: {desc}")]
    Qmp {
        command: String,
        class: String,
        desc: String,
    },
    #[error("QMP `{command}`: unexpected answer: {detail}")]
    QmpProtocol { command: String, detail: String },
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("migration stream: {0}")]
    Stream(#[from] StreamError),
    #[error("virtual clock: {0}")]
    Clock(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// What sits in a floppy slot when QEMU starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveSpec {
    /// No drive in this slot.
    Absent,
    /// A drive with no medium inserted.
    Empty,
    /// A raw image file (used in place: writes by the guest change it).
    Image { path: PathBuf, read_only: bool },
    /// A fresh zero-filled 1.44 MB raw image, private to this QEMU and deleted with it.
    Blank,
}

/// How to start an oracle QEMU.
#[derive(Debug, Clone)]
pub struct OracleConfig {
    /// The QEMU binary: `$FDC_QEMU`, else `qemu-system-x86_64` from `PATH`.
    pub qemu: PathBuf,
    pub drives: [DriveSpec; 2],
    /// Where the private temporary directory is created (default: the system temp dir).
    pub workdir: Option<PathBuf>,
    /// Longest wait for any single answer from QEMU.
    pub timeout: Duration,
}

impl Default for OracleConfig {
    fn default() -> Self {
        OracleConfig {
            qemu: default_qemu(),
            drives: [DriveSpec::Blank, DriveSpec::Absent],
            workdir: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl OracleConfig {
    pub fn with_drives(drives: [DriveSpec; 2]) -> Self {
        OracleConfig {
            drives,
            ..Default::default()
        }
    }
}

/// The QEMU binary named by `$FDC_QEMU`, else `qemu-system-x86_64`.
pub fn default_qemu() -> PathBuf {
    std::env::var_os(QEMU_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("qemu-system-x86_64"))
}

/// Resolves `qemu` like the shell would, so a missing QEMU is reported before spawning.
pub fn find_qemu(qemu: &Path) -> Result<PathBuf, OracleError> {
    if qemu.components().count() > 1 || qemu.is_absolute() {
        return if qemu.is_file() {
            Ok(qemu.to_path_buf())
        } else {
            Err(OracleError::QemuNotFound(qemu.into()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(qemu))
        .find(|p| p.is_file())
        .ok_or_else(|| OracleError::QemuNotFound(qemu.into()))
}

/// Result of [`Oracle::migrate`].
#[derive(Debug, Clone)]
pub struct Migration {
    /// The whole migration stream as QEMU wrote it.
    pub stream: Vec<u8>,
    /// The fdc section's payload: after its section header, before its footer.
    pub fdc_section: Vec<u8>,
    /// Subsection names in stream order (e.g. `fdrive/media_rate`, `fdc/reset_sensei`).
    pub subsections: Vec<String>,
    /// Where the fdc section sits in `stream`.
    pub section: FdcSection,
    /// Virtual time at which the state was saved.
    pub clock_ns: u64,
}

impl Migration {
    /// Parses a stream read from a file (e.g. one written by an earlier run).
    pub fn from_stream(stream: Vec<u8>, clock_ns: u64) -> Result<Migration, OracleError> {
        let section = find_fdc_section(&stream)?;
        Ok(Migration {
            fdc_section: stream[section.payload.clone()].to_vec(),
            subsections: section.subsections.clone(),
            section,
            stream,
            clock_ns,
        })
    }

    /// True if the subsection `name` was sent.
    pub fn has(&self, name: &str) -> bool {
        self.subsections.iter().any(|s| s == name)
    }
}

/// A private directory removed on drop, so no run leaves files behind.
struct TempDir(PathBuf);

impl TempDir {
    fn new(parent: Option<&Path>) -> Result<TempDir, OracleError> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..100u32 {
            let dir = parent.join(format!(
                "fdc-oracle-{}-{nanos:x}-{attempt}",
                std::process::id()
            ));
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(OracleError::Io {
                        context: format!("creating {}", dir.display()),
                        source: e,
                    })
                }
            }
        }
        Err(OracleError::Io {
            context: format!("creating a temporary directory in {}", parent.display()),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running QEMU whose floppy controller can be driven port by port.
pub struct Oracle {
    child: Child,
    qtest: Qtest,
    qmp: Qmp,
    timeout: Duration,
    /// Virtual time as last read from the HPET.
    clock: u64,
    /// True once the VM has been stopped by the watchdog at least once. Before that
    /// (prelaunch, or a freshly loaded destination) QEMU's virtual clock is still enabled,
    /// so a timer armed "due now" fires at once as a no-op instead of stopping the next run.
    clock_gated: bool,
    /// Time steps whose watchdog STOP never came and that were stopped by hand.
    lost_stops: u32,
    migrations: u32,
    drives: [DriveSpec; 2],
    // Declared last: dropped after the process is gone.
    dir: TempDir,
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OracleError {
    let context = context.into();
    move |source| OracleError::Io { context, source }
}

/// Quotes a path for the `sh -c` that QEMU's `exec:` migration uses.
fn shell_quote(path: &Path) -> Result<String, OracleError> {
    let s = path.to_str().ok_or_else(|| {
        OracleError::InvalidArgument(format!("path {} is not UTF-8", path.display()))
    })?;
    if s.contains('\'') {
        return Err(OracleError::InvalidArgument(format!(
            "path {s} contains a single quote"
        )));
    }
    Ok(format!("'{s}'"))
}

/// Builds QEMU's `-drive` value for one slot; QEMU's option parser needs commas doubled.
fn drive_arg(index: usize, spec: &DriveSpec, blank: &Path) -> Option<OsString> {
    let file = |path: &Path, ro: bool| {
        let mut arg = OsString::from("file=");
        arg.push(path.as_os_str().to_string_lossy().replace(',', ",,"));
        // Locking off: a destination QEMU opens the same image while the source still holds it.
        arg.push(format!(
            ",format=raw,if=floppy,index={index},file.locking=off"
        ));
        if ro {
            arg.push(",readonly=on");
        }
        arg
    };
    match spec {
        DriveSpec::Absent => None,
        DriveSpec::Empty => Some(OsString::from(format!("if=floppy,index={index}"))),
        DriveSpec::Image { path, read_only } => Some(file(path, *read_only)),
        DriveSpec::Blank => Some(file(blank, false)),
    }
}

impl Oracle {
    /// Starts a fresh QEMU (VM stopped at virtual time 0).
    pub fn start(cfg: OracleConfig) -> Result<Oracle, OracleError> {
        let mut oracle = Self::spawn(&cfg, None)?;
        oracle.setup_clock()?;
        Ok(oracle)
    }

    /// Starts a destination QEMU that loads `stream` (a file holding a migration stream,
    /// e.g. [`Migration::stream`] written out) with the same drives as `cfg`, and waits until
    /// the load has finished. It is then drivable like the source, at the source's virtual
    /// time.
    pub fn start_incoming(cfg: OracleConfig, stream: &Path) -> Result<Oracle, OracleError> {
        let bytes = fs::read(stream).map_err(io_err(format!("reading {}", stream.display())))?;
        let section = find_fdc_section(&bytes)?;
        let mut oracle = Self::spawn(&cfg, Some(stream))?;
        let deadline = Instant::now() + oracle.timeout;
        loop {
            let status = oracle.qmp_exec("query-status", None)?;
            let state = status.get("status").and_then(Value::as_str).unwrap_or("");
            if state == "inmigrate" {
                if Instant::now() > deadline {
                    return Err(OracleError::Timeout {
                        command: "query-status (waiting for the incoming migration)".into(),
                        timeout: oracle.timeout,
                    });
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            if state == "running" {
                return Err(OracleError::Migration(
                    "destination VM is running after the load; expected it stopped".into(),
                ));
            }
            let info = oracle.qmp_exec("query-migrate", None)?;
            if let Some(s) = info.get("status").and_then(Value::as_str) {
                if s == "failed" {
                    let desc = info.get("error-desc").and_then(Value::as_str).unwrap_or("");
                    return Err(OracleError::Migration(format!(
                        "incoming load failed: {desc}"
                    )));
                }
            }
            break;
        }
        // qtest reports IRQ changes relative to its own record, which starts low. If the
        // controller arrived with its interrupt pending (SRA bit 7), tell qtest the line is
        // high so that the lowering the guest causes later is reported.
        let sra = bytes.get(section.payload.start).copied().unwrap_or(0);
        if sra & 0x80 != 0 {
            oracle.qtest_cmd("set_irq_in ioapic unnamed-gpio-in 6 1")?;
            oracle.qtest.set_irq(true);
        }
        oracle.clock = oracle.read_clock()?;
        Ok(oracle)
    }

    fn spawn(cfg: &OracleConfig, incoming: Option<&Path>) -> Result<Oracle, OracleError> {
        let qemu = find_qemu(&cfg.qemu)?;
        for (i, d) in cfg.drives.iter().enumerate() {
            if let DriveSpec::Image { path, .. } = d {
                if !path.is_file() {
                    return Err(OracleError::InvalidArgument(format!(
                        "drive {i}: image {} does not exist",
                        path.display()
                    )));
                }
            }
        }
        let dir = TempDir::new(cfg.workdir.as_deref())?;
        let bios = dir.0.join("halt.bin");
        fs::write(&bios, halt_bios()).map_err(io_err(format!("writing {}", bios.display())))?;
        let blank = dir.0.join("blank.img");
        if cfg.drives.contains(&DriveSpec::Blank) {
            let f = fs::File::create(&blank)
                .map_err(io_err(format!("creating {}", blank.display())))?;
            f.set_len(FLOPPY_144_BYTES)
                .map_err(io_err(format!("sizing {}", blank.display())))?;
        }
        let sock = dir.0.join("qmp.sock");
        if sock.as_os_str().len() > 100 {
            return Err(OracleError::InvalidArgument(format!(
                "socket path {} is too long for a Unix socket; use a shorter workdir",
                sock.display()
            )));
        }
        let stderr_path = dir.0.join("qemu.stderr");
        let stderr =
            fs::File::create(&stderr_path).map_err(io_err("creating the QEMU stderr file"))?;

        let mut cmd = Command::new(&qemu);
        cmd.args(["-machine", "pc,pit=off,hpet=on", "-accel", "tcg"])
            .args(["-icount", "shift=0,sleep=off", "-S", "-m", "16"])
            .arg("-bios")
            .arg(&bios)
            .args(["-display", "none", "-nodefaults", "-no-user-config"])
            .args(["-qtest", "stdio", "-qtest-log", "/dev/null"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .args(["-device", &format!("i6300esb,addr={WDT_PCI_SLOT:#04x}.0")])
            .args(["-action", "watchdog=pause"]);
        for (i, spec) in cfg.drives.iter().enumerate() {
            if let Some(arg) = drive_arg(i, spec, &blank) {
                cmd.arg("-drive").arg(arg);
            }
        }
        if let Some(stream) = incoming {
            cmd.arg("-incoming")
                .arg(format!("exec:cat {}", shell_quote(stream)?));
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        // Own process group: Drop kills QEMU together with the `cat` helpers it forks.
        cmd.process_group(0);
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                OracleError::QemuNotFound(qemu.clone())
            } else {
                OracleError::Spawn {
                    path: qemu.clone(),
                    source,
                }
            }
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill_group(&mut child);
            return Err(OracleError::Spawn {
                path: qemu,
                source: std::io::Error::other("no stdio pipes"),
            });
        };
        let qtest = Qtest::new(stdin, stdout);

        // Connect to QMP; the socket appears once QEMU has parsed its options.
        let deadline = Instant::now() + cfg.timeout;
        let stream = loop {
            match UnixStream::connect(&sock) {
                Ok(s) => break s,
                Err(e) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let stderr = stderr_tail(&stderr_path);
                        kill_group(&mut child);
                        return Err(OracleError::QemuExited {
                            command: "startup".into(),
                            status: status.to_string(),
                            stderr,
                        });
                    }
                    if Instant::now() > deadline {
                        kill_group(&mut child);
                        return Err(OracleError::Io {
                            context: format!("connecting to QMP socket {}", sock.display()),
                            source: e,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        let qmp = match Qmp::handshake(stream, cfg.timeout) {
            Ok(q) => q,
            Err(f) => {
                let err = qmp_error(&mut child, &stderr_path, "qmp_capabilities", f, cfg.timeout);
                kill_group(&mut child);
                return Err(err);
            }
        };
        let mut oracle = Oracle {
            child,
            qtest,
            qmp,
            timeout: cfg.timeout,
            clock: 0,
            clock_gated: false,
            lost_stops: 0,
            migrations: 0,
            drives: cfg.drives.clone(),
            dir,
        };
        oracle.qtest_cmd("irq_intercept_in ioapic")?;
        Ok(oracle)
    }

    /// Programs the watchdog's PCI BAR and starts the HPET counter at virtual time 0, so
    /// that counter × 10 ns is the virtual time from then on.
    fn setup_clock(&mut self) -> Result<(), OracleError> {
        let id = self.pci_read32(0x00)?;
        if id != WDT_ID {
            return Err(OracleError::Clock(format!(
                "expected the i6300esb watchdog at PCI 00:{WDT_PCI_SLOT:02x}.0, found id {id:#010x}"
            )));
        }
        self.pci_write(0x10, WDT_BAR, 4)?;
        self.pci_write(0x04, 0x0002, 2)?; // memory space enable
        self.qtest_cmd(&format!("writel {HPET_CONFIG:#x} 0x1"))?;
        // Boot hop: leave prelaunch with the watchdog one tick (960 ns) ahead, the shortest
        // deadline that cannot fire before `cont`. The CPU reaches its `hlt`, nothing else is
        // pending, so the VM stops at exactly BOOT_CLOCK_NS with the virtual clock gated.
        self.watchdog_hop(1)?;
        self.clock = self.read_clock()?;
        if self.clock != BOOT_CLOCK_NS {
            return Err(OracleError::Clock(format!(
                "boot stopped at {} ns, expected {BOOT_CLOCK_NS} ns",
                self.clock
            )));
        }
        Ok(())
    }

    fn pci_addr(reg: u8) -> u32 {
        0x8000_0000 | (WDT_PCI_SLOT << 11) | u32::from(reg & 0xfc)
    }

    fn pci_read32(&mut self, reg: u8) -> Result<u32, OracleError> {
        self.qtest_cmd(&format!("outl 0xcf8 {:#x}", Self::pci_addr(reg)))?;
        let cmd = "inl 0xcfc";
        let reply = self.qtest_cmd(cmd)?;
        parse_hex(&reply)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| OracleError::Qtest {
                command: cmd.into(),
                reply,
            })
    }

    fn pci_write(&mut self, reg: u8, val: u32, size: u8) -> Result<(), OracleError> {
        self.qtest_cmd(&format!("outl 0xcf8 {:#x}", Self::pci_addr(reg)))?;
        let port = 0xcfc + u16::from(reg & 3);
        let op = match size {
            1 => "outb",
            2 => "outw",
            _ => "outl",
        };
        self.qtest_cmd(&format!("{op} {port:#x} {val:#x}"))
            .map(drop)
    }

    /// Sends one qtest command and returns the text after `OK`.
    fn qtest_cmd(&mut self, cmd: &str) -> Result<String, OracleError> {
        match self.qtest.command(cmd, self.timeout) {
            Ok(reply) => Ok(reply),
            Err(QtestFailure::Timeout) => Err(OracleError::Timeout {
                command: cmd.into(),
                timeout: self.timeout,
            }),
            Err(QtestFailure::Closed) => Err(self.exited(cmd)),
            Err(QtestFailure::Io(source)) => Err(OracleError::Io {
                context: format!("qtest `{cmd}`"),
                source,
            }),
            Err(QtestFailure::Fail(reply)) | Err(QtestFailure::Unexpected(reply)) => {
                Err(OracleError::Qtest {
                    command: cmd.into(),
                    reply,
                })
            }
        }
    }

    fn qtest_value(&mut self, cmd: &str) -> Result<u64, OracleError> {
        let reply = self.qtest_cmd(cmd)?;
        parse_hex(&reply).ok_or_else(|| OracleError::Qtest {
            command: cmd.into(),
            reply,
        })
    }

    fn qmp_exec(&mut self, command: &str, args: Option<Value>) -> Result<Value, OracleError> {
        match self.qmp.execute(command, args, self.timeout) {
            Ok(v) => Ok(v),
            Err(f) => Err(qmp_error(
                &mut self.child,
                &self.dir.0.join("qemu.stderr"),
                command,
                f,
                self.timeout,
            )),
        }
    }

    /// Describes a QEMU that stopped answering: its exit status and last stderr lines.
    fn exited(&mut self, command: &str) -> OracleError {
        let status = wait_briefly(&mut self.child);
        OracleError::QemuExited {
            command: command.into(),
            status,
            stderr: stderr_tail(&self.dir.0.join("qemu.stderr")),
        }
    }

    /// Writes one byte to an I/O port.
    pub fn outb(&mut self, port: u16, val: u8) -> Result<(), OracleError> {
        self.qtest_cmd(&format!("outb {port:#x} {val:#x}"))
            .map(drop)
    }

    /// Reads one byte from an I/O port.
    pub fn inb(&mut self, port: u16) -> Result<u8, OracleError> {
        self.qtest_narrow(format!("inb {port:#x}"))
    }

    /// Sends a qtest read command and checks its value fits the access width.
    fn qtest_narrow<T: TryFrom<u64>>(&mut self, cmd: String) -> Result<T, OracleError> {
        let v = self.qtest_value(&cmd)?;
        T::try_from(v).map_err(|_| OracleError::Qtest {
            command: cmd,
            reply: format!("{v:#x}"),
        })
    }

    /// 16-bit port write; QEMU splits it per fdc-behaviour.md §2.1 (the CVE reproducers
    /// depend on that split, so it must go through QEMU's own port layer).
    pub fn outw(&mut self, port: u16, val: u16) -> Result<(), OracleError> {
        self.qtest_cmd(&format!("outw {port:#x} {val:#x}"))
            .map(drop)
    }

    /// 16-bit port read.
    pub fn inw(&mut self, port: u16) -> Result<u16, OracleError> {
        self.qtest_narrow(format!("inw {port:#x}"))
    }

    /// Level of the floppy's IRQ 6 as last reported by QEMU (other IRQs are ignored).
    /// Changes caused by a command are reported before its reply, so this is current after
    /// every call on this object.
    pub fn irq(&self) -> bool {
        self.qtest.irq()
    }

    /// Writes guest memory (e.g. a DMA buffer).
    pub fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), OracleError> {
        for (i, chunk) in data.chunks(4096).enumerate() {
            let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let at = addr + (i as u64) * 4096;
            self.qtest_cmd(&format!("write {at:#x} {} 0x{hex}", chunk.len()))?;
        }
        Ok(())
    }

    /// Reads guest memory.
    pub fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, OracleError> {
        let mut out = Vec::with_capacity(len);
        let mut done = 0usize;
        while done < len {
            let n = (len - done).min(4096);
            let at = addr + done as u64;
            let cmd = format!("read {at:#x} {n}");
            let reply = self.qtest_cmd(&cmd)?;
            let bad = || OracleError::Qtest {
                command: cmd.clone(),
                reply: reply.clone(),
            };
            let hex = reply.trim().strip_prefix("0x").ok_or_else(bad)?;
            if hex.len() != 2 * n {
                return Err(bad());
            }
            for pair in hex.as_bytes().chunks(2) {
                let s = std::str::from_utf8(pair).map_err(|_| bad())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            }
            done += n;
        }
        Ok(out)
    }

    /// Programs ISA DMA channel 2 (the floppy's) and leaves it masked, so a command can be
    /// set up before the transfer may start ([`Oracle::dma_mask`]`(false)` releases it).
    /// `addr` is the 24-bit physical address (page register + address register); `count` is
    /// the value of the i8257 count register, i.e. the number of bytes minus one; `mode` is
    /// the mode register value (its channel bits are forced to 2), e.g. 0x46 for a single
    /// transfer into memory (a floppy READ), 0x4a out of memory (WRITE).
    pub fn dma_program(&mut self, addr: u32, count: u16, mode: u8) -> Result<(), OracleError> {
        if addr > 0x00ff_ffff {
            return Err(OracleError::InvalidArgument(format!(
                "DMA address {addr:#x} is beyond the ISA DMA's 16 MiB"
            )));
        }
        let [a0, a1, page, _] = addr.to_le_bytes();
        let [c0, c1] = count.to_le_bytes();
        self.outb(DMA_MASK, 0x04 | DMA_CHANNEL)?;
        self.outb(DMA_MODE, (mode & !3) | DMA_CHANNEL)?;
        self.outb(DMA_FLIPFLOP, 0)?;
        self.outb(DMA_ADDR2, a0)?;
        self.outb(DMA_ADDR2, a1)?;
        self.outb(DMA_PAGE2, page)?;
        self.outb(DMA_FLIPFLOP, 0)?;
        self.outb(DMA_COUNT2, c0)?;
        self.outb(DMA_COUNT2, c1)
    }

    /// Masks or unmasks DMA channel 2 (unmasking runs a pending transfer at once).
    pub fn dma_mask(&mut self, masked: bool) -> Result<(), OracleError> {
        self.outb(DMA_MASK, if masked { 0x04 } else { 0 } | DMA_CHANNEL)
    }

    /// Software DMA request on channel 2 (request register, port 0x09).
    pub fn dma_request(&mut self) -> Result<(), OracleError> {
        self.outb(DMA_REQUEST, 0x04 | DMA_CHANNEL)
    }

    /// Current virtual time in ns, read from the HPET counter (started at time 0).
    pub fn clock_ns(&mut self) -> Result<u64, OracleError> {
        self.clock = self.read_clock()?;
        Ok(self.clock)
    }

    fn read_clock(&mut self) -> Result<u64, OracleError> {
        let ticks = self.qtest_value(&format!("readq {HPET_COUNTER:#x}"))?;
        ticks
            .checked_mul(HPET_TICK_NS)
            .ok_or_else(|| OracleError::Clock(format!("HPET counter {ticks:#x} overflows")))
    }

    /// Advances virtual time by exactly `ns` (a multiple of 10), firing every device timer
    /// due before the new time at its own deadline; see the module docs for the convention
    /// at the exact end time.
    pub fn advance_ns(&mut self, ns: u64) -> Result<(), OracleError> {
        if ns == 0 {
            return Ok(());
        }
        if !ns.is_multiple_of(CLOCK_STEP_NS) {
            return Err(OracleError::Clock(format!(
                "cannot advance by {ns} ns: QEMU's HPET, which marks the target, has a \
                 {CLOCK_STEP_NS} ns resolution"
            )));
        }
        let start = self.read_clock()?;
        let target = start
            .checked_add(ns)
            .ok_or_else(|| OracleError::Clock(format!("{start} + {ns} ns overflows")))?;
        let cmp = target / HPET_TICK_NS;
        // High half first: the comparator is re-armed on each write, the last one counts.
        self.qtest_cmd(&format!("writel {:#x} {:#x}", HPET_T0_CMP + 4, cmp >> 32))?;
        self.qtest_cmd(&format!("writel {HPET_T0_CMP:#x} {:#x}", cmp & 0xffff_ffff))?;
        let mut now = start;
        let mut stalls = 0;
        while now < target {
            let preload = if self.clock_gated {
                0
            } else {
                // Not gated yet: a zero timeout would fire before `cont` (see `clock_gated`),
                // so the first hop needs the watchdog at least one tick ahead, before target.
                let ticks = (target - now - 1) / WDT_TICK_NS;
                if ticks == 0 {
                    return Err(OracleError::Clock(format!(
                        "the first advance on a migration destination, or after a migration, \
                         must be at least \
                         {MIN_FIRST_INCOMING_ADVANCE_NS} ns, got {ns} ns"
                    )));
                }
                ticks.min(0xf_ffff) as u32
            };
            self.watchdog_hop(preload)?;
            let reached = self.read_clock()?;
            if reached > target {
                self.clock = reached;
                return Err(OracleError::Clock(format!(
                    "overshot: advancing from {start} to {target} ns stopped at {reached} ns"
                )));
            }
            if reached == now {
                stalls += 1;
                if stalls >= 3 {
                    return Err(OracleError::Clock(format!(
                        "no progress at {now} ns while advancing to {target} ns"
                    )));
                }
            } else {
                stalls = 0;
            }
            now = reached;
        }
        self.clock = now;
        Ok(())
    }

    /// Lets the VM run until the watchdog fires after `preload` ticks of 960 ns (0: at once),
    /// then one more warp to the next pending deadline, and stop there.
    fn watchdog_hop(&mut self, preload: u32) -> Result<(), OracleError> {
        // The watchdog resets itself after acting, so it is programmed from scratch each time.
        // Config: 1 MHz scale (bit 2), output enabled (bit 5 clear), interrupt type 1 (none).
        self.pci_write(0x60, 0x0005, 2)?;
        for (reg, preload) in [(0x0u32, preload), (0x4, 0)] {
            // Preload writes need the unlock sequence each time.
            self.qtest_cmd(&format!("writel {:#x} 0x80", WDT_BAR + 0xc))?;
            self.qtest_cmd(&format!("writel {:#x} 0x86", WDT_BAR + 0xc))?;
            self.qtest_cmd(&format!("writel {:#x} {preload:#x}", WDT_BAR + reg))?;
        }
        self.qmp.clear_events();
        // Enabling (lock register bit 1) starts stage 1; stage 2 follows at once.
        self.pci_write(0x68, 0x02, 1)?;
        self.qmp_exec("cont", None)?;
        // Rarely (a few times in 10^4 hops under load) the watchdog's pause request is lost
        // and no STOP comes. With only the HPET marker pending, the idle VM then waits at
        // the target; stop it by hand and let the caller's loop check where time stands.
        let first_wait = self.timeout.min(LOST_STOP_WAIT);
        match self.qmp.wait_event("STOP", first_wait) {
            Err(QmpFailure::Timeout) => {
                self.lost_stops += 1;
                self.qmp_exec("stop", None)?;
                match self.qmp.wait_event("STOP", self.timeout) {
                    Ok(_) => {
                        self.clock_gated = true;
                        Ok(())
                    }
                    Err(f) => Err(qmp_error(
                        &mut self.child,
                        &self.dir.0.join("qemu.stderr"),
                        "stop (after a lost watchdog STOP)",
                        f,
                        self.timeout,
                    )),
                }
            }
            Ok(_) => {
                self.clock_gated = true;
                Ok(())
            }
            Err(f) => Err(qmp_error(
                &mut self.child,
                &self.dir.0.join("qemu.stderr"),
                "cont (waiting for the watchdog STOP)",
                f,
                self.timeout,
            )),
        }
    }

    fn drive_id(&self, drive: u8) -> Result<String, OracleError> {
        if drive > 1 {
            return Err(OracleError::InvalidArgument(format!(
                "drive {drive}: only 0 and 1 exist"
            )));
        }
        Ok(format!("floppy{drive}"))
    }

    /// Ejects the medium of drive 0 or 1 (QMP `eject`, forced).
    pub fn eject(&mut self, drive: u8) -> Result<(), OracleError> {
        let id = self.drive_id(drive)?;
        self.qmp_exec("eject", Some(json!({ "device": id, "force": true })))
            .map(drop)
    }

    /// Inserts `image` (raw) into drive 0 or 1 (QMP `blockdev-change-medium`, forced).
    pub fn change(&mut self, drive: u8, image: &Path, read_only: bool) -> Result<(), OracleError> {
        let id = self.drive_id(drive)?;
        let filename = image.to_str().ok_or_else(|| {
            OracleError::InvalidArgument(format!("path {} is not UTF-8", image.display()))
        })?;
        let mode = if read_only { "read-only" } else { "read-write" };
        self.qmp_exec(
            "blockdev-change-medium",
            Some(json!({ "device": id, "filename": filename, "format": "raw",
                         "read-only-mode": mode, "force": true })),
        )
        .map(drop)
    }

    /// Migrates to a file and returns the stream. The VM stays stopped (its run state becomes
    /// `postmigrate`) and virtual time does not move; port I/O keeps working. QEMU refuses a
    /// second migration until time has been advanced (at least
    /// [`MIN_FIRST_INCOMING_ADVANCE_NS`] for the first advance after a migration).
    pub fn migrate(&mut self) -> Result<Migration, OracleError> {
        self.migrations += 1;
        let done = self
            .dir
            .0
            .join(format!("migration-{}.bin", self.migrations));
        let partial = self
            .dir
            .0
            .join(format!("migration-{}.part", self.migrations));
        // `cat` writes a partial file and renames it when the pipe closes: QEMU reports
        // "completed" before `cat` has necessarily flushed everything.
        let uri = format!(
            "exec:cat > {} && mv {} {}",
            shell_quote(&partial)?,
            shell_quote(&partial)?,
            shell_quote(&done)?
        );
        let clock = self.read_clock()?;
        self.qmp_exec("migrate", Some(json!({ "uri": uri })))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let info = self.qmp_exec("query-migrate", None)?;
            match info.get("status").and_then(Value::as_str).unwrap_or("") {
                "completed" => break,
                "failed" | "cancelled" => {
                    let desc = info
                        .get("error-desc")
                        .and_then(Value::as_str)
                        .unwrap_or("no detail");
                    return Err(OracleError::Migration(desc.to_string()));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(OracleError::Timeout {
                    command: "query-migrate".into(),
                    timeout: self.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        while !done.exists() {
            if Instant::now() > deadline {
                return Err(OracleError::Timeout {
                    command: "migrate (waiting for the stream file)".into(),
                    timeout: self.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let stream = fs::read(&done).map_err(io_err(format!("reading {}", done.display())))?;
        let _ = fs::remove_file(&done);
        let migration = Migration::from_stream(stream, clock)?;
        self.leave_postmigrate(&migration)?;
        Ok(migration)
    }

    /// After a migration QEMU sits in `postmigrate` until the next `cont`: it refuses a
    /// second migration and has deactivated the images (so a guest disk write before the
    /// next advance is not supported). Measured on QEMU 7.2: after a migration a timer armed
    /// "due now" sometimes fires while the VM is stopped (the virtual clock is no longer
    /// reliably gated), so the time-neutral zero-timeout hop that would restore a normal
    /// stopped state is not safe. The next advance therefore counts as a first hop (at least
    /// MIN_FIRST_INCOMING_ADVANCE_NS) and `cont`s the VM out of `postmigrate`.
    fn leave_postmigrate(&mut self, _m: &Migration) -> Result<(), OracleError> {
        self.clock_gated = false;
        Ok(())
    }

    /// How many time steps lost the watchdog's STOP and were stopped by hand (they still
    /// landed exactly, or [`Oracle::advance_ns`] reported the overshoot).
    pub fn lost_stops(&self) -> u32 {
        self.lost_stops
    }

    /// The drives this QEMU was started with.
    pub fn drives(&self) -> &[DriveSpec; 2] {
        &self.drives
    }

    /// Private temporary directory (removed on drop); handy for writing a stream to a file
    /// for [`Oracle::start_incoming`].
    pub fn workdir(&self) -> &Path {
        &self.dir.0
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Kills QEMU's whole process group (QEMU and its `sh`/`cat` helpers), then reaps QEMU.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: killpg only sends a signal; the group is the one this child leads, created
        // with process_group(0) at spawn, and the child has not been reaped yet.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_briefly(child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => return "still running".into(),
            Err(e) => return format!("status unknown: {e}"),
        }
    }
}

fn stderr_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().rev().take(10).collect();
    if lines.is_empty() {
        String::new()
    } else {
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        format!("; QEMU stderr:\n{}", tail.join("\n"))
    }
}

fn qmp_error(
    child: &mut Child,
    stderr: &Path,
    command: &str,
    f: QmpFailure,
    timeout: Duration,
) -> OracleError {
    match f {
        QmpFailure::Timeout => OracleError::Timeout {
            command: command.into(),
            timeout,
        },
        QmpFailure::Closed => OracleError::QemuExited {
            command: command.into(),
            status: wait_briefly(child),
            stderr: stderr_tail(stderr),
        },
        QmpFailure::Io(source) => OracleError::Io {
            context: format!("QMP `{command}`"),
            source,
        },
        QmpFailure::Error { class, desc } => OracleError::Qmp {
            command: command.into(),
            class,
            desc,
        },
        QmpFailure::Garbage(detail) => OracleError::QmpProtocol {
            command: command.into(),
            detail,
        },
    }
}

/// The "halt" BIOS: 64 KiB of `hlt` with `hlt; jmp $-1` at the reset vector (offset
/// 0xFFF0). Interrupts are off at reset, so the CPU never executes anything else and the
/// guest cannot disturb the devices under test.
pub fn halt_bios() -> Vec<u8> {
    let mut bios = vec![0xf4u8; 0x10000];
    bios[0xfff0..0xfff3].copy_from_slice(&[0xf4, 0xeb, 0xfd]);
    bios
}
