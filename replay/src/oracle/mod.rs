//! Real QEMU as an oracle (owned by the oracle work; placeholder).
pub mod cli;
