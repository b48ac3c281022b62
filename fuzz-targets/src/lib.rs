//! Bodies of the cargo-fuzz targets in `fuzz/` (which only call these), so that stable
//! `cargo test` runs them over the committed corpus and `fuzz/regressions/`.
#![forbid(unsafe_code)]

pub mod import;
pub mod ops;
pub mod pio;
pub mod stream;
pub mod trace;
pub mod vmstate;

/// `fdc_pio`: port I/O, invariants after every op, migrate-now equivalence.
pub fn fdc_pio(data: &[u8]) {
    pio::run(data);
}

/// `vmstate_load`: migration streams into both loaders.
pub fn vmstate_load(data: &[u8]) {
    vmstate::run(data);
}

/// `trace_decode`: the trace reader and the QEMU-log importer's parsers.
pub fn trace_decode(data: &[u8]) {
    trace::run(data);
}

/// `qemu_log_import`: the QEMU-log importer's pass with a sidecar and migrations, and the
/// round trip of what it wrote.
pub fn qemu_log_import(data: &[u8]) {
    import::run(data);
}

/// `migration_stream`: the whole-stream parser and editor.
pub fn migration_stream(data: &[u8]) {
    stream::run(data);
}
