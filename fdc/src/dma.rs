//! The FDC's side of ISA DMA channel 2.
//!
//! QEMU's controller asserts DREQ (`hold_DREQ`) when a DMA transfer starts and the i8257
//! then calls the controller's transfer handler synchronously if the channel is unmasked
//! (else as soon as it gets unmasked). The handler receives the programmed length and
//! moves data through the channel's memory accessors; the DMA byte count acts as
//! terminal count. A guest's software request on channel 2 sets the same request bit,
//! which is how a DMA callback can reach states that never asked for one (spec §7.4).

use serde::{Deserialize, Serialize};

/// Transfer type programmed in the i8257 mode register (bits 2-3), as QEMU's controller
/// checks it before starting a DMA transfer.
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
    /// Copies `data` to guest memory at channel address + `pos`.
    fn write_memory(&mut self, pos: u32, data: &[u8]);
    /// Fills `buf` from guest memory at channel address + `pos`.
    fn read_memory(&mut self, pos: u32, buf: &mut [u8]);
}

/// A channel for replaying recorded guests, whose DMA programming is not in the trace:
/// it always has room for the whole transfer and discards or zero-fills memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnboundedChannel;

impl DmaChannel for UnboundedChannel {
    fn transfer_len(&self) -> u32 {
        u32::MAX
    }
    fn write_memory(&mut self, _pos: u32, _data: &[u8]) {}
    fn read_memory(&mut self, _pos: u32, buf: &mut [u8]) {
        buf.fill(0);
    }
}
