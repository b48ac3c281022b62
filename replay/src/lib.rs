//! `fdc-replay`: recorded floppy-controller traces, real QEMU as an oracle, and the
//! prevalent-state analysis built on the `fdc` model.

pub mod analysis;
pub mod conformance;
pub mod drivermodel;
pub mod oracle;
pub mod stream_cli;
pub mod trace;
