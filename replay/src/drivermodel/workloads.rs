//! Workloads for the Windows 2000 driver model: boot with and without a disk, `dir a:`,
//! a copy, a four-disk setup and a format, each on FAT images made with dosfstools and
//! mtools, run on any [`Machine`] ([`record`]).

use super::{DriverError, Win2kFloppy};
use fdc::{DriveConfig, Fdc, Machine, Medium, ModelError, PcFloppy};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig, OracleError};
use fdc_trace::{
    Clock, Drive, DriveType, ImageDigest, Provenance, ProvenanceKind, TraceError, TraceHeader,
    TraceWriter, WriteOptions,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of a 1.44 MB image.
pub const SIZE_144: u64 = 1_474_560;

/// Workload names, in priority order, with a one-line description.
pub const WORKLOADS: &[(&str, &str)] = &[
    (
        "boot-empty",
        "boot with drive A: empty: init, mount attempts (no media), later a disk is inserted",
    ),
    (
        "boot-disk",
        "boot with a FAT 1.44 MB disk: init, media detection, boot sector/FAT/root directory",
    ),
    (
        "dir",
        "dir a: - boot sector, FAT and root directory, then motor-off",
    ),
    (
        "copy",
        "copy a 300 KB file from a: (track by track) and write ~100 KB back",
    ),
    (
        "setup-4-disks",
        "setup reading 4 disks in turn: eject, insert the next, re-determination",
    ),
    (
        "format",
        "format a: track by track with FORMAT TRACK, verify, write the file system",
    ),
];

/// Why a workload failed on machine error type `E`.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError<E: std::error::Error + 'static> {
    /// The driver failed (or the machine under it).
    #[error(transparent)]
    Driver(#[from] DriverError<E>),
    /// What the driver read through the machine is not what the workload wrote or expects.
    #[error("{0}")]
    Check(String),
    /// Making or reading an image failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

type Res<T, M> = Result<T, WorkloadError<<M as Machine>::Error>>;

fn check<E: std::error::Error + 'static>(what: &str) -> WorkloadError<E> {
    WorkloadError::Check(what.to_string())
}

macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(WorkloadError::Check(format!($($arg)*)))
    };
}

/// What a recording produced.
pub struct Summary {
    /// Events recorded.
    pub events: u64,
    /// Recordings made: more than 1 when an earlier one had a late QEMU time step.
    pub attempts: usize,
    /// The driver's counters.
    pub stats: super::Stats,
}

/// The machine a workload runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The `fdc` model.
    Model,
    /// Real QEMU (this binary) through the oracle.
    Qemu(PathBuf),
}

/// The images of a workload, in a scratch directory removed on drop.
pub struct Media {
    dir: PathBuf,
    /// Registers `dir` for removal on a signal.
    _cleanup: fdc_oracle::cleanup::Guard,
    /// The image in drive A: at the start (`None`: the drive is empty).
    pub disk0: Option<PathBuf>,
    /// Images the workload makes while it runs (a disk inserted later), by file name: made
    /// once, so that runs sharing these media (closed-loop runs, in parallel) see the same
    /// bytes and never write the same file at once.
    made: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

impl Media {
    /// The FAT12 image `name` (made by [`fat_image`] in the scratch directory on first
    /// use, its bytes kept for every later use).
    fn image(
        &self,
        name: &str,
        label: &str,
        files: &[(&str, Vec<u8>)],
    ) -> std::io::Result<Vec<u8>> {
        let mut made = self
            .made
            .lock()
            .map_err(|_| std::io::Error::other("a run making the workload's images panicked"))?;
        if let Some(b) = made.get(name) {
            return Ok(b.clone());
        }
        let bytes = std::fs::read(fat_image(&self.dir, name, label, files)?)?;
        made.insert(name.to_string(), bytes.clone());
        Ok(bytes)
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs a tool the workload images need; a missing tool is an error naming its Debian
/// package (there is no fallback: the workloads' disks are real FAT12 file systems).
/// The tools the workloads' images are made with that cannot be started here (with
/// their Debian packages): `mkfs.fat` (dosfstools) and `mcopy` (mtools).
pub fn missing_tools() -> Vec<(&'static str, &'static str)> {
    [("mkfs.fat", "dosfstools"), ("mcopy", "mtools")]
        .into_iter()
        .filter(|(tool, _)| {
            Command::new(tool)
                .arg("--version")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_err()
        })
        .collect()
}

fn run_tool(cmd: &mut Command, package: &str) -> std::io::Result<()> {
    let out = cmd.output().map_err(|e| {
        let tool = cmd.get_program().to_string_lossy().into_owned();
        if e.kind() == std::io::ErrorKind::NotFound {
            std::io::Error::new(
                e.kind(),
                format!(
                    "{tool} not found: the driver-model workloads make FAT12 images with it; \
                     install {package} (`apt-get install dosfstools mtools`, or \
                     `bash scripts/install-deps.sh`)"
                ),
            )
        } else {
            std::io::Error::new(e.kind(), format!("running {tool}: {e}"))
        }
    })?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 9) as u8))
        .collect()
}

