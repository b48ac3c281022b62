//! One port-level interface to a PC with a floppy controller, implemented by the model
//! ([`PcFloppy`]) and by real QEMU (`fdc_oracle::Oracle`), so that whatever drives one
//! (an [`crate::ops::Op`] script, a recorded trace, a guest-driver model, a lockstep
//! comparison) drives the other the same way.
//!
//! The semantics both sides implement:
//!
//! * Port accesses are guest accesses: `outw`/`inw` split as QEMU's port layer does, ports
//!   nobody decodes read as whatever the machine gives (the model: 0xFF). Between two
//!   accesses, a DMA request the i8257 could not serve at once is retried (QEMU's idle
//!   bottom half; the model serves it at the start of the next method call).
//! * Time is virtual and only moves in [`Machine::advance_ns`]: every timer due strictly
//!   before the new time fires at its own deadline, one due exactly at it fires at the
//!   start of the next advance (a QEMU stopped at that instant has not run it yet). The
//!   oracle steps time in 10 ns units and refuses other steps.
//! * The IRQ level is IRQ 6's, current after every call.
//! * Media changes on a slot without a drive do nothing (there is nothing to eject or
//!   to insert into); drive numbers other than 0 and 1 are errors.
//! * [`Machine::save_state`] is a migration's view: the `fdc` section QEMU 7.2 would send
//!   now (the oracle really migrates and decodes what QEMU sent; the model serves a
//!   pending DMA request first, as QEMU's main loop does before the state is saved).

use crate::isa::PcFloppy;
use crate::media::Medium;
use crate::migration::FdcState;
use crate::ports::i8257;

/// Longest guest-memory read [`Machine::read_mem`] serves (the ISA DMA's 16 MiB).
pub const MAX_READ_MEM: usize = 1 << 24;

/// A 24-bit ISA DMA address: page register (bits 16-23) and address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DmaAddress(u32);

impl DmaAddress {
    /// The address `offset` in 64 KiB page `page`.
    pub const fn from_page(page: u8, offset: u16) -> DmaAddress {
        DmaAddress(((page as u32) << 16) | offset as u32)
    }

    /// The physical address.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// An address beyond the ISA DMA's 16 MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("DMA address {0:#x} is beyond the ISA DMA's 16 MiB")]
pub struct DmaAddressError(pub u32);

impl TryFrom<u32> for DmaAddress {
    type Error = DmaAddressError;

    fn try_from(addr: u32) -> Result<DmaAddress, DmaAddressError> {
        if addr > 0x00FF_FFFF {
            return Err(DmaAddressError(addr));
        }
        Ok(DmaAddress(addr))
    }
}

/// A PC with a floppy controller, driven port by port (see the module docs for the
/// semantics every implementation keeps).
pub trait Machine {
    /// Why a call failed (the model: a drive or read length out of range; QEMU: the
    /// process, the protocol or the clock).
    type Error: std::error::Error + Send + Sync + 'static;

    /// What the machine is called in reports ("model", "QEMU").
    fn name(&self) -> &'static str;

    /// Byte write to an I/O port.
    fn outb(&mut self, port: u16, value: u8) -> Result<(), Self::Error>;
    /// Byte read from an I/O port.
    fn inb(&mut self, port: u16) -> Result<u8, Self::Error>;
    /// 16-bit write, split by the port layer (low byte to `port`, the high byte to
    /// `port + 1` only inside the same device range).
    fn outw(&mut self, port: u16, value: u16) -> Result<(), Self::Error>;
    /// 16-bit read, assembled like [`Machine::outw`].
    fn inw(&mut self, port: u16) -> Result<u16, Self::Error>;
    /// Advances virtual time by exactly `ns` (see the module docs for the timers).
    fn advance_ns(&mut self, ns: u64) -> Result<(), Self::Error>;
    /// The current virtual time in ns.
    fn now_ns(&mut self) -> Result<u64, Self::Error>;
    /// The level of IRQ 6.
    fn irq(&mut self) -> Result<bool, Self::Error>;
    /// Writes guest memory (e.g. a DMA buffer).
    fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), Self::Error>;
    /// Reads `len` bytes of guest memory, at most [`MAX_READ_MEM`].
    fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, Self::Error>;
    /// Ejects the medium of drive 0 or 1.
    fn eject(&mut self, drive: u8) -> Result<(), Self::Error>;
    /// Inserts (or replaces) the medium of drive 0 or 1.
    fn insert(&mut self, drive: u8, medium: &Medium) -> Result<(), Self::Error>;
    /// The controller's migration state now (QEMU's `fdc` section).
    fn save_state(&mut self) -> Result<FdcState, Self::Error>;

