//! The controller core (QEMU `FDCtrl`): registers, FIFO, phases, IRQ, READ ID timer.
//!
//! `read`/`write` take a register offset like QEMU's core dispatcher (`offset & 7`, all
//! eight offsets decoded); the PC's ISA decode (offsets 0 and 6 not decoded, 16-bit
//! splits) and the i8257 live in [`crate::isa`]. Time is an input: [`Fdc::advance_to`]
//! moves the virtual clock and fires the READ ID timer exactly when QEMU would.

use crate::commands::{Command, Direction};
use crate::drive::{Drive, DriveConfig};
use crate::phase::{reconstruct_phase, Phase};
use crate::profile::{Profile, ProfileField};
use crate::registers::{dor, dsr, msr, sra, srb, st, tdr, Register};

/// Size of QEMU's FIFO buffer; every FIFO index is taken modulo this (the VENOM fix).
pub const FIFO_LEN: usize = 512;

/// The READ ID result latency: QEMU arms its timer for 1/50 s of virtual time.
pub const READ_ID_DELAY_NS: u64 = 1_000_000_000 / 50;

/// The end of QEMU's virtual clock (an int64 of nanoseconds): time saturates here.
pub const MAX_CLOCK_NS: u64 = i64::MAX as u64;

/// Number of "reset" SENSE INTERRUPT answers after a guest-visible reset.
pub const RESET_SENSEI_COUNT: i32 = 4;

/// `data_state` bits.
pub mod data_state {
    /// MT flag of the current transfer.
    pub const MULTI: u8 = 0x01;
    /// Set while FORMAT TRACK runs; only a migration stream can leave it set.
    pub const FORMAT: u8 = 0x02;
}

/// A state in which QEMU 7.2 itself would abort (failed assertion or `abort()`).
///
/// Port I/O alone never reaches one; only a state loaded without validation can. The model
/// records the first one and from then on behaves like a dead device (reads 0xFF, writes
/// ignored), so fuzzers and replays can report it instead of crashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// FIFO written with a phase other than COMMAND/EXECUTION (the phase byte):
    /// `fdctrl_write_data`'s `default: abort()`.
    WriteInPhase(u8),
    /// FIFO read with a phase other than EXECUTION/RESULT (the phase byte):
    /// `fdctrl_read_data`'s `default: abort()`.
    ReadInPhase(u8),
    /// Execution-phase FIFO access without NONDMA (`assert(fdctrl->msr & FD_MSR_NONDMA)`).
    ExecutionWithoutNonDma,
    /// Command-phase write with NONDMA set, or result read with NONDMA set
    /// (`assert(!(fdctrl->msr & FD_MSR_NONDMA))`).
    NonDmaOutsideExecution,
    /// Command-phase write with `data_pos` >= 512 (`assert(fdctrl->data_pos <
    /// FD_SECTOR_LEN)`).
    CommandOverrun,
}

/// The controller model. Cheap to clone (no heap besides copy-on-write media) and
/// comparable with `==`, so replays can fork at any point and compare states.
#[derive(Clone, Debug, PartialEq)]
pub struct Fdc {
    pub(crate) sra: u8,
    pub(crate) srb: u8,
    pub(crate) dor: u8,
    pub(crate) tdr: u8,
    pub(crate) dsr: u8,
    pub(crate) msr: u8,
    pub(crate) cur_drv: u8,
    pub(crate) status0: u8,
    pub(crate) status1: u8,
    pub(crate) status2: u8,
    pub(crate) fifo: [u8; FIFO_LEN],
    pub(crate) data_pos: u32,
    pub(crate) data_len: u32,
    pub(crate) data_state: u8,
    pub(crate) data_dir: u8,
    pub(crate) eot: u8,
    pub(crate) timer0: u8,
    pub(crate) timer1: u8,
    pub(crate) precomp_trk: u8,
    pub(crate) config: u8,
    pub(crate) lock: u8,
    pub(crate) pwrd: u8,
    pub(crate) reset_sensei: i32,
    pub(crate) phase: u8,
    /// Virtual time at which the READ ID timer fires, if armed.
    pub(crate) result_timer: Option<u64>,
    /// Current virtual time (ns).
    pub(crate) now: u64,
    /// DMA request bit of channel 2 (i8257 state: set by DREQ and by a software request).
    pub(crate) dreq: bool,
    /// Set when the controller has just asserted DREQ: QEMU's i8257 then runs the channel
    /// synchronously, inside the same port write (`hold_DREQ`).
    pub(crate) dreq_asserted: bool,
    /// Channel 2 unmasked (i8257 state, kept in step by the environment).
    pub(crate) dma_unmasked: bool,
    /// Bytes channel 2 is programmed for (i8257 state, kept in step by the environment).
    pub(crate) dma_len: u32,
    /// True while the transfer handler runs under the i8257's `dma_run` (its `running`
    /// guard), false when the controller called it itself (VERIFY) or is doing PIO.
    pub(crate) in_dma_run: bool,
    /// Set when QEMU's outcome depends on memory it never initialised (a DMA SCAN through a
    /// channel in verify mode); see [`Fdc::take_indeterminate`].
    pub(crate) indeterminate: bool,
    pub(crate) fault: Option<Fault>,
    /// The opcode the controller accepted last (not migrated: QEMU keeps it only in
    /// `fifo[0]`, which results overwrite).
    pub(crate) opcode: Option<u8>,
    /// The implementation (ignored by `==`: see [`Profile`]).
    pub(crate) profile: ProfileField,
    /// The two drive slots. Last on purpose: the derived `==` compares fields in order,
    /// and a drive's medium (see [`Drive`]) is the one field whose comparison can cost
    /// more than a few bytes, so every cheap field has had its chance to differ first.
    pub(crate) drives: [Drive; 2],
}

