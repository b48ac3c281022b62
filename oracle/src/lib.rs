//! Real QEMU as an oracle: drive Debian's `qemu-system-x86_64` (7.2) port by port through
//! `-qtest stdio`, step its virtual clock exactly, and ask it over QMP to migrate, so tests
//! can compare the `fdc` model with the real controller. [`Oracle`] is an [`fdc::Machine`],
//! so everything that drives the model drives QEMU the same way.
//!
//! # How time is controlled
//! The guest never runs code that matters (the BIOS is a `hlt` loop with interrupts off),
//! and the VM stays stopped (`-S`) while ports are accessed, so virtual time is frozen
//! between operations. With `-icount shift=0,sleep=off` and no PIT, a running but idle VM
//! jumps ("warps") from one timer deadline to the next. [`fdc::Machine::advance_ns`] arms two
//! devices the floppy never looks at (see [`clock`]):
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

pub mod cleanup;
pub mod clock;
pub mod destination;
mod error;
mod machine;
mod migration;
mod process;
mod qmp;
mod qtest;
pub mod stream;
mod tempdir;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use qmp::Qmp;
use qtest::Qtest;
use tempdir::TempDir;

pub use error::{ClockError, OracleError};
pub use migration::Migration;
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
/// Granularity of [`fdc::Machine::advance_ns`] on QEMU (one HPET tick).
pub const CLOCK_STEP_NS: u64 = 10;

/// The largest image file [`read_image`] reads (the trace format's medium cap): far
/// beyond any diskette, small enough that reading a device such as `/dev/zero` by mistake
/// stops at once.
pub const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// Reads an image file of at most [`MAX_IMAGE_BYTES`] bytes; a larger file (or a device
/// that never ends) is refused after reading one byte more than the cap.
pub fn read_image(path: &Path) -> Result<Vec<u8>, OracleError> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(error::io_err(format!("opening {}", path.display())))?;
    let mut data = Vec::new();
    f.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(error::io_err(format!("reading {}", path.display())))?;
    if data.len() as u64 > MAX_IMAGE_BYTES {
        return Err(OracleError::InvalidArgument(format!(
            "{}: more than {MAX_IMAGE_BYTES} bytes, too large for a diskette image",
            path.display()
        )));
    }
    Ok(data)
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
    /// A raw image of this medium (its size, content and write protection), private to
    /// this QEMU and deleted with it.
    Medium(fdc::Medium),
}

impl DriveSpec {
    /// The model's configuration of the same slot (an image file is read).
    pub fn to_config(&self) -> Result<fdc::DriveConfig, OracleError> {
        Ok(match self {
            DriveSpec::Absent => fdc::DriveConfig::Absent,
            DriveSpec::Empty => fdc::DriveConfig::Empty,
            DriveSpec::Blank => {
                fdc::DriveConfig::Medium(fdc::Medium::blank(FLOPPY_144_BYTES, false))
            }
            DriveSpec::Image { path, read_only } => {
                let image = read_image(path)?;
                fdc::DriveConfig::Medium(fdc::Medium::from_image(image, *read_only))
            }
            DriveSpec::Medium(m) => fdc::DriveConfig::Medium(m.clone()),
        })
    }
}

impl From<&fdc::DriveConfig> for DriveSpec {
    /// The slot QEMU needs to start as the model does with `config`.
    fn from(config: &fdc::DriveConfig) -> DriveSpec {
        match config {
            fdc::DriveConfig::Absent => DriveSpec::Absent,
            fdc::DriveConfig::Empty => DriveSpec::Empty,
            fdc::DriveConfig::Medium(m) => DriveSpec::Medium(m.clone()),
        }
    }
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
    /// The default configuration with these drives.
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

/// A running QEMU whose floppy controller can be driven port by port.
pub struct Oracle {
    child: Child,
    /// QEMU's process group, registered for [`cleanup::run`] while it lives.
    #[allow(dead_code, reason = "held for its Drop")]
    group: cleanup::Guard,
    qtest: Qtest,
    qmp: Qmp,
    timeout: Duration,
    /// Virtual time as last read from the HPET.
    clock: u64,
    /// True once the VM has been stopped by the watchdog at least once. Before that
    /// (prelaunch, or a freshly loaded destination) QEMU's virtual clock is still enabled,
    /// so a timer armed "due now" fires at once as a no-op instead of stopping the next run.
    clock_gated: bool,
    /// IRQ changes may be waiting on the qtest stream (a QMP command ran since the last
    /// qtest exchange).
    irq_stale: bool,
    /// Time steps whose watchdog STOP never came and that were stopped by hand.
    lost_stops: u32,
    migrations: u32,
    /// Media inserted so far (names their image files).
    inserted: u32,
    drives: [DriveSpec; 2],
    // Declared last: dropped after the process is gone.
    dir: TempDir,
}

impl Oracle {
    /// Starts a fresh QEMU (VM stopped at virtual time [`BOOT_CLOCK_NS`]).
    pub fn start(cfg: OracleConfig) -> Result<Oracle, OracleError> {
        let mut oracle = Self::spawn(&cfg, None)?;
        oracle.setup_clock()?;
        Ok(oracle)
    }

    /// How many time steps lost the watchdog's STOP and were stopped by hand (they still
    /// landed exactly, or the advance reported the overshoot). Timers due exactly at the
    /// end of such a step may already have run: the VM sat running at that instant.
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

/// The "halt" BIOS: 64 KiB of `hlt` with `hlt; jmp $-1` at the reset vector (offset
/// 0xFFF0). Interrupts are off at reset, so the CPU never executes anything else and the
/// guest cannot disturb the devices under test.
pub fn halt_bios() -> Vec<u8> {
    let mut bios = vec![0xf4u8; 0x10000];
    bios[0xfff0..0xfff3].copy_from_slice(&[0xf4, 0xeb, 0xfd]);
    bios
}
