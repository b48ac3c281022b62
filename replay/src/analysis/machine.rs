//! A recorded trace replayed into any [`Machine`], real QEMU in particular: `check
//! --machine` and `points --machine`. The trace is replayed exactly as the model's replay
//! ([`super::apply`]) runs it, the model running one event ahead:
//!
//! * before event `i` the machine's clock is advanced to the event's time (rounded up to
//!   the oracle's 10 ns step; the machine's time at the start is the trace's time 0);
//! * a recorded trace does not hold the i8257's programming: when the model's replay
//!   serves a DMA transfer at event `i` ([`super::service_dma`], which infers the byte
//!   count from the result bytes the guest reads next), the machine's channel 2 is
//!   programmed for that count and unmasked *before* event `i` is applied to it (the
//!   port access that asserts DREQ runs the transfer at once), and masked after it.
//!   Transfers into memory land at 64 KiB page 1; transfers out of memory (writes,
//!   scans) read page 2, which nothing writes, so they read zeros as the model's do;
//! * port accesses go to base + offset; media changes to the machine (an inserted
//!   medium is blank, of the recorded size).
//!
//! The machine keeps its own timer convention ([`Machine::advance_ns`]: a timer due
//! exactly at an event's time has not fired at that event), the model's replay its own
//! (it has); a recorded port read at such an instant may tell them apart.

use super::check::Replayer;
use super::{apply, Ev, EvKind, ReplayError, ReplayModel};
use fdc::machine::{DmaAddress, Machine};
use fdc::ports::{i8257, FDC_BASE};
use fdc::{Direction, DmaMode, FdcState, Medium};
use fdc_oracle::CLOCK_STEP_NS;
use fdc_trace::TraceHeader;
use std::path::{Path, PathBuf};

/// Where transfers into memory (floppy reads) land.
pub const READ_BUFFER: DmaAddress = DmaAddress::from_page(1, 0);
/// Where transfers out of memory (writes, scans) read from: never written, all zeros.
pub const ZERO_BUFFER: DmaAddress = DmaAddress::from_page(2, 0);

/// Why replaying a trace into a machine failed (`E`: the machine's errors).
#[derive(Debug, thiserror::Error)]
pub enum OnMachineError<E: std::error::Error + 'static> {
    /// The trace, or the model's replay of it.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The machine failed at an event.
    #[error("{}: event {index}: the machine failed: {source}", file.display())]
    Machine {
        /// The trace.
        file: PathBuf,
        /// The event (the number of events replayed, for a failure between events).
        index: u64,
        /// What the machine said.
        #[source]
        source: E,
    },
}

impl<E: std::error::Error + 'static> From<fdc_trace::TraceError> for OnMachineError<E> {
    fn from(e: fdc_trace::TraceError) -> Self {
        OnMachineError::Replay(e.into())
    }
}

/// What a port read gave on the model's replay and on the machine (`None`: the event
/// was no read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answers {
    /// The model's replay.
    pub model: Option<u8>,
    /// The machine.
    pub machine: Option<u8>,
}

/// A machine driven by a recorded trace, with the model's replay one event ahead.
pub struct MachineReplay<M: Machine> {
    /// The machine.
    pub machine: M,
    /// The model's replay of the same trace.
    pub model: ReplayModel,
    file: PathBuf,
    /// The machine's time at the trace's time 0.
    origin: u64,
    /// The machine's time now.
    now: u64,
    /// Events replayed.
    events: u64,
    /// DMA transfers programmed on the machine.
    pub dma_transfers: u64,
}

impl<M: Machine> MachineReplay<M> {
    /// Starts replaying into `machine`, which must have the drives of `header`
    /// ([`TraceHeader::drive_configs`]); `file` names the trace in errors.
    pub fn new(
        mut machine: M,
        header: &TraceHeader,
        file: &Path,
    ) -> Result<Self, OnMachineError<M::Error>> {
        let model = ReplayModel::from_header(header, file)?;
        let origin = machine.now_ns().map_err(|source| OnMachineError::Machine {
            file: file.to_path_buf(),
            index: 0,
            source,
        })?;
        Ok(MachineReplay {
            machine,
            model,
            file: file.to_path_buf(),
            origin,
            now: origin,
            events: 0,
            dma_transfers: 0,
        })
    }