impl Fdc {
    /// A PC (ISA) controller at power-on, with an ISA DMA channel, drives as configured:
    /// QEMU 7.2 ([`Profile::Qemu72`]).
    pub fn new(drive0: DriveConfig, drive1: DriveConfig) -> Fdc {
        Fdc::with_profile(drive0, drive1, Profile::Qemu72)
    }

    /// [`Fdc::new`] for the implementation `profile`.
    pub fn with_profile(drive0: DriveConfig, drive1: DriveConfig, profile: Profile) -> Fdc {
        let mut fdc = Fdc {
            sra: 0,
            srb: srb::RESET,
            dor: dor::NRESET | dor::DMAEN,
            tdr: 0,
            dsr: 0,
            msr: msr::RQM,
            cur_drv: 0,
            status0: 0,
            status1: 0,
            status2: 0,
            fifo: [0; FIFO_LEN],
            data_pos: 0,
            data_len: 0,
            data_state: 0,
            data_dir: Direction::Write as u8,
            eot: 0,
            timer0: 0,
            timer1: 0,
            precomp_trk: 0,
            config: 0x60,
            lock: 0,
            pwrd: 0,
            reset_sensei: 0,
            phase: Phase::Command as u8,
            result_timer: None,
            now: 0,
            drives: [Drive::new(drive0), Drive::new(drive1)],
            dreq: false,
            dreq_asserted: false,
            dma_unmasked: false,
            dma_len: 0,
            in_dma_run: false,
            indeterminate: false,
            fault: None,
            opcode: None,
            profile: ProfileField(profile),
        };
        fdc.reset(false);
        fdc.sync_phase();
        fdc
    }

    /// The implementation this device is.
    pub fn profile(&self) -> Profile {
        self.profile.0
    }

    /// QEMU 2.3 has no phase variable: its phase is what MSR implies. Called after every
    /// entry point that can change MSR, so the phase observers, the migration state and
    /// `==` see that phase; a no-op for the profiles with the field.
    #[inline]
    pub(crate) fn sync_phase(&mut self) {
        if !self.profile.0.has_phase_field() {
            self.phase = reconstruct_phase(self.msr) as u8;
        }
    }

    // ----------------------------------------------------------------- observers

    /// IRQ line level (QEMU keeps it equal to SRA.INTPEND).
    pub fn irq(&self) -> bool {
        self.sra & sra::INTPEND != 0
    }

    /// The explicit phase, `None` if a loaded state holds a byte outside 1..=3.
    pub fn phase(&self) -> Option<Phase> {
        Phase::from_byte(self.phase)
    }

    /// The raw phase byte.
    pub fn phase_byte(&self) -> u8 {
        self.phase
    }

    /// `reconstruct_phase` applied to the current MSR.
    pub fn reconstructed_phase(&self) -> Phase {
        reconstruct_phase(self.msr)
    }

    /// MSR without the side effects of reading it.
    pub fn msr(&self) -> u8 {
        self.msr
    }

