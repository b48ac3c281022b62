//! QEMU 7.2 migration streams: a parser for the whole stream and an editor that drops,
//! replaces or adds subsection state while keeping every other byte identical.
//!
//! A stream as `migrate` to `exec:cat > FILE` writes it (`qemu_savevm_state` and friends;
//! read back by `qemu_loadvm_state`):
//!
//! | bytes | what |
//! |---|---|
//! | `QEVM`, be32 3 | file header |
//! | 0x07, be32 len, machine name, subsections | `QEMU_VM_CONFIGURATION` (`vmstate_configuration`) |
//! | 0x01 id name instance version, payload, footer | `QEMU_VM_SECTION_START` of an iterative device (`ram`: [`ram`]) |
//! | 0x02/0x03 id, payload, footer | `QEMU_VM_SECTION_PART` / `_END` of it |
//! | 0x04 id name instance version, payload, footer | `QEMU_VM_SECTION_FULL`: one device's state (`vmstate_save_state`) |
//! | 0x7e be32 id | `QEMU_VM_SECTION_FOOTER` closing every section |
//! | 0x00 | `QEMU_VM_EOF` |
//! | 0x06, be32 len, JSON | `QEMU_VM_VMDESCRIPTION`: the vmdesc ([`vmdesc`]) |
//!
//! Section headers give a name with a one-byte length; numbers are big-endian. Device
//! payloads carry no length: they are walked with the vmdesc's field descriptions (as
//! `scripts/analyze-migration.py` does), the `fdc` section with the controller's own layout
//! (`fdc::wire`) cross-checked against the vmdesc ([`fdc`](self::fdc)).
//!
//! Entry points: [`MigrationStream::parse`]; [`edit::apply`] with an [`Edit`]
//! (`Drop`/`Set`/`Add`), [`drop_fdc_subsection`], [`add_fdc_subsection`],
//! [`set_fdc_state`]; [`show::to_json`] / [`show::to_text`]. For the oracle:
//! [`find_fdc_section`].
//!
//! Hostile input: every error is a typed [`StreamError`] naming the byte offset; lengths
//! read from the stream are checked against the bytes present before anything is taken;
//! nesting is bounded by the JSON parser; the parser never panics (fuzzed by the
//! `migration_stream` target).

pub mod build;
pub mod edit;
mod error;
pub mod fdc;
pub mod json;
mod parse;
pub mod ram;
mod reader;
pub mod show;
pub mod vmdesc;

pub use build::{build, BuildOptions};
pub use edit::{
    add_fdc_subsection, apply, apply_all, drop_fdc_subsection, set_fdc_state, Edit, SectionRef,
};
pub use error::{EditError, StreamError};
pub use fdc::{FdcBody, FdcSubsection, FDC_SECTION_VERSION};
pub use parse::{
    check_header, Configuration, DeviceBody, Issue, MigrationStream, Section, SectionBody,
    SectionKind, DEFAULT_PAGE_SIZE,
};

/// First bytes of every QEMU migration stream ("QEVM").
pub const QEMU_VM_FILE_MAGIC: &[u8; 4] = b"QEVM";
/// Stream format version written by QEMU 7.2.
pub const QEMU_VM_FILE_VERSION: u32 = 3;
/// End of the sections.
pub const QEMU_VM_EOF: u8 = 0x00;
/// First part of an iterative device's state.
pub const QEMU_VM_SECTION_START: u8 = 0x01;
/// Middle part of an iterative device's state.
pub const QEMU_VM_SECTION_PART: u8 = 0x02;
/// Last part of an iterative device's state.
pub const QEMU_VM_SECTION_END: u8 = 0x03;
/// Section type of a device's complete state (non-iterative devices such as the fdc).
pub const QEMU_VM_SECTION_FULL: u8 = 0x04;
/// Marker that opens a subsection record.
pub const QEMU_VM_SUBSECTION: u8 = 0x05;
/// The configuration section.
pub const QEMU_VM_CONFIGURATION: u8 = 0x07;
/// A command record (postcopy, COLO, packaged streams): not handled.
pub const QEMU_VM_COMMAND: u8 = 0x08;
/// Marker of the footer that closes every section.
pub const QEMU_VM_SECTION_FOOTER: u8 = 0x7e;

/// The fdc section as found in a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdcSection {
    /// Offset of the section-type byte (0x04) in the stream.
    pub header_offset: usize,
    /// Section id QEMU assigned (repeated in the footer).
    pub section_id: u32,
    /// Instance id of the section (0 on QEMU 7.2's PC machine, not the I/O base).
    pub instance_id: u32,
    /// Payload range `start..end` in the stream: after the header, before the footer.
    pub payload: std::ops::Range<usize>,
    /// Subsection names in stream order (drive 0's, drive 1's, then the controller's).
    pub subsections: Vec<String>,
}

/// Finds the fdc section by parsing the whole stream. The `fdc` section is located with
/// the controller's layout even when its vmdesc description disagrees (QEMU's loader never
/// reads the vmdesc); every other section must agree with its description.
pub fn find_fdc_section(stream: &[u8]) -> Result<FdcSection, StreamError> {
    let parsed = MigrationStream::parse(stream)?;
    let (sec, body) = parsed.fdc().ok_or(StreamError::NoFdcSection)?;
    Ok(FdcSection {
        header_offset: sec.offset,
        section_id: sec.section_id,
        instance_id: sec.instance_id,
        payload: body.payload.clone(),
        subsections: body.subsections.iter().map(|s| s.name.clone()).collect(),
    })
}
