//! Locating the floppy controller's section inside a QEMU migration stream.
//!
//! The project's own codec decodes the fdc payload; this module only has to find it and
//! list the subsections QEMU chose to send, because that list is what the oracle is asked
//! about. QEMU's stream cannot be parsed front to back without implementing every device
//! (RAM and other sections have no length prefix), so the fdc section is found by its exact
//! header and then walked with the fdc layout (fdc-behaviour.md §6.1-6.4), which is the only
//! way to tell its footer from payload bytes that happen to look like one.

/// First bytes of every QEMU migration stream ("QEVM").
pub const QEMU_VM_FILE_MAGIC: &[u8; 4] = b"QEVM";
/// Stream format version written by QEMU 7.2.
pub const QEMU_VM_FILE_VERSION: u32 = 3;
/// Section type of a device's complete state (non-iterative devices such as the fdc).
pub const QEMU_VM_SECTION_FULL: u8 = 0x04;
/// Marker that opens a subsection record.
pub const QEMU_VM_SUBSECTION: u8 = 0x05;
/// Marker of the footer that closes every section.
pub const QEMU_VM_SECTION_FOOTER: u8 = 0x7e;
/// Only version of the `fdc` description QEMU accepts on load.
pub const FDC_SECTION_VERSION: u32 = 2;

/// Bytes of fixed controller fields before the first drive: 9 u8, the 512-byte FIFO,
/// data_pos and data_len (u32 each), then 10 u8 ending with num_floppies.
const FDC_HEAD_FIELDS: usize = 9 + 512 + 4 + 4 + 10;
/// Bytes of fixed fields of one drive: head, track, sect.
const FDRIVE_FIELDS: usize = 3;

/// Why a migration stream could not be walked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    #[error("migration stream is too short ({0} bytes) to hold a header")]
    TooShort(usize),
    #[error("migration stream does not start with the QEVM magic")]
    BadMagic,
    #[error("migration stream version {0}, expected {QEMU_VM_FILE_VERSION}")]
    BadVersion(u32),
    #[error("no `fdc` section (version {FDC_SECTION_VERSION}) found in the migration stream")]
    NoFdcSection,
    #[error("fdc section at offset {offset}: {reason}")]
    Malformed { offset: usize, reason: String },
}

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