    /// DOR as stored (without `cur_drv`).
    pub fn dor(&self) -> u8 {
        self.dor
    }

    /// DSR as stored.
    pub fn dsr(&self) -> u8 {
        self.dsr
    }

    /// SRA as stored (INTPEND, NDRV2).
    pub fn sra(&self) -> u8 {
        self.sra
    }

    /// The selected drive (`cur_drv`, 0 or 1).
    pub fn cur_drv(&self) -> u8 {
        self.cur_drv
    }

    /// FIFO position in the current phase (`data_pos`).
    pub fn data_pos(&self) -> u32 {
        self.data_pos
    }

    /// Length of the current phase's data (`data_len`).
    pub fn data_len(&self) -> u32 {
        self.data_len
    }

    /// The transfer direction (`data_dir`), `None` for a byte outside 0..=5 (only a
    /// loaded state has one).
    pub fn data_dir(&self) -> Option<Direction> {
        Direction::from_byte(self.data_dir)
    }

    /// Reset SENSE INTERRUPT answers still due (`reset_sensei`).
    pub fn reset_sensei(&self) -> i32 {
        self.reset_sensei
    }

    /// The command whose opcode is in `fifo[0]`: only meaningful while its parameters are
    /// being written (results and PIO data overwrite `fifo[0]`).
    pub fn command(&self) -> Command {
        Command::decode(self.fifo[0])
    }

    /// The command in progress, if any: `None` when idle in the command phase, and after a
    /// load from a migration state that is not in its command phase (QEMU does not migrate
    /// the opcode; the FIFO then holds result or sector bytes).
    pub fn command_in_progress(&self) -> Option<Command> {
        if self.phase == Phase::Command as u8 && self.data_pos == 0 {
            None
        } else {
            self.opcode.map(Command::decode)
        }
    }

    /// The FIFO buffer.
    pub fn fifo(&self) -> &[u8; FIFO_LEN] {
        &self.fifo
    }

    /// Expiry time of the READ ID timer, if armed.
    pub fn result_timer(&self) -> Option<u64> {
        self.result_timer
    }

    /// Current virtual time in ns.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Drive slot `slot & 1`.
    pub fn drive(&self, slot: usize) -> &Drive {
        &self.drives[slot & 1]
    }

    /// Drive slot `slot & 1`, to change its medium.
    pub fn drive_mut(&mut self, slot: usize) -> &mut Drive {
        &mut self.drives[slot & 1]
    }

    /// The drive configuration a destination QEMU would be started with to receive this
    /// state: the slot's current medium, an empty drive, or no drive (a placeholder backend
    /// exists only inside the source process).
    pub fn destination_config(&self, slot: usize) -> DriveConfig {
        let d = &self.drives[slot & 1];
        match (d.backend, &d.medium) {
            (crate::drive::Backend::Device, Some(m)) => DriveConfig::Medium(m.clone()),
            (crate::drive::Backend::Device, None) => DriveConfig::Empty,
            _ => DriveConfig::Absent,
        }
    }

    /// True once after the model took a path whose outcome in QEMU depends on
    /// uninitialised memory (a SCAN compared against a verify-mode DMA channel, which QEMU
    /// leaves as stack garbage). The model's answer then is one possibility among many.
    pub fn take_indeterminate(&mut self) -> bool {
        std::mem::take(&mut self.indeterminate)
    }

    /// True once after the controller asserted DREQ (the i8257 must run the channel now).
    pub fn take_dreq_asserted(&mut self) -> bool {
        std::mem::take(&mut self.dreq_asserted)
    }

    /// Whether the controller holds (or a guest set) the DMA request of channel 2.
    pub fn dreq(&self) -> bool {
        self.dreq
    }

    /// The first QEMU abort this state would have hit, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    // ----------------------------------------------------------------- environment

    /// Keeps the controller informed of channel 2's mask and programmed length: QEMU's
    /// block I/O runs a nested event loop in which the i8257's bottom half can re-enter the
    /// transfer handler (see `nested_dma_poll`).
    pub fn set_dma_channel(&mut self, unmasked: bool, len: u32) {
        self.dma_unmasked = unmasked;
        self.dma_len = len;
    }

    /// A guest's software DMA request on channel 2 (i8257 request register): sets or
    /// clears the same request bit DREQ uses.
    pub fn set_dma_request(&mut self, on: bool) {
        self.dreq = on;
    }

