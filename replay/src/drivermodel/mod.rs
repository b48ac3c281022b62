//! A guest-driver model of the Windows 2000 floppy stack (`fdc.sys` + `flpydisk.sys`:
//! controller initialisation, media detection, per-track transfers with skew, DMA order,
//! disk-change handling, motor timing, retries, format) that runs closed-loop against any
//! [`Machine`] (real QEMU through the oracle, or the `fdc` model) and records what it did
//! as a trace.
//!
//! Every value the driver reads (MSR, FIFO, DIR) is the machine's answer: it decides what
//! to do next from those answers like the real driver does (MSR polls before each FIFO
//! byte, waiting for IRQ 6, SENSE INTERRUPT from the "ISR", retries, disk-change
//! handling). Only FDC ports (0x3F0-0x3F7) are recorded; DMA controller writes are not
//! (QEMU's fdc trace events would not log them either).
//!
//! The driver starts from power-on ([`Win2kFloppy::new`]) or from any machine state with
//! its own variables given ([`Win2kFloppy::with_state`], e.g. on a model loaded from a
//! migration state); [`Win2kFloppy::state`] reads them back, to fork a run.
//!
//! Deviation from the real stack, forced by the oracle: the DMA channel is programmed
//! masked before the command and unmasked after the last parameter byte (the HAL unmasks
//! it before the command is sent). The FDC port sequence is the same either way.

pub mod workloads;

use fdc::machine::{DmaAddress, Machine};
use fdc::ports::{i8257, FDC_BASE};
use fdc::registers::Register;
use fdc::{DmaMode, FdcState};
use fdc_trace::{Event, MediaChange, TraceError, TraceWriter};
use std::io::Write;

const DOR: Register = Register::Dor;
const MSR: Register = Register::MsrDsr;
const FIFO: Register = Register::Fifo;
const DIR: Register = Register::DirCcr;
const CCR: Register = Register::DirCcr;

/// Physical address of the DMA buffer (one 18-sector track fits below the next 64 KiB
/// boundary).
pub const DMA_BUF: DmaAddress = DmaAddress::from_page(2, 0);

/// Errors of the driver model (`E`: the machine's).
#[derive(Debug, thiserror::Error)]
pub enum DriverError<E: std::error::Error + 'static> {
    /// The machine failed.
    #[error("machine: {0}")]
    Machine(#[source] E),
    /// Writing the trace failed.
    #[error("trace: {0}")]
    Trace(#[from] TraceError),
    /// The controller never became ready.
    #[error("controller not ready (MSR poll gave up)")]
    HardwareFailed,
    /// No interrupt came.
    #[error("no interrupt within {0} ms")]
    IrqTimeout(u64),
    /// STATUS_NO_MEDIA_IN_DEVICE.
    #[error("no media in device")]
    NoMedia,
    /// STATUS_VERIFY_REQUIRED: the medium changed.
    #[error("verify required (medium changed)")]
    VerifyRequired,
    /// STATUS_UNRECOGNIZED_MEDIA.
    #[error("media type could not be determined")]
    UnrecognizedMedia,
    /// STATUS_MEDIA_WRITE_PROTECTED.
    #[error("write protected")]
    WriteProtected,
    /// A transfer failed after every retry.
    #[error("i/o error at C{c} H{h} R{r}: {results:02x?}")]
    Io {
        /// Cylinder.
        c: u8,
        /// Head.
        h: u8,
        /// Sector.
        r: u8,
        /// The last result bytes.
        results: [u8; 7],
    },
}

/// A result of the driver on machine `M`.
pub type Result<T, M> = std::result::Result<T, DriverError<<M as Machine>::Error>>;

/// Media types the 1.44 MB drive tries, highest first (`FlDetermineMediaType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// 1.44 MB: 18 sectors per track at 500 kb/s.
    M144,
    /// 720 KB: 9 sectors per track at 250 kb/s.
    M720,
}