/// Field sizes of the subsections QEMU 7.2's fdc knows; the walk needs them because a
/// subsection record carries no length.
fn subsection_size(name: &str) -> Option<usize> {
    match name {
        "fdrive/media_changed" | "fdrive/media_rate" | "fdrive/perpendicular" => Some(1),
        "fdc/reset_sensei" => Some(4),
        "fdc/result_timer" => Some(8),
        "fdc/phase" => Some(1),
        _ => None,
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Checks the stream header.
pub fn check_header(stream: &[u8]) -> Result<(), StreamError> {
    if stream.len() < 8 {
        return Err(StreamError::TooShort(stream.len()));
    }
    if &stream[0..4] != QEMU_VM_FILE_MAGIC {
        return Err(StreamError::BadMagic);
    }
    let version = be32(stream, 4).ok_or(StreamError::TooShort(stream.len()))?;
    if version != QEMU_VM_FILE_VERSION {
        return Err(StreamError::BadVersion(version));
    }
    Ok(())
}

/// Finds the fdc section. Guest RAM precedes device state in the stream and may contain
/// anything, so every candidate header is walked and the last one that walks cleanly
/// (device sections come after RAM) wins.
pub fn find_fdc_section(stream: &[u8]) -> Result<FdcSection, StreamError> {
    check_header(stream)?;
    // 0x04, be32 section id, 0x03 "fdc", be32 instance id, be32 version.
    const HEADER_LEN: usize = 1 + 4 + 1 + 3 + 4 + 4;
    let mut last_ok = None;
    let mut last_err = None;
    let mut pos = 8;
    while pos + HEADER_LEN <= stream.len() {
        let Some(found) = stream[pos..].windows(4).position(|w| w == b"\x03fdc") else {
            break;
        };
        let name_at = pos + found;
        pos = name_at + 1;
        if name_at < 5 || stream[name_at - 5] != QEMU_VM_SECTION_FULL {
            continue;
        }
        let header_offset = name_at - 5;
        let (Some(section_id), Some(instance_id), Some(version)) = (
            be32(stream, header_offset + 1),
            be32(stream, name_at + 4),
            be32(stream, name_at + 8),
        ) else {
            continue;
        };
        if version != FDC_SECTION_VERSION {
            continue;
        }
        let start = name_at + 12;
        match walk_fdc_payload(stream, start, section_id) {
            Ok((end, subsections)) => {
                last_ok = Some(FdcSection {
                    header_offset,
                    section_id,
                    instance_id,
                    payload: start..end,
                    subsections,
                });
            }
            Err(e) => last_err = Some(e),
        }
    }
    match (last_ok, last_err) {
        (Some(section), _) => Ok(section),
        (None, Some(err)) => Err(err),
        (None, None) => Err(StreamError::NoFdcSection),
    }
}

/// Walks the payload starting at `start`; returns the payload end (the footer's offset)
/// and the subsection names.
fn walk_fdc_payload(
    stream: &[u8],
    start: usize,
    section_id: u32,
) -> Result<(usize, Vec<String>), StreamError> {
    let bad = |offset: usize, reason: String| StreamError::Malformed { offset, reason };
    let mut names = Vec::new();
    let mut at = start + FDC_HEAD_FIELDS;
    if at > stream.len() {
        return Err(bad(start, "truncated in the controller fields".into()));
    }
    let num_floppies = stream[at - 1];
    if num_floppies != 2 {
        return Err(bad(
            at - 1,
            format!("num_floppies is {num_floppies}, QEMU requires 2"),
        ));
    }
    for drive in 0..2 {
        at += FDRIVE_FIELDS;
        if at > stream.len() {
            return Err(bad(at, format!("truncated in drive {drive}'s fields")));
        }
        at = walk_subsections(stream, at, "fdrive", &mut names)?;
    }
    at = walk_subsections(stream, at, "fdc", &mut names)?;
    match (stream.get(at), be32(stream, at + 1)) {
        (Some(&QEMU_VM_SECTION_FOOTER), Some(id)) if id == section_id => Ok((at, names)),
        (Some(&QEMU_VM_SECTION_FOOTER), Some(id)) => Err(bad(
            at,
            format!("footer names section {id}, expected {section_id}"),
        )),
        (Some(b), _) => Err(bad(
            at,
            format!("expected the section footer 0x7e, found {b:#04x}"),
        )),
        (None, _) => Err(bad(at, "truncated before the section footer".into())),
    }
}

/// Reads the subsection records that belong to `parent`, following QEMU's loader rule: a
/// record is the parent's only if its name is longer than the parent's and starts with it.
fn walk_subsections(
    stream: &[u8],
    mut at: usize,
    parent: &str,
    names: &mut Vec<String>,
) -> Result<usize, StreamError> {
    let bad = |offset: usize, reason: String| StreamError::Malformed { offset, reason };
    while stream.get(at) == Some(&QEMU_VM_SUBSECTION) {
        let Some(&len) = stream.get(at + 1) else {
            break;
        };
        let len = usize::from(len);
        let Some(name) = stream.get(at + 2..at + 2 + len) else {
            break;
        };
        if len < parent.len() + 1 || !name.starts_with(parent.as_bytes()) {
            break;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let Some(size) = subsection_size(&name) else {
            return Err(bad(
                at,
                format!("unknown subsection `{name}` under `{parent}`"),
            ));
        };
        let version_at = at + 2 + len;
        let version = be32(stream, version_at)
            .ok_or_else(|| bad(at, format!("subsection `{name}` truncated")))?;
        if version != 1 {
            return Err(bad(
                at,
                format!("subsection `{name}` has version {version}, expected 1"),
            ));
        }
        at = version_at + 4 + size;
        if at > stream.len() {
            return Err(bad(version_at, format!("subsection `{name}` truncated")));
        }
        names.push(name);
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(id: u32, subsections: &[(&str, &[u8])], drive_subs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut s = vec![QEMU_VM_SECTION_FULL];
        s.extend_from_slice(&id.to_be_bytes());
        s.extend_from_slice(b"\x03fdc");
        s.extend_from_slice(&0u32.to_be_bytes());
        s.extend_from_slice(&2u32.to_be_bytes());
        let mut fields = vec![0x7eu8; FDC_HEAD_FIELDS];
        fields[FDC_HEAD_FIELDS - 1] = 2;
        s.extend_from_slice(&fields);
        for _ in 0..2 {
            s.extend_from_slice(&[5, 0x7e, 0]);
            for (name, data) in drive_subs {
                s.push(QEMU_VM_SUBSECTION);
                s.push(name.len() as u8);
                s.extend_from_slice(name.as_bytes());
                s.extend_from_slice(&1u32.to_be_bytes());
                s.extend_from_slice(data);
            }
        }
        for (name, data) in subsections {
            s.push(QEMU_VM_SUBSECTION);
            s.push(name.len() as u8);
            s.extend_from_slice(name.as_bytes());
            s.extend_from_slice(&1u32.to_be_bytes());
            s.extend_from_slice(data);
        }
        s.push(QEMU_VM_SECTION_FOOTER);
        s.extend_from_slice(&id.to_be_bytes());
        s
    }

    fn stream(body: &[u8]) -> Vec<u8> {
        let mut s = b"QEVM\0\0\0\x03".to_vec();
        s.extend_from_slice(body);
        s.push(0);
        s
    }

    #[test]
    fn walks_synthetic_section() {
        let sec = section(
            0x14,
            &[
                ("fdc/reset_sensei", &[0, 0, 0, 4]),
                ("fdc/result_timer", &[0x7e; 8]),
            ],
            &[("fdrive/media_rate", &[0])],
        );
        let s = stream(&sec);
        let found = find_fdc_section(&s).unwrap();
        assert_eq!(found.section_id, 0x14);
        assert_eq!(
            found.subsections,
            [
                "fdrive/media_rate",
                "fdrive/media_rate",
                "fdc/reset_sensei",
                "fdc/result_timer"
            ]
        );
        assert_eq!(found.payload.start, 8 + 17);
        assert_eq!(found.payload.end, s.len() - 6);
    }

    #[test]
    fn rejects_unknown_subsection_and_bad_footer() {
        let s = stream(&section(3, &[("fdc/bogus", &[0])], &[]));
        assert!(matches!(
            find_fdc_section(&s),
            Err(StreamError::Malformed { .. })
        ));
        let mut sec = section(3, &[], &[]);
        let n = sec.len();
        sec[n - 1] = 9;
        assert!(matches!(
            find_fdc_section(&stream(&sec)),
            Err(StreamError::Malformed { .. })
        ));
        assert_eq!(
            find_fdc_section(b"QEVM\0\0\0\x03\0"),
            Err(StreamError::NoFdcSection)
        );
        assert_eq!(
            find_fdc_section(b"QEVX\0\0\0\x03\0"),
            Err(StreamError::BadMagic)
        );
    }

    #[test]
    fn decoy_in_ram_is_skipped() {
        // A fake header earlier in the stream (as guest RAM could hold) must not win.
        let mut body = vec![
            QEMU_VM_SECTION_FULL,
            0,
            0,
            0,
            1,
            3,
            b'f',
            b'd',
            b'c',
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            2,
        ];
        body.extend_from_slice(&[0xaa; 40]);
        body.extend_from_slice(&section(7, &[], &[("fdrive/media_changed", &[0])]));
        let found = find_fdc_section(&stream(&body)).unwrap();
        assert_eq!(found.section_id, 7);
        assert_eq!(
            found.subsections,
            ["fdrive/media_changed", "fdrive/media_changed"]
        );
    }
}