    /// Advances the virtual clock to `t` (never backwards), firing the READ ID timer if it
    /// expires on the way.
    pub fn advance_to(&mut self, t: u64) {
        // QEMU's virtual clock is an int64 of nanoseconds.
        let t = t.min(MAX_CLOCK_NS);
        if let Some(expiry) = self.result_timer {
            if expiry <= t {
                self.now = self.now.max(expiry);
                self.result_timer = None;
                self.result_timer_fired();
                self.sync_phase();
            }
        }
        self.now = self.now.max(t);
    }

    /// Advances the virtual clock to `t`, firing the READ ID timer only if it expires
    /// strictly before `t`: a timer due exactly at `t` stays pending. This is how a QEMU
    /// stopped by the oracle at `t` behaves (it stops before running timers due then).
    pub fn advance_to_exclusive(&mut self, t: u64) {
        let t = t.min(MAX_CLOCK_NS);
        if t > 0 {
            self.advance_to(t - 1);
        }
        self.now = self.now.max(t);
    }

    // ----------------------------------------------------------------- port I/O

    /// A register read at `offset` (QEMU core dispatcher: `offset & 7`).
    pub fn read(&mut self, offset: u16) -> u8 {
        if self.fault.is_some() {
            return 0xFF;
        }
        let v = self.read_register(offset);
        self.sync_phase();
        v
    }

    fn read_register(&mut self, offset: u16) -> u8 {
        match Register::from_offset(offset) {
            Register::Sra => self.sra,
            Register::Srb => self.srb,
            Register::Dor => self.dor | self.cur_drv,
            Register::Tdr => self.tdr,
            Register::MsrDsr => {
                self.dsr &= !dsr::PWRDOWN;
                self.dor |= dor::NRESET;
                self.msr
            }
            Register::Fifo => self.read_fifo(),
            Register::Unused6 => 0xFF,
            Register::DirCcr => {
                let cur = self.cur_drive_slot();
                if self.drives[cur].media_changed != 0 {
                    crate::registers::dir::DSKCHG
                } else {
                    0
                }
            }
        }
    }

    /// A register write at `offset`.
    pub fn write(&mut self, offset: u16, value: u8) {
        if self.fault.is_some() {
            return;
        }
        match Register::from_offset(offset) {
            Register::Dor => self.write_dor(value),
            Register::Tdr => {
                if self.dor & dor::NRESET != 0 {
                    self.tdr = value & tdr::BOOTSEL;
                }
            }
            Register::MsrDsr => self.write_dsr(value),
            Register::Fifo => self.write_fifo(value),
            Register::DirCcr => {
                if self.dor & dor::NRESET != 0 {
                    self.dsr = (self.dsr & !dsr::RATE_MASK) | (value & dsr::RATE_MASK);
                }
            }
            Register::Sra | Register::Srb | Register::Unused6 => {}
        }
        self.sync_phase();
    }

    fn write_dor(&mut self, value: u8) {
        let set = |srb: &mut u8, bit: u8, on: bool| if on { *srb |= bit } else { *srb &= !bit };
        set(&mut self.srb, srb::MTR0, value & dor::MOTEN0 != 0);
        set(&mut self.srb, srb::MTR1, value & dor::MOTEN1 != 0);
        set(&mut self.srb, srb::DR0, value & dor::SEL != 0);
        if value & dor::NRESET != 0 && self.dor & dor::NRESET == 0 {
            self.reset(true);
            self.dsr &= !dsr::PWRDOWN;
        }
        self.cur_drv = value & dor::SEL;
        self.dor = value;
    }

    fn write_dsr(&mut self, value: u8) {
        if self.dor & dor::NRESET == 0 {
            return;
        }
        if value & dsr::SWRESET != 0 {
            self.dor &= !dor::NRESET;
            self.reset(true);
            self.dor |= dor::NRESET;
        }
        if value & dsr::PWRDOWN != 0 {
            self.reset(true);
        }
        self.dsr = value;
    }

    // ----------------------------------------------------------------- drives

    /// Physical slot of the selected logical drive (TDR boot-select swaps them), attaching
    /// QEMU's placeholder backend to an unconfigured slot (CVE-2021-20196 fix).
    pub(crate) fn cur_drive_slot(&mut self) -> usize {
        let slot = self.logical_to_slot(self.cur_drv);
        let placeholder = self.profile.0.after_2_3();
        let d = &mut self.drives[slot];
        if d.backend == crate::drive::Backend::None
            && placeholder
            && !cfg!(feature = "bug-cve-2021-20196")
        {
            d.backend = crate::drive::Backend::Placeholder;
        }
        slot
    }