    /// Programs ISA DMA channel 2 (the floppy's) and leaves it masked, so a command can be
    /// set up before the transfer may start ([`Machine::dma_mask`]`(false)` releases it).
    /// `count` is the i8257 count register, i.e. the number of bytes minus one; `mode` the
    /// mode register value (its channel bits are forced to 2), e.g.
    /// [`i8257::single_mode`]`(`[`DmaMode::WriteToMemory`](crate::DmaMode)`)` = 0x46 for a floppy READ.
    fn dma_program(&mut self, addr: DmaAddress, count: u16, mode: u8) -> Result<(), Self::Error> {
        let [a0, a1, page, _] = addr.get().to_le_bytes();
        let [c0, c1] = count.to_le_bytes();
        self.outb(i8257::MASK, 0x04 | i8257::CHANNEL)?;
        self.outb(i8257::MODE, (mode & !3) | i8257::CHANNEL)?;
        self.outb(i8257::CLEAR_FLIP_FLOP, 0)?;
        self.outb(i8257::ADDR2, a0)?;
        self.outb(i8257::ADDR2, a1)?;
        self.outb(i8257::PAGE2, page)?;
        self.outb(i8257::CLEAR_FLIP_FLOP, 0)?;
        self.outb(i8257::COUNT2, c0)?;
        self.outb(i8257::COUNT2, c1)
    }

    /// Masks or unmasks DMA channel 2 (unmasking runs a pending transfer at once).
    fn dma_mask(&mut self, masked: bool) -> Result<(), Self::Error> {
        let bit = if masked { 0x04 } else { 0 };
        self.outb(i8257::MASK, bit | i8257::CHANNEL)
    }

    /// Software DMA request on channel 2 (request register).
    fn dma_request(&mut self) -> Result<(), Self::Error> {
        self.outb(i8257::REQUEST, 0x04 | i8257::CHANNEL)
    }
}

/// What the model refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A drive number other than 0 and 1.
    #[error("drive {0}: only 0 and 1 exist")]
    NoSuchDrive(u8),
    /// A guest-memory read longer than [`MAX_READ_MEM`].
    #[error("a guest memory read of {0} bytes is longer than {MAX_READ_MEM}")]
    ReadTooLong(usize),
}

fn slot(drive: u8) -> Result<usize, ModelError> {
    match drive {
        0 | 1 => Ok(usize::from(drive)),
        _ => Err(ModelError::NoSuchDrive(drive)),
    }
}

impl Machine for PcFloppy {
    type Error = ModelError;