impl MediaType {
    fn specify(self) -> [u8; 3] {
        match self {
            MediaType::M144 => [0x03, 0xaf, 0x02],
            MediaType::M720 => [0x03, 0xdf, 0x02],
        }
    }
    fn ccr(self) -> u8 {
        match self {
            MediaType::M144 => 0x00,
            MediaType::M720 => 0x02,
        }
    }
    /// Sectors per track.
    pub fn spt(self) -> u8 {
        match self {
            MediaType::M144 => 18,
            MediaType::M720 => 9,
        }
    }
    fn gpl(self) -> u8 {
        match self {
            MediaType::M144 => 0x1b,
            MediaType::M720 => 0x2a,
        }
    }
}

/// Counters reported after a run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Commands sent.
    pub commands: u64,
    /// READ/WRITE DATA commands among them.
    pub transfers: u64,
    /// Retries (transfers, media determination, format).
    pub retries: u64,
    /// Requests (IRPs) served.
    pub irps: u64,
    /// Time steps the machine ended later than asked (see `sleep_ns`).
    pub overshoots: u64,
}

/// The driver's own variables (what fdc.sys and flpydisk.sys keep besides the
/// controller's state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriverState {
    /// DOR image (fdc.sys keeps one; NT never reads the DOR).
    pub dor: u8,
    /// Unit used for requests (drive A:).
    pub unit: u8,
    /// Known media type, `None` = Undetermined.
    pub media: Option<MediaType>,
    /// Whether CONFIGURE is still sent (never again once refused).
    pub configurable: bool,
    /// Machine time at the end of the last request (for the 3 s motor-off).
    pub last_request_end: u64,
}

impl DriverState {
    /// The variables at driver start-up, on a machine whose clock reads `now`.
    pub fn at_start(now: u64) -> DriverState {
        DriverState {
            dor: 0,
            unit: 0,
            media: None,
            configurable: true,
            last_request_end: now,
        }
    }

    /// The variables of a driver attached to a controller in `state` (e.g. a migration
    /// state loaded into a model) at time `now`: the DOR image is the controller's, the
    /// media type undetermined (the next request determines it again).
    pub fn for_controller(state: &FdcState, now: u64) -> DriverState {
        DriverState {
            dor: state.dor_vmstate,
            ..DriverState::at_start(now)
        }
    }
}

/// The Windows 2000 floppy stack, driving one [`Machine`], recording into a trace.
pub struct Win2kFloppy<M: Machine, W: Write> {
    /// The machine driven.
    pub machine: M,
    w: TraceWriter<W>,
    /// Machine clock at the first event.
    t0: u64,
    /// Current machine clock (ns), kept in step with every advance.
    now: u64,
    /// The driver's variables.
    pub vars: DriverState,
    /// Counters.
    pub stats: Stats,
}

fn msr_ready_out(v: u8) -> bool {
    v & 0xc0 == 0x80
}
fn msr_ready_in(v: u8) -> bool {
    v & 0xc0 == 0xc0
}

impl<M: Machine, W: Write> Win2kFloppy<M, W> {
    /// The driver at start-up on `machine`, recording into `w`.
    pub fn new(mut machine: M, w: TraceWriter<W>) -> Result<Self, M> {
        let now = machine.now_ns().map_err(DriverError::Machine)?;
        Ok(Self::with_state(
            machine,
            w,
            DriverState::at_start(now),
            now,
        ))
    }

    /// The driver with variables `vars` on `machine` (in whatever state it is), whose
    /// clock reads `now`; the trace's times count from `now`.
    pub fn with_state(machine: M, w: TraceWriter<W>, vars: DriverState, now: u64) -> Self {
        Win2kFloppy {
            machine,
            w,
            t0: now,
            now,
            vars,
            stats: Stats::default(),
        }
    }

    /// The driver's variables now (with the machine's state, all a fork needs).
    pub fn state(&self) -> DriverState {
        self.vars.clone()
    }

    fn t(&self) -> u64 {
        self.now - self.t0
    }