    /// Slot of logical unit `unit` without touching backends (`drv0`/`drv1`).
    pub(crate) fn logical_to_slot(&self, unit: u8) -> usize {
        let swap = self.tdr & tdr::BOOTSEL != 0;
        ((unit & 1) ^ swap as u8) as usize
    }

    // ----------------------------------------------------------------- IRQ and phases

    pub(crate) fn raise_irq(&mut self) {
        self.sra |= sra::INTPEND;
        self.reset_sensei = 0;
    }

    pub(crate) fn lower_irq(&mut self) {
        self.status0 = 0;
        self.sra &= !sra::INTPEND;
    }

    pub(crate) fn enter_command_phase(&mut self) {
        self.phase = Phase::Command as u8;
        self.data_dir = Direction::Write as u8;
        self.data_pos = 0;
        self.msr &= !(msr::CMDBUSY | msr::DIO);
        // QEMU 2.3's `fdctrl_reset_fifo` left RQM and data_len as they were.
        if self.profile.0.after_2_3() {
            self.data_len = 1;
            self.msr |= msr::RQM;
        }
    }

    pub(crate) fn enter_result_phase(&mut self, len: u32) {
        self.phase = Phase::Result as u8;
        self.data_dir = Direction::Read as u8;
        self.data_len = len;
        self.data_pos = 0;
        self.msr |= msr::CMDBUSY | msr::RQM | msr::DIO;
    }

    /// `fdctrl_reset`.
    pub(crate) fn reset(&mut self, do_irq: bool) {
        self.lower_irq();
        self.sra = 0;
        self.srb = srb::RESET;
        if !self.drives[1].has_backend() {
            self.sra |= sra::NDRV2;
        }
        self.cur_drv = 0;
        self.dor = dor::NRESET | dor::DMAEN;
        self.msr = msr::RQM;
        // QEMU 2.3's reset neither zeroed reset_sensei nor cancelled the READ ID timer.
        if self.profile.0.after_2_3() {
            self.reset_sensei = 0;
            self.result_timer = None;
        }
        self.data_pos = 0;
        self.data_len = 0;
        self.data_state = 0;
        self.data_dir = Direction::Write as u8;
        for d in self.drives.iter_mut() {
            d.recalibrate();
        }
        self.enter_command_phase();
        if do_irq {
            self.status0 |= st::ST0_RDYCHG;
            self.raise_irq();
            self.reset_sensei = RESET_SENSEI_COUNT;
        }
    }

    /// Completion of any data-type command: 7 result bytes and an IRQ.
    pub(crate) fn stop_transfer(&mut self, st0: u8, st1: u8, st2: u8) {
        let slot = self.cur_drive_slot();
        let (head, track, sect) = self.drives[slot].position();
        self.status0 &= !(st::ST0_DS | st::ST0_HEAD);
        self.status0 |= self.cur_drv;
        if head != 0 {
            self.status0 |= st::ST0_HEAD;
        }
        self.status0 |= st0;
        self.fifo[..7].copy_from_slice(&[self.status0, st1, st2, track, head, sect, 2]);
        self.data_dir = Direction::Read as u8;
        if self.msr & msr::NONDMA == 0 {
            self.dreq = false;
        }
        self.msr |= msr::RQM | msr::DIO;
        self.msr &= !msr::NONDMA;
        self.enter_result_phase(7);
        self.raise_irq();
    }

    fn result_timer_fired(&mut self) {
        let slot = self.cur_drive_slot();
        let d = &mut self.drives[slot];
        if d.last_sect != 0 {
            d.sect = (d.sect % d.last_sect) + 1;
        }
        if self.dsr & dsr::RATE_MASK != d.media_rate {
            self.stop_transfer(st::ST0_ABNTERM, st::ST1_MA, 0);
        } else {
            self.stop_transfer(0, 0, 0);
        }
    }

    // ----------------------------------------------------------------- FIFO