/// A FAT12 1.44 MB image made with `mkfs.fat` (dosfstools), with `files` copied in by
/// `mcopy` (mtools); either tool missing is an error that names its package.
fn fat_image(
    dir: &Path,
    name: &str,
    label: &str,
    files: &[(&str, Vec<u8>)],
) -> std::io::Result<PathBuf> {
    let img = dir.join(name);
    run_tool(
        Command::new("mkfs.fat")
            .args(["-C", "-n", label, "-i", "12345678"])
            .arg(&img)
            .arg("1440"),
        "dosfstools",
    )?;
    for (fname, data) in files {
        let src = dir.join(fname);
        std::fs::write(&src, data)?;
        run_tool(
            Command::new("mcopy")
                .arg("-i")
                .arg(&img)
                .arg(&src)
                .arg(format!("::{fname}")),
            "mtools",
        )?;
    }
    Ok(img)
}

/// Checks the workload's name and makes its starting disk.
pub fn prepare(workload: &str) -> std::io::Result<Media> {
    if !WORKLOADS.iter().any(|(n, _)| *n == workload) {
        return Err(std::io::Error::other(format!(
            "unknown workload {workload:?}; known: {}",
            WORKLOADS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "fdc-drivermodel-{}-{}-{workload}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    fdc_oracle::cleanup::create_dir_all(&dir)?;
    let mut media = Media {
        _cleanup: fdc_oracle::cleanup::Guard::path(&dir),
        dir,
        disk0: None,
        made: Default::default(),
    };
    let dir = &media.dir;
    let small_files = vec![
        (
            "README.TXT",
            b"Windows 2000 driver model test disk\r\n".repeat(20),
        ),
        ("AUTOEXEC.BAT", b"@echo off\r\n".to_vec()),
        ("DATA.BIN", pattern(20_000, 3)),
    ];
    media.disk0 = match workload {
        "boot-disk" | "dir" => Some(fat_image(dir, "disk.img", "W2KDISK", &small_files)?),
        "copy" => Some(fat_image(
            dir,
            "disk.img",
            "W2KCOPY",
            &[("BIG.DAT", pattern(300 * 1024, 9))],
        )?),
        "setup-4-disks" => Some(fat_image(
            dir,
            "disk1.img",
            "SETUP1",
            &[("DISK1.CAB", pattern(120_000, 1))],
        )?),
        "format" => {
            let p = dir.join("blank.img");
            std::fs::write(&p, vec![0xf6u8; SIZE_144 as usize])?;
            Some(p)
        }
        _ => None,
    };
    Ok(media)
}

/// The model with the workload's starting disk in drive A:.
pub fn model_for(media: &Media) -> std::io::Result<PcFloppy> {
    model_for_as(media, fdc::Profile::Qemu72)
}

/// [`model_for`] with a controller of implementation `profile`.
pub fn model_for_as(media: &Media, profile: fdc::Profile) -> std::io::Result<PcFloppy> {
    let drive0 = match &media.disk0 {
        None => DriveConfig::Empty,
        Some(p) => DriveConfig::Medium(Medium::from_image(std::fs::read(p)?, false)),
    };
    Ok(PcFloppy::new(Fdc::with_profile(
        drive0,
        DriveConfig::Absent,
        profile,
    )))
}

/// A QEMU (`qemu`) with the workload's starting disk in drive A: (used in place).
pub fn qemu_for(media: &Media, qemu: &Path) -> Result<Oracle, OracleError> {
    let spec = match &media.disk0 {
        None => DriveSpec::Empty,
        Some(p) => DriveSpec::Image {
            path: p.clone(),
            read_only: false,
        },
    };
    Oracle::start(OracleConfig {
        qemu: qemu.to_path_buf(),
        ..OracleConfig::with_drives([spec, DriveSpec::Absent])
    })
}

/// The trace header of a recording of `workload` on `target`.
pub fn header(
    workload: &str,
    recorder: &str,
    media: &Media,
    target: &Target,
) -> std::io::Result<TraceHeader> {
    let medium = match &media.disk0 {
        None => None,
        Some(p) => {
            let data = std::fs::read(p)?;
            Some(fdc_trace::Medium {
                format: Some("1.44M".into()),
                size: data.len() as u64,
                read_only: false,
                digest: Some(ImageDigest::of(&data)),
                embedded: false,
                image: None,
            })
        }
    };
    let (qemu_version, answers) = match target {
        Target::Qemu(_) => (
            Some("7.2".into()),
            "every port read value is real QEMU's answer (closed loop through the qtest oracle)",
        ),
        Target::Model => (
            None,
            "every port read value is the fdc model's answer (closed loop through fdc::Machine)",
        ),
    };
    Ok(TraceHeader {
        guest: Some("windows".into()),
        guest_version: Some("2000 (driver model)".into()),
        workload: Some(workload.into()),
        provenance: Provenance {
            kind: ProvenanceKind::DriverModel,
            recorder: Some(recorder.into()),
            packages: vec![],
        },
        qemu_version,
        drives: vec![Drive { unit: 0, drive_type: DriveType::Auto, medium }],
        clock: Clock::Host { origin_unix_ns: 0 },
        source: Some("fdc_replay::drivermodel (a model of the Windows 2000 fdc.sys + flpydisk.sys floppy stack)".into()),
        notes: vec![
            "times are virtual-clock ns relative to the first event (exact, advanced by the driver model), not host time".into(),
            format!("{answers}; DMA controller I/O is not recorded"),
            "DMA channel 2 is programmed masked before the command and unmasked after its last byte (the NT HAL unmasks before); mode 0x46/0x4A".into(),
        ],
        migrations: vec![],
    })
}

/// Runs `workload` on `machine` (set up by [`model_for`] or [`qemu_for`] from `media`),
/// recording into `w`; returns what was recorded and the trace writer's output.
pub fn record<M: Machine, W: Write>(
    workload: &str,
    media: &Media,
    machine: M,
    w: TraceWriter<W>,
) -> Res<(Summary, W), M> {
    let mut d = Win2kFloppy::new(machine, w)?;
    d.stage("boot")?;
    // Time from power-on to fdc.sys START_DEVICE is not modelled beyond a short pause.
    d.sleep_ns(1_000_000)?;
    d.stage("init")?;
    d.start_device()?;
    d.idle(2_000_000_000)?;
    match workload {
        "boot-empty" => boot_empty(&mut d, media)?,
        "boot-disk" => boot_disk(&mut d)?,
        "dir" => dir_a(&mut d)?,
        "copy" => copy(&mut d)?,
        "setup-4-disks" => setup_disks(&mut d, media)?,
        "format" => format(&mut d)?,
        other => fail!("unknown workload {other:?}"),
    }
    d.stage("idle")?;
    d.idle(4_000_000_000)?;
    let stats = d.stats.clone();
    let (events, _, out) = d.finish()?;
    Ok((
        Summary {
            events,
            attempts: 1,
            stats,
        },
        out,
    ))
}

/// Why [`record_file`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The workload's images or the trace file.
    #[error("{0}")]
    Setup(#[from] std::io::Error),
    /// Creating the trace.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// Starting QEMU.
    #[error("starting the QEMU oracle: {0}")]
    Start(#[from] OracleError),
    /// The workload on the model.
    #[error(transparent)]
    Model(#[from] WorkloadError<ModelError>),
    /// The workload on QEMU.
    #[error(transparent)]
    Qemu(#[from] WorkloadError<OracleError>),
    /// Every attempt on QEMU had a late time step.
    #[error(
        "{workload}: each of {attempts} recordings on QEMU had a late time step (the oracle \
         lost a watchdog stop, which happens on a loaded machine): no exact recording"
    )]
    Inexact {
        /// The workload.
        workload: String,
        /// Recordings tried.
        attempts: usize,
    },
}

/// Recordings of one workload tried on QEMU before [`record_file`] gives up.
pub const MAX_RECORD_ATTEMPTS: usize = 4;

/// Records `workload` on `target` into the trace file `out`, deterministically: the
/// driver is closed-loop, so a QEMU time step that stops late (the oracle lost a watchdog
/// stop; the VM ran on to the next timer deadline) changes every later time. Such a
/// recording is thrown away and the workload recorded again from fresh media, up to
/// [`MAX_RECORD_ATTEMPTS`] times; the recording kept has no late step, so it equals the
/// same workload run on the model, event for event and time for time. On the model one
/// recording is always exact.
pub fn record_file(
    workload: &str,
    out: &Path,
    recorder: &str,
    target: &Target,
) -> Result<Summary, RecordError> {
    record_file_counted(workload, out, recorder, target, None)
}

/// [`record_file`], calling `on_event` after every event recorded (a progress display;
/// a recording made again counts its events again).
pub fn record_file_counted(
    workload: &str,
    out: &Path,
    recorder: &str,
    target: &Target,
    on_event: Option<Box<dyn FnMut() + Send>>,
) -> Result<Summary, RecordError> {
    let shared = on_event.map(|f| std::sync::Arc::new(std::sync::Mutex::new(f)));
    for attempt in 1..=MAX_RECORD_ATTEMPTS {
        let callback = shared.clone().map(|f| {
            Box::new(move || {
                if let Ok(mut f) = f.lock() {
                    f();
                }
            }) as Box<dyn FnMut() + Send>
        });
        let mut s = record_once(workload, out, recorder, target, callback)?;
        s.attempts = attempt;
        if s.stats.overshoots == 0 {
            return Ok(s);
        }
        eprintln!(
            "note: {workload}: {} late QEMU time step(s) in recording {attempt} of at most \
             {MAX_RECORD_ATTEMPTS}: recording again",
            s.stats.overshoots
        );
    }
    Err(RecordError::Inexact {
        workload: workload.to_string(),
        attempts: MAX_RECORD_ATTEMPTS,
    })
}

fn record_once(
    workload: &str,
    out: &Path,
    recorder: &str,
    target: &Target,
    on_event: Option<Box<dyn FnMut() + Send>>,
) -> Result<Summary, RecordError> {
    let media = prepare(workload)?;
    let hdr = header(workload, recorder, &media, target)?;
    let mut w = TraceWriter::create(out, &hdr, WriteOptions::default())?;
    if let Some(f) = on_event {
        w.on_event(f);
    }
    let summary = match target {
        Target::Model => record(workload, &media, model_for(&media)?, w)?.0,
        Target::Qemu(qemu) => record(workload, &media, qemu_for(&media, qemu)?, w)?.0,
    };
    Ok(summary)
}

/// Boot sector geometry (BPB).
struct Fat {
    fat_lba: u32,
    spf: u32,
    nfats: u32,
    root_lba: u32,
    root_secs: u32,
    data_lba: u32,
    spc: u32,
}

fn bpb(boot: &[u8]) -> Fat {
    let u16le = |o: usize| u32::from(u16::from_le_bytes([boot[o], boot[o + 1]]));
    let (spc, res, nfats, ents, spf) = (
        u32::from(boot[13]),
        u16le(14),
        u32::from(boot[16]),
        u16le(17),
        u16le(22),
    );
    let ok = boot[510] == 0x55 && boot[511] == 0xaa && spc > 0 && spf > 0 && nfats > 0;
    let (spc, res, nfats, ents, spf) = if ok {
        (spc, res, nfats, ents, spf)
    } else {
        (1, 1, 2, 224, 9)
    };
    let root_lba = res + nfats * spf;
    let root_secs = ents * 32 / 512;
    Fat {
        fat_lba: res,
        spf,
        nfats,
        root_lba,
        root_secs,
        data_lba: root_lba + root_secs,
        spc,
    }
}

/// Root directory entries: (name, first cluster, size).
fn dir_entries(root: &[u8]) -> Vec<(String, u32, u32)> {
    let mut v = Vec::new();
    for e in root.chunks(32) {
        if e[0] == 0 {
            break;
        }
        if e[0] == 0xe5 || e[11] & 0x08 != 0 {
            continue;
        }
        let name = String::from_utf8_lossy(&e[..11]).trim().to_string();
        let cl = u32::from(u16::from_le_bytes([e[26], e[27]]));
        let size = u32::from_le_bytes([e[28], e[29], e[30], e[31]]);
        v.push((name, cl, size));
    }
    v
}

/// Mount: boot sector, both FATs... as the FAT file system does: sector 0, the first
/// FAT, the root directory.
fn mount<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>) -> super::Result<(Fat, Vec<u8>), M> {
    let mut boot = vec![0u8; 512];
    d.irp(0, 1, false, &mut boot)?;
    let fat = bpb(&boot);
    let mut fatbuf = vec![0u8; (fat.spf * 512) as usize];
    d.irp(fat.fat_lba, fat.spf, false, &mut fatbuf)?;
    let mut root = vec![0u8; (fat.root_secs * 512) as usize];
    d.irp(fat.root_lba, fat.root_secs, false, &mut root)?;
    Ok((fat, root))
}

fn expect_err<E: std::error::Error + 'static>(
    r: Result<(), DriverError<E>>,
    what: &str,
) -> Result<DriverError<E>, WorkloadError<E>> {
    match r {
        Err(e) => Ok(e),
        Ok(()) => fail!("{what}: expected an error from the machine, got success"),
    }
}

fn boot_empty<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>, media: &Media) -> Res<(), M> {
    d.stage("probe")?;
    // Mount attempt at boot and two polls (e.g. Explorer refreshing A:): no medium.
    let mut buf = vec![0u8; 512];
    for i in 0..3 {
        let e = expect_err(d.irp(0, 1, false, &mut buf), "read of an empty drive")?;
        if !matches!(e, DriverError::NoMedia) {
            fail!("empty drive: expected NO_MEDIA, got {e}");
        }
        d.idle(if i == 0 { 500_000_000 } else { 1_500_000_000 })?;
    }
    d.stage("idle")?;
    d.idle(4_000_000_000)?;
    d.stage("insert")?;
    let img = media.image("late.img", "LATE", &[("HELLO.TXT", b"hello\r\n".to_vec())])?;
    d.insert(0, &Medium::from_image(img, false))?;
    d.idle(1_000_000_000)?;
    d.stage("detect")?;
    let (_fat, root) = mount(d)?;
    if !dir_entries(&root)
        .iter()
        .any(|(n, _, _)| n.starts_with("HELLO"))
    {
        fail!("inserted disk: HELLO.TXT not found in the root directory read through the machine");
    }
    Ok(())
}

fn boot_disk<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>) -> Res<(), M> {
    d.stage("detect")?;
    let mut boot = vec![0u8; 512];
    d.irp(0, 1, false, &mut boot)?;
    if boot[510..512] != [0x55, 0xaa] {
        fail!("boot sector read through the machine lacks the 55 AA signature");
    }
    d.stage("read")?;
    let (_fat, root) = mount(d)?;
    if dir_entries(&root).is_empty() {
        fail!("root directory read through the machine is empty");
    }
    Ok(())
}

fn dir_a<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>) -> Res<(), M> {
    d.stage("detect")?;
    d.check_verify()?;
    d.stage("read")?;
    let (_fat, root) = mount(d)?;
    // "dir a:" a second time a moment later: the directory again (cached FAT).
    d.idle(800_000_000)?;
    d.stage("dir")?;
    let fat = bpb(&{
        let mut b = vec![0u8; 512];
        d.irp(0, 1, false, &mut b)?;
        b
    });
    let mut root2 = vec![0u8; (fat.root_secs * 512) as usize];
    d.irp(fat.root_lba, fat.root_secs, false, &mut root2)?;
    if root2 != root {
        fail!("root directory differs between two reads");
    }
    Ok(())
}

