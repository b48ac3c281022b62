//! The FDC's side of ISA DMA channel 2.
//!
//! QEMU's controller asserts DREQ (`hold_DREQ`) when a DMA transfer starts and the i8257
//! then calls the controller's transfer handler synchronously if the channel is unmasked
//! (else as soon as it gets unmasked). The handler receives the programmed length and
//! moves data through the channel's memory accessors; the DMA byte count acts as
//! terminal count. A guest's software request on channel 2 sets the same request bit,
//! which is how a DMA callback can reach states that never asked for one (QEMU's
//! `i8257_dma_hold_DREQ` and the request register write of `i8257_write_cont`).

use serde::{Deserialize, Serialize};

/// Transfer type programmed in the i8257 mode register (bits 2-3). QEMU 7.2's controller
/// does not check it (2.x fell back to PIO on a mismatch); QEMU's i8257 uses it only to
/// skip memory accesses in verify mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DmaMode {
    /// 00: verify (no memory access). Also the power-on mode of every channel.
    Verify,
    /// 01: device to memory (what a READ needs).
    WriteToMemory,
    /// 10: memory to device (what a WRITE needs).
    ReadFromMemory,
    /// 11: illegal.
    Illegal,
}

impl DmaMode {
    /// Decodes an i8257 mode register value.
    pub fn from_mode_register(mode: u8) -> DmaMode {
        match (mode >> 2) & 3 {
            0 => DmaMode::Verify,
            1 => DmaMode::WriteToMemory,
            2 => DmaMode::ReadFromMemory,
            _ => DmaMode::Illegal,
        }
    }
}

/// What the transfer handler needs from the DMA controller during a callback.
pub trait DmaChannel {
    /// Bytes the channel is programmed for (base count + 1).
    fn transfer_len(&self) -> u32;
    /// Copies `data` to guest memory at channel address + `pos`. Mutable because QEMU's
    /// i8257 in address-decrement mode reorders the controller's buffer in place after
    /// the copy (and the controller migrates that buffer).
    fn write_memory(&mut self, pos: u32, data: &mut [u8]);
    /// Fills `buf` from guest memory at channel address + `pos` and returns true. A
    /// channel in verify mode leaves `buf` untouched, as QEMU's i8257 does, and returns
    /// false.
    fn read_memory(&mut self, pos: u32, buf: &mut [u8]) -> bool;
}

/// A channel for replaying recorded guests, whose DMA programming is not in the trace:
/// it always has room for the whole transfer and discards or zero-fills memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnboundedChannel;

impl DmaChannel for UnboundedChannel {
    fn transfer_len(&self) -> u32 {
        u32::MAX
    }
    fn write_memory(&mut self, _pos: u32, _data: &mut [u8]) {}
    fn read_memory(&mut self, _pos: u32, buf: &mut [u8]) -> bool {
        buf.fill(0);
        true
    }
}