    fn write_fifo(&mut self, value: u8) {
        if self.dor & dor::NRESET == 0 {
            return;
        }
        #[cfg(feature = "bug-venom")]
        if self.venom_accepts_write() {
            self.venom_write(value);
            return;
        }
        if self.msr & msr::RQM == 0 || self.msr & msr::DIO != 0 {
            return;
        }
        self.dsr &= !dsr::PWRDOWN;
        let pos = self.data_pos % FIFO_LEN as u32;
        self.data_pos = self.data_pos.wrapping_add(1);
        self.fifo[pos as usize] = value;
        if self.data_pos == self.data_len && self.profile.0.clears_rqm_when_done() {
            self.msr &= !msr::RQM;
        }
        match Phase::from_byte(self.phase) {
            Some(Phase::Execution) => {
                if self.msr & msr::NONDMA == 0 {
                    self.fault = Some(Fault::ExecutionWithoutNonDma);
                    return;
                }
                self.pio_write_byte(pos);
            }
            Some(Phase::Command) => {
                if self.msr & msr::NONDMA != 0 {
                    self.fault = Some(Fault::NonDmaOutsideExecution);
                    return;
                }
                // QEMU 2.3 (with the VENOM fix) only wrapped the index.
                if self.data_pos >= FIFO_LEN as u32
                    && self.profile.0.after_2_3()
                    && !cfg!(feature = "bug-venom")
                {
                    self.fault = Some(Fault::CommandOverrun);
                    return;
                }
                if pos == 0 {
                    self.opcode = Some(value);
                    let cmd = Command::decode(value);
                    self.data_len = cmd.parameters() + 1;
                    if cmd.parameters() > 0 {
                        self.msr |= msr::RQM;
                    }
                    self.msr |= msr::CMDBUSY;
                }
                if self.data_pos == self.data_len {
                    self.phase = Phase::Execution as u8;
                    if self.data_state & data_state::FORMAT != 0 {
                        self.format_sector();
                    } else {
                        self.run_command();
                    }
                }
            }
            _ => self.fault = Some(Fault::WriteInPhase(self.phase)),
        }
    }

    /// Canary `bug-venom` (CVE-2015-3456): before QEMU 2.4, READ ID (until its timer
    /// fired) and a DRIVE SPECIFICATION whose last byte lacked bit 7 left RQM set, so the
    /// guest kept writing "parameters", stored at `fifo[data_pos++]` with no bound. The
    /// feature re-opens exactly those two states to FIFO writes and turns the write past
    /// the 512-byte buffer into a detected panic.
    #[cfg(feature = "bug-venom")]
    fn venom_accepts_write(&self) -> bool {
        let waiting = self.phase == Phase::Execution as u8
            && self.msr & (msr::RQM | msr::NONDMA) == 0
            && self.msr & msr::CMDBUSY != 0;
        let cmd = self.opcode.map(Command::decode);
        waiting
            && ((cmd == Some(Command::ReadId) && self.result_timer.is_some())
                || cmd == Some(Command::DriveSpecification))
    }

    #[cfg(feature = "bug-venom")]
    fn venom_write(&mut self, value: u8) {
        let index = self.data_pos as usize;
        if index >= FIFO_LEN {
            panic!("VENOM (CVE-2015-3456): FIFO write at index {index} beyond the 512-byte buffer");
        }
        self.fifo[index] = value;
        self.data_pos += 1;
    }

    fn read_fifo(&mut self) -> u8 {
        let slot = self.cur_drive_slot();
        self.dsr &= !dsr::PWRDOWN;
        if self.msr & msr::RQM == 0 || self.msr & msr::DIO == 0 {
            return 0;
        }
        let pos = (self.data_pos % FIFO_LEN as u32) as usize;
        match Phase::from_byte(self.phase) {
            Some(Phase::Execution) => {
                if self.msr & msr::NONDMA == 0 {
                    self.fault = Some(Fault::ExecutionWithoutNonDma);
                    return 0xFF;
                }
                if !self.pio_read_byte(slot, pos) {
                    return 0;
                }
            }
            Some(Phase::Result) => {
                if self.msr & msr::NONDMA != 0 {
                    self.fault = Some(Fault::NonDmaOutsideExecution);
                    return 0xFF;
                }
                self.data_pos = self.data_pos.wrapping_add(1);
                if self.data_pos == self.data_len {
                    if self.profile.0.clears_rqm_when_done() {
                        self.msr &= !msr::RQM;
                    }
                    self.enter_command_phase();
                    self.lower_irq();
                }
            }
            _ => {
                self.fault = Some(Fault::ReadInPhase(self.phase));
                return 0xFF;
            }
        }
        self.fifo[pos]
    }
}
