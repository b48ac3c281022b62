//! Shared by the real-QEMU tests of this crate: whether to skip them, and the ports.

#[allow(unused_imports, reason = "each test file uses a part")]
pub use fdc::ports::{DIR, DOR, FIFO, MSR};
use fdc::Machine;
use fdc_oracle::{find_qemu, OracleConfig};

/// True (with a note naming `what`) when `FDC_SKIP_QEMU=1` asks to skip the real-QEMU
/// tests; panics when QEMU is not there otherwise (a missing oracle is no pass).
pub fn skip(what: &str) -> bool {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("note: FDC_SKIP_QEMU=1, skipping {what}");
        return true;
    }
    if let Err(e) = find_qemu(&OracleConfig::default().qemu) {
        panic!("{e} (set FDC_SKIP_QEMU=1 to skip the real-QEMU tests)");
    }
    false
}

/// Controller reset through DOR (0x08, then 0x0c), then the four SENSE INTERRUPTs that
/// clear the reset's interrupt (their two result bytes read and dropped).
#[allow(dead_code, reason = "each test file uses a part")]
pub fn reset_and_sense<M: Machine>(m: &mut M) -> Result<(), M::Error> {
    m.outb(DOR, 0x08)?;
    m.outb(DOR, 0x0c)?;
    for _ in 0..4 {
        m.outb(FIFO, 0x08)?;
        m.inb(FIFO)?;
        m.inb(FIFO)?;
    }
    Ok(())
}