    fn failed(&self, index: u64) -> impl FnOnce(M::Error) -> OnMachineError<M::Error> + '_ {
        move |source| OnMachineError::Machine {
            file: self.file.clone(),
            index,
            source,
        }
    }

    /// The machine time from now until event `ev` (0 when it is due now).
    pub fn time_until(&self, ev: &Ev) -> u64 {
        self.target(ev).saturating_sub(self.now)
    }

    fn target(&self, ev: &Ev) -> u64 {
        self.origin + ev.t.next_multiple_of(CLOCK_STEP_NS)
    }

    /// Applies event `index` to the model's replay and to the machine; returns what a
    /// port read gave on each.
    pub fn step(
        &mut self,
        index: u64,
        ev: &Ev,
        ahead: &[Ev],
    ) -> Result<Answers, OnMachineError<M::Error>> {
        self.model.last_dma = None;
        let model = apply(&mut self.model, ev, ahead).map_err(|reason| ReplayError::Event {
            file: Some(self.file.clone()),
            index,
            reason,
        })?;
        let dma = self.model.last_dma;
        let machine = self.machine_step(ev, dma).map_err(self.failed(index))?;
        self.events += 1;
        Ok(Answers { model, machine })
    }

    fn machine_step(
        &mut self,
        ev: &Ev,
        dma: Option<super::DmaTransfer>,
    ) -> Result<Option<u8>, M::Error> {
        let target = self.target(ev);
        if target > self.now {
            self.machine.advance_ns(target - self.now)?;
            self.now = target;
        }
        if let Some(t) = dma {
            self.program_dma(t)?;
        }
        let read = match ev.kind {
            EvKind::Read { offset, .. } => Some(self.machine.inb(FDC_BASE + u16::from(offset))?),
            EvKind::Write { offset, value } => {
                self.machine.outb(FDC_BASE + u16::from(offset), value)?;
                None
            }
            EvKind::Stage(_) => None,
            EvKind::Eject(drive) => {
                self.machine.eject(drive)?;
                None
            }
            EvKind::Insert {
                drive,
                read_only,
                size,
            } => {
                self.machine
                    .insert(drive, &Medium::blank(size, read_only))?;
                None
            }
        };
        if dma.is_some() {
            self.machine.dma_mask(true)?;
        }
        Ok(read)
    }

    /// Programs channel 2 for transfer `t` and unmasks it.
    fn program_dma(&mut self, t: super::DmaTransfer) -> Result<(), M::Error> {
        let (addr, mode) = match t.direction {
            Some(Direction::Read) => (READ_BUFFER, DmaMode::WriteToMemory),
            Some(Direction::Verify) => (READ_BUFFER, DmaMode::Verify),
            _ => (ZERO_BUFFER, DmaMode::ReadFromMemory),
        };
        // The i8257 counts 1..=65536 bytes.
        let count = t.len.clamp(1, 0x1_0000) - 1;
        self.machine
            .dma_program(addr, count as u16, i8257::single_mode(mode))?;
        self.machine.dma_mask(false)?;
        self.dma_transfers += 1;
        Ok(())
    }

    /// The machine's migration state now (on QEMU a real migration: QEMU then needs at
    /// least `MIN_FIRST_INCOMING_ADVANCE_NS` before its next access to the disks or its
    /// next migration, see [`fdc_oracle::Oracle::migrate`]).
    pub fn save_state(&mut self) -> Result<FdcState, OnMachineError<M::Error>> {
        let index = self.events;
        self.machine.save_state().map_err(self.failed(index))
    }
}

impl<M: Machine> Replayer for MachineReplay<M> {
    type Error = OnMachineError<M::Error>;
    fn answered_by(&self) -> &'static str {
        self.machine.name()
    }

    fn tag(&self) -> &'static str {
        self.machine.name()
    }

    fn model(&self) -> &ReplayModel {
        &self.model
    }

    fn step(&mut self, index: u64, ev: &Ev, ahead: &[Ev]) -> Result<Option<u8>, Self::Error> {
        MachineReplay::step(self, index, ev, ahead).map(|a| a.machine)
    }
}