    fn name(&self) -> &'static str {
        "model"
    }

    fn outb(&mut self, port: u16, value: u8) -> Result<(), ModelError> {
        self.run_pending_dma();
        self.port_out(port, value);
        Ok(())
    }

    fn inb(&mut self, port: u16) -> Result<u8, ModelError> {
        self.run_pending_dma();
        Ok(self.port_in(port).unwrap_or(0xFF))
    }

    fn outw(&mut self, port: u16, value: u16) -> Result<(), ModelError> {
        self.run_pending_dma();
        self.port_out16(port, value);
        Ok(())
    }

    fn inw(&mut self, port: u16) -> Result<u16, ModelError> {
        self.run_pending_dma();
        Ok(self.port_in16(port).unwrap_or(0xFFFF))
    }

    fn advance_ns(&mut self, ns: u64) -> Result<(), ModelError> {
        self.run_pending_dma();
        let t = self.fdc.now().saturating_add(ns);
        self.fdc.advance_to_exclusive(t);
        Ok(())
    }

    fn now_ns(&mut self) -> Result<u64, ModelError> {
        Ok(self.fdc.now())
    }

    fn irq(&mut self) -> Result<bool, ModelError> {
        Ok(self.fdc.irq())
    }

    fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), ModelError> {
        self.run_pending_dma();
        self.memory.write(addr, data);
        Ok(())
    }

    fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, ModelError> {
        if len > MAX_READ_MEM {
            return Err(ModelError::ReadTooLong(len));
        }
        self.run_pending_dma();
        let mut buf = vec![0; len];
        self.memory.read(addr, &mut buf);
        Ok(buf)
    }

    fn eject(&mut self, drive: u8) -> Result<(), ModelError> {
        let slot = slot(drive)?;
        self.run_pending_dma();
        self.fdc.drive_mut(slot).eject();
        Ok(())
    }

    fn insert(&mut self, drive: u8, medium: &Medium) -> Result<(), ModelError> {
        let slot = slot(drive)?;
        self.run_pending_dma();
        self.fdc.drive_mut(slot).insert(medium.clone());
        Ok(())
    }

    fn save_state(&mut self) -> Result<FdcState, ModelError> {
        self.run_pending_dma();
        Ok(self.fdc.state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DmaMode, DriveConfig, Fdc};

    /// The trait is dyn-compatible: a machine can be chosen at run time.
    #[test]
    fn machines_can_be_trait_objects() {
        let mut pc = PcFloppy::new(Fdc::new(DriveConfig::Empty, DriveConfig::Absent));
        let m: &mut dyn Machine<Error = ModelError> = &mut pc;
        assert_eq!(m.name(), "model");
        m.advance_ns(10).unwrap();
        assert_eq!(m.now_ns(), Ok(10));
    }

    #[test]
    fn dma_addresses_are_24_bits() {
        assert_eq!(DmaAddress::from_page(2, 0x1234).get(), 0x2_1234);
        assert_eq!(
            DmaAddress::try_from(0xFF_FFFF).map(DmaAddress::get),
            Ok(0xFF_FFFF)
        );
        assert_eq!(
            DmaAddress::try_from(0x100_0000),
            Err(DmaAddressError(0x100_0000))
        );
    }

    #[test]
    fn the_dma_helper_programs_the_model_s_channel() {
        let mut pc = PcFloppy::new(Fdc::new(DriveConfig::Empty, DriveConfig::Absent));
        pc.dma_program(
            DmaAddress::from_page(1, 0x2000),
            511,
            i8257::single_mode(DmaMode::WriteToMemory),
        )
        .unwrap();
        assert_eq!(
            (
                pc.dma.page,
                pc.dma.base_addr,
                pc.dma.base_count,
                pc.dma.mode,
                pc.dma.masked
            ),
            (1, 0x2000, 511, 0x46, true)
        );
        pc.dma_mask(false).unwrap();
        assert!(!pc.dma.masked);
    }

    #[test]
    fn drives_other_than_0_and_1_are_refused() {
        let mut pc = PcFloppy::new(Fdc::new(DriveConfig::Empty, DriveConfig::Absent));
        assert_eq!(pc.eject(2), Err(ModelError::NoSuchDrive(2)));
        let m = Medium::blank(1_474_560, false);
        assert_eq!(pc.insert(3, &m), Err(ModelError::NoSuchDrive(3)));
        // A slot without a drive: nothing to insert into, nothing happens.
        pc.insert(1, &m).unwrap();
        assert!(pc.fdc.drive(1).medium().is_none());
        pc.insert(0, &m).unwrap();
        assert!(pc.fdc.drive(0).medium().is_some());
        assert_eq!(
            pc.read_mem(0, MAX_READ_MEM + 1),
            Err(ModelError::ReadTooLong(MAX_READ_MEM + 1))
        );
    }
}