    /// Finishes the trace; returns the number of events written, the machine and the
    /// trace writer's output.
    pub fn finish(self) -> Result<(u64, M, W), M> {
        let n = self.w.event_count();
        let out = self.w.finish()?;
        Ok((n, self.machine, out))
    }

    /// Events written so far.
    pub fn event_count(&self) -> u64 {
        self.w.event_count()
    }

    // ---- primitives -------------------------------------------------------------------

    /// Lets virtual time pass (stall / sleep / idle), in the oracle's 10 ns steps.
    pub fn sleep_ns(&mut self, ns: u64) -> Result<(), M> {
        let ns = ns.div_ceil(10) * 10;
        if ns == 0 {
            return Ok(());
        }
        let target = self.now + ns;
        if let Err(e) = self.machine.advance_ns(ns) {
            // The oracle's time step occasionally stops late (a lost watchdog STOP under
            // load). More virtual time passed than asked for; every later value is still
            // the machine's and the trace records the real clock, so the driver carries on.
            // Any other failure leaves the clock short of the target.
            let now = self.machine.now_ns().map_err(DriverError::Machine)?;
            if now <= target {
                return Err(DriverError::Machine(e));
            }
            self.stats.overshoots += 1;
        }
        self.now = self.machine.now_ns().map_err(DriverError::Machine)?;
        Ok(())
    }

    /// Records the start of a workload stage.
    pub fn stage(&mut self, label: &str) -> Result<(), M> {
        let t = self.t();
        self.w.write_event(Event::Stage {
            t_ns: t,
            label: label.to_string(),
        })?;
        Ok(())
    }

    /// Ejects drive `drive`'s medium (the user does) and records it.
    pub fn eject(&mut self, drive: u8) -> Result<(), M> {
        self.machine.eject(drive).map_err(DriverError::Machine)?;
        self.media_event(drive, MediaChange::Eject)
    }

    /// Inserts `medium` into drive `drive` (the user does) and records it.
    pub fn insert(&mut self, drive: u8, medium: &fdc::Medium) -> Result<(), M> {
        self.machine
            .insert(drive, medium)
            .map_err(DriverError::Machine)?;
        let change = MediaChange::Insert {
            size: medium.sectors() * fdc::media::SECTOR_LEN as u64,
            read_only: medium.read_only(),
        };
        self.media_event(drive, change)
    }

    fn media_event(&mut self, drive: u8, change: MediaChange) -> Result<(), M> {
        let t = self.t();
        self.w.write_event(Event::Media {
            t_ns: t,
            drive,
            change,
        })?;
        Ok(())
    }

    fn r(&mut self, reg: Register) -> Result<u8, M> {
        let v = self
            .machine
            .inb(FDC_BASE + reg as u16)
            .map_err(DriverError::Machine)?;
        let t = self.t();
        self.w.write_event(Event::PortRead {
            t_ns: t,
            offset: reg as u8,
            value: v,
        })?;
        Ok(v)
    }

    fn wr(&mut self, reg: Register, v: u8) -> Result<(), M> {
        self.machine
            .outb(FDC_BASE + reg as u16, v)
            .map_err(DriverError::Machine)?;
        let t = self.t();
        self.w.write_event(Event::PortWrite {
            t_ns: t,
            offset: reg as u8,
            value: v,
        })?;
        Ok(())
    }

    fn write_dor(&mut self, v: u8) -> Result<(), M> {
        self.vars.dor = v;
        self.wr(DOR, v)
    }

    /// Programs channel 2 for a transfer of `len` bytes out of memory (`write`) or into
    /// it, masked.
    fn dma_program(&mut self, len: u32, write: bool) -> Result<(), M> {
        let mode = if write {
            DmaMode::ReadFromMemory
        } else {
            DmaMode::WriteToMemory
        };
        self.machine
            .dma_program(DMA_BUF, (len - 1) as u16, i8257::single_mode(mode))
            .map_err(DriverError::Machine)
    }

    fn dma_mask(&mut self, masked: bool) -> Result<(), M> {
        self.machine.dma_mask(masked).map_err(DriverError::Machine)
    }