/// Reads a file that `mcopy` allocated contiguously from cluster `cl`, in read requests
/// of at most `per_request` sectors, idling `idle_ns` after each when given (as an
/// application copying in chunks does).
fn read_contiguous<M: Machine, W: Write>(
    d: &mut Win2kFloppy<M, W>,
    fat: &Fat,
    cl: u32,
    size: u32,
    per_request: u32,
    idle_ns: Option<u64>,
) -> Res<Vec<u8>, M> {
    let first = fat.data_lba + (cl - 2) * fat.spc;
    let secs = size.div_ceil(512);
    let mut data = vec![0u8; (secs * 512) as usize];
    let mut done = 0;
    while done < secs {
        let n = (secs - done).min(per_request);
        let off = (done * 512) as usize;
        d.irp(
            first + done,
            n,
            false,
            &mut data[off..off + (n * 512) as usize],
        )?;
        done += n;
        if let Some(ns) = idle_ns {
            d.idle(ns)?;
        }
    }
    Ok(data)
}

fn copy<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>) -> Res<(), M> {
    d.stage("detect")?;
    let (fat, root) = mount(d)?;
    let (_, cl, size) = dir_entries(&root)
        .into_iter()
        .find(|(n, _, _)| n.starts_with("BIG"))
        .ok_or_else(|| check("BIG.DAT not in the root directory"))?;
    d.stage("read")?;
    // mcopy on a fresh file system allocates contiguously: read in 64 KB requests.
    let data = read_contiguous(d, &fat, cl, size, 128, Some(2_000_000))?;
    let (first, secs) = (fat.data_lba + (cl - 2) * fat.spc, size.div_ceil(512));
    if data[..size as usize] != pattern(300 * 1024, 9)[..] {
        fail!("file data read through the machine differs from BIG.DAT");
    }
    d.stage("write")?;
    // Write ~100 KB to free clusters after the file, then both FATs and the root dir.
    let wsecs = 200u32;
    let mut wdata = pattern((wsecs * 512) as usize, 42);
    let wfirst = first + secs.div_ceil(fat.spc) * fat.spc;
    let mut done = 0;
    while done < wsecs {
        let n = (wsecs - done).min(64);
        let off = (done * 512) as usize;
        d.irp(
            wfirst + done,
            n,
            true,
            &mut wdata[off..off + (n * 512) as usize],
        )?;
        done += n;
        d.idle(2_000_000)?;
    }
    let mut fatbuf = vec![0u8; (fat.spf * 512) as usize];
    d.irp(fat.fat_lba, fat.spf, false, &mut fatbuf)?;
    for i in 0..fat.nfats {
        d.irp(fat.fat_lba + i * fat.spf, fat.spf, true, &mut fatbuf)?;
    }
    let mut root1 = root[..512].to_vec();
    d.irp(fat.root_lba, 1, true, &mut root1)?;
    d.stage("verify")?;
    let mut back = vec![0u8; (64 * 512) as usize];
    d.irp(wfirst, 64, false, &mut back)?;
    if back[..] != wdata[..back.len()] {
        fail!("data written through the machine does not read back");
    }
    Ok(())
}

