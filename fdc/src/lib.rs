//! A faithful, pure, panic-free model of QEMU's PC floppy disk controller (the Intel
//! 82077AA as QEMU 7.2's `hw/block/fdc.c` emulates it), with its migration state.
//!
//! Style after rust-vmm's vm-superio: [`Fdc`] is a plain struct with `read(offset)` and
//! `write(offset, value)`; the outside world reaches it through a DMA channel trait
//! ([`dma::DmaChannel`]), the IRQ level ([`Fdc::irq`]) and time as an input
//! ([`Fdc::advance_to`]). [`Fdc::state`] / [`Fdc::from_state`] give QEMU's migration
//! state; [`wire`] is QEMU's own encoding of it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod commands;
pub mod controller;
pub mod destination;
pub mod dma;
pub mod drive;
mod execute;
pub mod isa;
pub mod machine;
pub mod media;
pub mod migration;
pub mod ops;
pub mod phase;
pub mod ports;
pub mod profile;
pub mod registers;
mod transfer;
pub mod wire;

pub use commands::{Command, Direction};
pub use controller::{Fault, Fdc, FIFO_LEN, READ_ID_DELAY_NS};
pub use dma::{DmaChannel, DmaMode, UnboundedChannel};
pub use drive::{Backend, Drive, DriveConfig};
pub use isa::PcFloppy;
pub use machine::{DmaAddress, Machine, ModelError};
pub use media::{DriveType, Medium};
pub use migration::{FdcState, FdriveState, LoadError, Subsection, SubsectionSet};
pub use phase::{reconstruct_phase, Phase};
pub use profile::Profile;