    /// `FcSendByte`: up to 500 polls 1 µs apart, then 5 more 10 ms apart.
    fn send(&mut self, b: u8) -> Result<(), M> {
        for _ in 0..500 {
            let v = self.r(MSR)?;
            if msr_ready_out(v) {
                return self.wr(FIFO, b);
            }
            self.sleep_ns(1_000)?;
        }
        for _ in 0..5 {
            self.sleep_ns(10_000_000)?;
            let v = self.r(MSR)?;
            if msr_ready_out(v) {
                return self.wr(FIFO, b);
            }
        }
        Err(DriverError::HardwareFailed)
    }

    /// `FcGetByte`.
    fn recv(&mut self) -> Result<u8, M> {
        for _ in 0..500 {
            let v = self.r(MSR)?;
            if msr_ready_in(v) {
                return self.r(FIFO);
            }
            self.sleep_ns(1_000)?;
        }
        for _ in 0..5 {
            self.sleep_ns(10_000_000)?;
            let v = self.r(MSR)?;
            if msr_ready_in(v) {
                return self.r(FIFO);
            }
        }
        Err(DriverError::HardwareFailed)
    }

    fn send_all(&mut self, bytes: &[u8]) -> Result<(), M> {
        self.stats.commands += 1;
        for &b in bytes {
            self.send(b)?;
        }
        Ok(())
    }

    /// Waits for IRQ 6 (`InterruptDelay` = 4 s): polls the line, letting virtual time
    /// pass in small steps (10 µs at first, up to 250 µs for long waits such as READ ID).
    fn wait_irq(&mut self) -> Result<(), M> {
        let start = self.now;
        let limit = 4_000_000_000u64;
        loop {
            if self.machine.irq().map_err(DriverError::Machine)? {
                return Ok(());
            }
            let waited = self.now - start;
            if waited >= limit {
                return Err(DriverError::IrqTimeout(limit / 1_000_000));
            }
            let step = if waited < 200_000 { 10_000 } else { 250_000 };
            self.sleep_ns(step)?;
        }
    }

    /// ISR for commands with a result phase: reads ST0, then a dummy MSR read.
    fn isr_result(&mut self) -> Result<Option<u8>, M> {
        self.sleep_ns(10_000)?;
        let v = self.r(MSR)?;
        let st0 = if msr_ready_in(v) {
            Some(self.r(FIFO)?)
        } else {
            None
        };
        self.r(MSR)?;
        self.sleep_ns(10_000)?;
        Ok(st0)
    }

    /// ISR for commands without a result phase (SEEK, RECAL, reset): SENSE INTERRUPT
    /// issued from the ISR.
    fn isr_sense(&mut self) -> Result<(), M> {
        self.sleep_ns(10_000)?;
        for _ in 0..25 {
            self.sleep_ns(1_000)?;
            let v = self.r(MSR)?;
            if v & 0x10 == 0 && msr_ready_out(v) {
                break;
            }
        }
        self.wr(FIFO, 0x08)?;
        for _ in 0..50 {
            let v = self.r(MSR)?;
            self.sleep_ns(1_000)?;
            if v & 0x10 != 0 {
                break;
            }
        }
        self.r(MSR)?;
        self.sleep_ns(10_000)?;
        Ok(())
    }

    /// SEEK or RECALIBRATE: command, IRQ, ISR SENSE INTERRUPT, thread reads ST0/PCN.
    fn seek_like(&mut self, cmd: &[u8]) -> Result<(u8, u8), M> {
        self.send_all(cmd)?;
        self.wait_irq()?;
        self.isr_sense()?;
        let st0 = self.recv()?;
        let pcn = self.recv()?;
        Ok((st0, pcn))
    }