fn setup_disks<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>, media: &Media) -> Res<(), M> {
    for disk in 1..=4u32 {
        if disk > 1 {
            d.stage(&format!("swap-{disk}"))?;
            d.eject(0)?;
            d.idle(4_000_000_000)?;
            let img = media.image(
                &format!("disk{disk}.img"),
                &format!("SETUP{disk}"),
                &[(&format!("DISK{disk}.CAB"), pattern(120_000, disk as u8))],
            )?;
            d.insert(0, &Medium::from_image(img, false))?;
            d.idle(1_500_000_000)?;
        }
        d.stage(&format!("disk-{disk}"))?;
        let (fat, root) = mount(d)?;
        let (name, cl, size) = dir_entries(&root)
            .into_iter()
            .find(|(n, _, _)| n.starts_with("DISK"))
            .ok_or_else(|| check("setup disk: DISKn.CAB missing"))?;
        if !name.starts_with(&format!("DISK{disk}")) {
            fail!("disk {disk}: found {name} (the media change was not seen)");
        }
        let data = read_contiguous(d, &fat, cl, size, 64, None)?;
        if data[..size as usize] != pattern(120_000, disk as u8)[..] {
            fail!("disk {disk}: file data read through the machine differs");
        }
    }
    Ok(())
}

fn format<M: Machine, W: Write>(d: &mut Win2kFloppy<M, W>) -> Res<(), M> {
    d.stage("detect")?;
    // GET_DRIVE_GEOMETRY: FlStartDrive with media determination.
    d.check_verify()?;
    d.stage("format")?;
    // FORMAT_TRACKS a cylinder (2 tracks) per IOCTL.
    for c in 0..80u8 {
        d.start_request(true)?;
        for h in 0..2u8 {
            d.format_track(c, h)?;
        }
        d.request_done();
    }
    d.stage("verify")?;
    let mut track = vec![0u8; 18 * 512];
    for t in 0..160u32 {
        d.irp(t * 18, 18, false, &mut track)?;
    }
    d.stage("write-fs")?;
    let mut boot = vec![0u8; 512];
    boot[0..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
    boot[3..11].copy_from_slice(b"MSDOS5.0");
    boot[11..13].copy_from_slice(&512u16.to_le_bytes());
    boot[13] = 1;
    boot[14..16].copy_from_slice(&1u16.to_le_bytes());
    boot[16] = 2;
    boot[17..19].copy_from_slice(&224u16.to_le_bytes());
    boot[19..21].copy_from_slice(&2880u16.to_le_bytes());
    boot[21] = 0xf0;
    boot[22..24].copy_from_slice(&9u16.to_le_bytes());
    boot[24..26].copy_from_slice(&18u16.to_le_bytes());
    boot[26..28].copy_from_slice(&2u16.to_le_bytes());
    boot[510] = 0x55;
    boot[511] = 0xaa;
    d.irp(0, 1, true, &mut boot)?;
    let mut fat = vec![0u8; 9 * 512];
    fat[..3].copy_from_slice(&[0xf0, 0xff, 0xff]);
    d.irp(1, 9, true, &mut fat)?;
    d.irp(10, 9, true, &mut fat)?;
    let mut root = vec![0u8; 14 * 512];
    d.irp(19, 14, true, &mut root)?;
    let mut back = vec![0u8; 512];
    d.irp(0, 1, false, &mut back)?;
    if back != boot {
        fail!("boot sector written through the machine does not read back");
    }
    Ok(())
}