    fn recalibrate(&mut self) -> Result<bool, M> {
        let u = self.vars.unit;
        for _ in 0..2 {
            let (st0, pcn) = self.seek_like(&[0x07, u])?;
            if st0 & 0x20 != 0 && pcn == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn seek(&mut self, c: u8, hu: u8) -> Result<(u8, u8), M> {
        self.seek_like(&[0x0f, hu, c])
    }

    /// READ ID: 7 result bytes (ST0 read by the ISR, 6 by the thread).
    fn read_id(&mut self, hu: u8) -> Result<[u8; 7], M> {
        self.send_all(&[0x4a, hu])?;
        self.wait_irq()?;
        self.result7()
    }

    fn result7(&mut self) -> Result<[u8; 7], M> {
        let mut res = [0u8; 7];
        let mut i = 0;
        if let Some(st0) = self.isr_result()? {
            res[0] = st0;
            i = 1;
        }
        while i < 7 {
            res[i] = self.recv()?;
            i += 1;
        }
        Ok(res)
    }

    // ---- fdc.sys ----------------------------------------------------------------------

    /// The reset block of `FcInitializeControllerHardware` (also IOCTL RESET_FDC): DOR
    /// reset keeping the motor bits, IRQ, SENSE INTERRUPT in the ISR plus three more.
    pub fn reset_fdc(&mut self) -> Result<(), M> {
        let motor = self.vars.dor & 0xf3;
        self.write_dor(motor | 0x08)?;
        self.sleep_ns(10_000)?;
        self.write_dor(motor | 0x0c)?;
        self.wait_irq()?;
        self.isr_sense()?;
        self.recv()?;
        self.recv()?;
        for _ in 0..3 {
            self.send_all(&[0x08])?;
            self.recv()?;
            self.recv()?;
        }
        Ok(())
    }

    /// `FdcStartDevice`: reset, VERSION, PART ID, PERPENDICULAR, PART ID.
    pub fn start_device(&mut self) -> Result<(), M> {
        self.vars.dor = 0;
        self.reset_fdc()?;
        self.send_all(&[0x10])?;
        let _version = self.recv()?;
        self.send_all(&[0x18])?;
        let _p = self.recv()?;
        self.send_all(&[0x12, 0x80])?;
        self.send_all(&[0x18])?;
        let _p = self.recv()?;
        Ok(())
    }

    /// DISABLE_FDC_DEVICE after 3 s without requests.
    pub fn motor_off(&mut self) -> Result<(), M> {
        if self.vars.dor & 0xf0 != 0 {
            self.write_dor(0x0c)?;
        }
        Ok(())
    }

    /// Idle for `ns`: the floppy thread turns the motor off 3 s after the last request.
    pub fn idle(&mut self, ns: u64) -> Result<(), M> {
        let off_at = self.vars.last_request_end + 3_000_000_000;
        let end = self.now + ns;
        if self.vars.dor & 0xf0 != 0 && off_at <= end {
            if off_at > self.now {
                self.sleep_ns(off_at - self.now)?;
            }
            self.motor_off()?;
        }
        if end > self.now {
            self.sleep_ns(end - self.now)?;
        }
        Ok(())
    }

    // ---- flpydisk.sys -----------------------------------------------------------------

    /// `FlStartDrive`.
    pub fn start_drive(&mut self, write: bool, set_up_media: bool) -> Result<(), M> {
        let u = self.vars.unit;
        let on = u | (0x10 << u) | 0x0c;
        if self.vars.dor != on {
            self.write_dor(on)?;
            self.sleep_ns(1_000_000_000)?;
        }
        let dir = self.r(DIR)?;
        if dir & 0x80 != 0 {
            self.seek(1, u)?;
            self.sleep_ns(90_000)?;
            self.seek(0, u)?;
            self.sleep_ns(500)?;
            let dir = self.r(DIR)?;
            self.vars.media = None;
            if dir & 0x80 != 0 {
                return Err(DriverError::NoMedia);
            }
            return Err(DriverError::VerifyRequired);
        }
        if set_up_media && self.vars.media.is_none() {
            self.determine_media()?;
        }
        if write {
            self.send_all(&[0x04, u])?;
            let st3 = self.recv()?;
            if st3 & 0x40 != 0 {
                return Err(DriverError::WriteProtected);
            }
        }
        Ok(())
    }

    fn datarate_specify_configure(&mut self, m: MediaType) -> Result<(), M> {
        if self.vars.configurable {
            self.send_all(&[0x13, 0x00, 0x5f, 0x00])?;
        }
        self.send_all(&m.specify())?;
        self.wr(CCR, m.ccr())?;
        self.recalibrate()?;
        Ok(())
    }

    /// `FlDetermineMediaType`: 1.44 MB then 720 KB, whole loop up to 3 times.
    pub fn determine_media(&mut self) -> Result<(), M> {
        let u = self.vars.unit;
        for attempt in 0..3 {
            if attempt > 0 {
                self.stats.retries += 1;
                self.reset_fdc()?;
            }
            for m in [MediaType::M144, MediaType::M720] {
                self.datarate_specify_configure(m)?;
                let res = self.read_id(0x04 | u)?;
                if res[0] & !0x20 == 0x04 | u && res[1] == 0 && res[2] == 0 {
                    self.vars.media = Some(m);
                    // FlCheckBootSector: sector 0 through the track routine.
                    self.track(0, 0, 0, 1, false)?;
                    return Ok(());
                }
            }
        }
        Err(DriverError::UnrecognizedMedia)
    }

    /// One READ/WRITE DATA command for sectors `s0+1 ..= s0+k` of (c,h), DMA buffer at
    /// `DMA_BUF`.
    fn rw_command(&mut self, c: u8, h: u8, s0: u8, k: u8, write: bool) -> Result<[u8; 7], M> {
        let m = self.vars.media.unwrap_or(MediaType::M144);
        let u = self.vars.unit;
        let len = u32::from(k) * 512;
        self.dma_program(len, write)?;
        let op = if write { 0x45 } else { 0x46 };
        self.send_all(&[op, (h << 2) | u, c, h, s0 + 1, 0x02, s0 + k, m.gpl(), 0xff])?;
        self.dma_mask(false)?;
        self.stats.transfers += 1;
        self.wait_irq()?;
        let res = self.result7()?;
        self.dma_mask(true)?;
        Ok(res)
    }

    fn rw_ok(res: &[u8; 7]) -> bool {
        let normal = res[0] & 0xc0 == 0;
        let en = res[0] & 0xc0 == 0x40 && res[1] == 0x80 && res[2] == 0;
        (normal || en) && res[5] == 1
    }

    /// `FlReadWriteTrack` with its retries: 3 issues, then up to 3 recovery rounds
    /// (RECAL + SEEK + 15 ms + READ ID), then sector by sector.
    pub fn track(&mut self, c: u8, h: u8, s0: u8, k: u8, write: bool) -> Result<(), M> {
        let u = self.vars.unit;
        let mut last = [0u8; 7];
        for _round in 0..4 {
            for _try in 0..3 {
                let res = self.rw_command(c, h, s0, k, write)?;
                if Self::rw_ok(&res) {
                    return Ok(());
                }
                self.stats.retries += 1;
                last = res;
            }
            // Recovery round.
            self.recalibrate()?;
            self.seek(c, (h << 2) | u)?;
            self.sleep_ns(15_000_000)?;
            let id = self.read_id((h << 2) | u)?;
            if id[0] != (h << 2) | u || id[1] != 0 || id[2] != 0 || id[3] != c {
                continue;
            }
        }
        if k > 1 {
            for s in s0..s0 + k {
                self.track(c, h, s, 1, write)?;
            }
            return Ok(());
        }
        Err(DriverError::Io {
            c,
            h,
            r: s0 + 1,
            results: last,
        })
    }

    /// One read or write IRP of `count` sectors from `lba` (`FlReadWrite`, skew 3).
    /// A VERIFY_REQUIRED completion is retried once, as the file system re-verifies.
    /// Sector data goes to / comes from `data`, staged through the DMA buffer.
    pub fn irp(&mut self, lba: u32, count: u32, write: bool, data: &mut [u8]) -> Result<(), M> {
        self.stats.irps += 1;
        let r = self
            .start_request(write)
            .and_then(|()| self.irp_body(lba, count, write, data));
        self.vars.last_request_end = self.now;
        r
    }

    fn irp_body(&mut self, lba: u32, count: u32, write: bool, data: &mut [u8]) -> Result<(), M> {
        let spt = u32::from(self.vars.media.unwrap_or(MediaType::M144).spt());
        let skew_delta = 3u32;
        let mut skew = 0u32;
        let mut done = 0u32;
        while done < count {
            let l = lba + done;
            let track = l / spt;
            let (c, h) = ((track / 2) as u8, (track % 2) as u8);
            let ts = l % spt;
            let n = (spt - ts).min(count - done);
            if skew >= n + ts {
                skew = 0;
            }
            if skew < ts {
                skew = ts;
            }
            let mut pieces = vec![(skew, n + ts - skew)];
            if skew > ts {
                pieces.push((ts, skew - ts));
            } else {
                skew = (n + ts) % spt;
            }
            skew = (skew + skew_delta) % spt;
            for (s0, k) in pieces {
                let off = ((track * spt + s0 - lba) * 512) as usize;
                let len = (k * 512) as usize;
                if write {
                    self.machine
                        .write_mem(u64::from(DMA_BUF.get()), &data[off..off + len])
                        .map_err(DriverError::Machine)?;
                }
                self.track(c, h, s0 as u8, k as u8, write)?;
                if !write {
                    let got = self
                        .machine
                        .read_mem(u64::from(DMA_BUF.get()), len)
                        .map_err(DriverError::Machine)?;
                    data[off..off + len].copy_from_slice(&got);
                }
            }
            done += n;
        }
        Ok(())
    }

    /// `FlStartDrive` for a request; a VERIFY_REQUIRED completion (medium changed) is
    /// followed by the file system's re-verify, which runs FlStartDrive again with media
    /// determination, and the request is reissued.
    pub fn start_request(&mut self, write: bool) -> Result<(), M> {
        match self.start_drive(write, true) {
            Err(DriverError::VerifyRequired) => self.start_drive(write, true),
            r => r,
        }
    }

    /// CHECK_VERIFY / GET_DRIVE_GEOMETRY-style request (no transfer): FlStartDrive only.
    pub fn check_verify(&mut self) -> Result<(), M> {
        self.stats.irps += 1;
        let r = self.start_request(false);
        self.vars.last_request_end = self.now;
        r
    }

    /// FORMAT of one track: SEEK (no head bit), 15 ms, READ ID head 0, FORMAT TRACK.
    pub fn format_track(&mut self, c: u8, h: u8) -> Result<(), M> {
        let u = self.vars.unit;
        let m = self.vars.media.unwrap_or(MediaType::M144);
        for attempt in 0..4 {
            if attempt > 0 {
                self.stats.retries += 1;
            }
            let (st0, pcn) = self.seek(c, u)?;
            let _ = st0 & 0x20 != 0 && pcn == c;
            self.sleep_ns(15_000_000)?;
            self.read_id(u)?;
            let mut ids = Vec::with_capacity(4 * usize::from(m.spt()));
            for r in 1..=m.spt() {
                ids.extend_from_slice(&[c, h, r, 2]);
            }
            self.machine
                .write_mem(u64::from(DMA_BUF.get()), &ids)
                .map_err(DriverError::Machine)?;
            self.dma_program(512, true)?;
            self.send_all(&[0x4d, (h << 2) | u, 0x02, m.spt(), 0x6c, 0xf6])?;
            self.dma_mask(false)?;
            self.wait_irq()?;
            let res = self.result7()?;
            self.dma_mask(true)?;
            if res[0] & 0xd0 == 0 && res[1] & 0x10 == 0 && res[2] == 0 {
                return Ok(());
            }
        }
        let dir = self.r(DIR)?;
        if dir & 0x80 != 0 {
            return Err(DriverError::NoMedia);
        }
        Ok(())
    }

    /// Marks the end of a request for the motor timer.
    pub fn request_done(&mut self) {
        self.vars.last_request_end = self.now;
    }
}
