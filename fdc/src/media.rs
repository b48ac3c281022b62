//! Drive types, the geometry table QEMU matches media against, and the medium itself.
//!
//! QEMU has no notion of a physical disk format: it guesses one from the image size
//! (`pick_geometry`), preferring the drive's own type, then the same physical size class,
//! then any entry of the drive's type. The guess decides sectors per track, tracks,
//! sides and the data rate the controller must be programmed with (QEMU's
//! `fd_formats` and `pick_geometry` in `hw/block/fdc.c`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Bytes per sector of every image access (QEMU always moves 512-byte sectors).
pub const SECTOR_LEN: usize = 512;

/// Drive type as QEMU reports it to CMOS (QAPI `FloppyDriveType`, "auto" resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DriveType {
    /// 3.5" 1.44 MB.
    Type144,
    /// 3.5" 2.88 MB.
    Type288,
    /// 5.25" 1.2 MB.
    Type120,
    /// No drive.
    None,
}

impl DriveType {
    /// Physical size class: QEMU prefers a geometry of the same diskette size.
    fn size_class(self) -> u8 {
        match self {
            DriveType::Type120 => 5,
            DriveType::Type144 | DriveType::Type288 => 3,
            DriveType::None => 0,
        }
    }

    /// The CMOS register 0x10 nibble.
    pub fn cmos_nibble(self) -> u8 {
        match self {
            DriveType::Type144 => 4,
            DriveType::Type288 => 5,
            DriveType::Type120 => 2,
            DriveType::None => 0,
        }
    }
}

/// Data rate codes (DSR bits 0-1) as QEMU stores them in `media_rate`.
pub mod rate {
    /// 500 kb/s (1.44 MB and 1.2 MB media).
    pub const R500K: u8 = 0;
    /// 300 kb/s (360 KB media in a 1.2 MB drive).
    pub const R300K: u8 = 1;
    /// 250 kb/s (720 KB and 360 KB media).
    pub const R250K: u8 = 2;
    /// 1 Mb/s (2.88 MB media).
    pub const R1M: u8 = 3;
}

/// One entry of QEMU's `fd_formats` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// The drive type the format belongs to.
    pub drive: DriveType,
    /// Sectors per track (QEMU's `last_sect`).
    pub sectors_per_track: u8,
    /// Number of tracks (stored by QEMU as `max_track`, although it is a count).
    pub tracks: u8,
    /// Number of sides, 1 or 2.
    pub heads: u8,
    /// The data rate code ([`rate`]).
    pub rate: u8,
}

impl Format {
    /// Total 512-byte sectors of a medium with this format.
    pub const fn total_sectors(&self) -> u64 {
        self.heads as u64 * self.tracks as u64 * self.sectors_per_track as u64
    }

    /// Size in bytes.
    pub const fn bytes(&self) -> u64 {
        self.total_sectors() * SECTOR_LEN as u64
    }
}

const fn f(drive: DriveType, spt: u8, tracks: u8, heads: u8, rate: u8) -> Format {
    Format {
        drive,
        sectors_per_track: spt,
        tracks,
        heads,
        rate,
    }
}

use rate::*;
use DriveType::{Type120 as T120, Type144 as T144, Type288 as T288};

/// QEMU's geometry table, in QEMU's order (order decides ties).
pub static FORMATS: [Format; 33] = [
    f(T144, 18, 80, 2, R500K),
    f(T144, 20, 80, 2, R500K),
    f(T144, 21, 80, 2, R500K),
    f(T144, 21, 82, 2, R500K),
    f(T144, 21, 83, 2, R500K),
    f(T144, 22, 80, 2, R500K),
    f(T144, 23, 80, 2, R500K),
    f(T144, 24, 80, 2, R500K),
    f(T288, 36, 80, 2, R1M),
    f(T288, 39, 80, 2, R1M),
    f(T288, 40, 80, 2, R1M),
    f(T288, 44, 80, 2, R1M),
    f(T288, 48, 80, 2, R1M),
    f(T144, 9, 80, 2, R250K),
    f(T144, 10, 80, 2, R250K),
    f(T144, 10, 82, 2, R250K),
    f(T144, 10, 83, 2, R250K),
    f(T144, 13, 80, 2, R250K),
    f(T144, 14, 80, 2, R250K),
    f(T120, 15, 80, 2, R500K),
    f(T120, 18, 80, 2, R500K),
    f(T120, 18, 82, 2, R500K),
    f(T120, 18, 83, 2, R500K),
    f(T120, 20, 80, 2, R500K),
    f(T120, 9, 80, 2, R250K),
    f(T120, 11, 80, 2, R250K),
    f(T120, 9, 40, 2, R300K),
    f(T120, 9, 40, 1, R300K),
    f(T120, 10, 41, 2, R300K),
    f(T120, 10, 42, 2, R300K),
    f(T120, 8, 40, 2, R250K),
    f(T120, 8, 40, 1, R250K),
    f(T144, 9, 80, 1, R250K),
];

/// The drive type QEMU's ISA controller falls back to when "auto" cannot decide
/// (property `fallback`, default 2.88 MB).
pub const ISA_FALLBACK: DriveType = DriveType::Type288;

/// QEMU's `pick_geometry`: the format a medium of `sectors` sectors gets in a drive of type
/// `drive` (`auto` = the drive type is still unresolved, i.e. at creation).
///
/// Preference: (1) same size and same drive type (any type when auto), (2) same size and
/// same physical size class, (3) the first entry of the drive's type (of the fallback type
/// when auto). A same-size entry of another size class never wins.
pub fn pick_geometry(sectors: u64, drive: DriveType, auto: bool) -> Option<&'static Format> {
    if drive == DriveType::None && !auto {
        return None;
    }
    let mut size_match = None;
    let mut type_match = None;
    for fmt in FORMATS.iter() {
        if fmt.total_sectors() == sectors {
            if auto || fmt.drive == drive {
                return Some(fmt);
            } else if fmt.drive.size_class() == drive.size_class() {
                size_match = size_match.or(Some(fmt));
            }
        } else if type_match.is_none()
            && (fmt.drive == drive || (auto && fmt.drive == ISA_FALLBACK))
        {
            type_match = Some(fmt);
        }
    }
    size_match.or(type_match)
}

/// Bytes of one copy-on-write chunk of a medium's content (16 sectors).
pub const CHUNK_LEN: usize = 16 * SECTOR_LEN;

/// A diskette image: its size, whether the backend is writable, and its content.
///
/// Content is copy-on-write in chunks of [`CHUNK_LEN`] bytes behind `Arc`s, so that cloning
/// a model (to fork a replay or to compare a migrated copy) costs a reference count, a
/// write to a shared medium copies one chunk (not a megabyte), and comparing two media
/// that share most chunks compares pointers. A `None` chunk (and `None` content) is all
/// zeros; chunks are only allocated by the first non-zero write.
#[derive(Clone, Debug)]
pub struct Medium {
    sectors: u64,
    read_only: bool,
    data: Option<Arc<Vec<Chunk>>>,
}

/// One chunk of a medium's content (`None`: all zeros).
type Chunk = Option<Arc<Vec<u8>>>;

fn chunk_is_zero(c: &Chunk) -> bool {
    c.as_ref().is_none_or(|c| c.iter().all(|&b| b == 0))
}

fn chunks_equal(a: &Chunk, b: &Chunk) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
        _ => chunk_is_zero(a) && chunk_is_zero(b),
    }
}

impl PartialEq for Medium {
    fn eq(&self, other: &Self) -> bool {
        if self.sectors != other.sectors || self.read_only != other.read_only {
            return false;
        }
        match (&self.data, &other.data) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                Arc::ptr_eq(a, b) || a.iter().zip(b.iter()).all(|(x, y)| chunks_equal(x, y))
            }
            (Some(a), None) | (None, Some(a)) => a.iter().all(chunk_is_zero),
        }
    }
}

impl Eq for Medium {}

impl Medium {
    /// A zero-filled medium of `bytes` bytes (rounded up to whole sectors, as the block
    /// layer reports sizes).
    pub fn blank(bytes: u64, read_only: bool) -> Medium {
        Medium {
            sectors: bytes.div_ceil(SECTOR_LEN as u64),
            read_only,
            data: None,
        }
    }

    /// A medium holding `image` (rounded up to whole sectors with zeros).
    pub fn from_image(mut image: Vec<u8>, read_only: bool) -> Medium {
        let sectors = (image.len() as u64).div_ceil(SECTOR_LEN as u64);
        image.resize(sectors as usize * SECTOR_LEN, 0);
        let chunks = image
            .chunks(CHUNK_LEN)
            .map(|c| {
                let mut v = c.to_vec();
                v.resize(CHUNK_LEN, 0);
                (!v.iter().all(|&b| b == 0)).then(|| Arc::new(v))
            })
            .collect();
        Medium {
            sectors,
            read_only,
            data: Some(Arc::new(chunks)),
        }
    }

    /// Size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Whether the backend refuses writes.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The content, `sectors() * 512` bytes (a copy), or `None` while it is all zeros.
    pub fn data(&self) -> Option<Vec<u8>> {
        let chunks = self.data.as_ref()?;
        let len = self.sectors as usize * SECTOR_LEN;
        let mut out = Vec::with_capacity(chunks.len() * CHUNK_LEN);
        for c in chunks.iter() {
            match c {
                Some(c) => out.extend_from_slice(c),
                None => out.resize(out.len() + CHUNK_LEN, 0),
            }
        }
        out.truncate(len);
        Some(out)
    }

    fn byte_range(&self, offset: i64) -> Option<std::ops::Range<usize>> {
        let len = self.sectors.checked_mul(SECTOR_LEN as u64)?;
        let start = u64::try_from(offset).ok()?;
        let end = start.checked_add(SECTOR_LEN as u64)?;
        if end > len {
            return None;
        }
        Some(start as usize..end as usize)
    }

    /// Reads the 512 bytes at `offset`; fails (like QEMU's block layer) when the range is
    /// negative or beyond the end.
    pub fn read_sector(&self, offset: i64, buf: &mut [u8; SECTOR_LEN]) -> bool {
        let Some(range) = self.byte_range(offset) else {
            return false;
        };
        let (chunk, at) = (range.start / CHUNK_LEN, range.start % CHUNK_LEN);
        match self.data.as_ref().and_then(|d| d.get(chunk)) {
            Some(Some(c)) => buf.copy_from_slice(&c[at..at + SECTOR_LEN]),
            _ => buf.fill(0),
        }
        true
    }

    /// Writes 512 bytes at `offset`; fails on a read-only backend or out of range.
    pub fn write_sector(&mut self, offset: i64, buf: &[u8; SECTOR_LEN]) -> bool {
        if self.read_only {
            return false;
        }
        let Some(range) = self.byte_range(offset) else {
            return false;
        };
        let (chunk, at) = (range.start / CHUNK_LEN, range.start % CHUNK_LEN);
        // A whole-buffer compare (memcmp), not a byte loop: replays write a lot of zeros.
        let zero = *buf == [0u8; SECTOR_LEN];
        let absent = self
            .data
            .as_ref()
            .is_none_or(|d| d.get(chunk).is_none_or(Option::is_none));
        if zero && absent {
            return true;
        }
        let n = (self.sectors as usize * SECTOR_LEN).div_ceil(CHUNK_LEN);
        let chunks = Arc::make_mut(self.data.get_or_insert_with(|| Arc::new(vec![None; n])));
        if let Some(slot) = chunks.get_mut(chunk) {
            let c = slot.get_or_insert_with(|| Arc::new(vec![0; CHUNK_LEN]));
            Arc::make_mut(c)[at..at + SECTOR_LEN].copy_from_slice(buf);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(fmt: &Format) -> usize {
        FORMATS.iter().position(|f| std::ptr::eq(f, fmt)).unwrap()
    }

    /// Examples of `pick_geometry`'s preferences.
    #[test]
    fn geometry_examples_from_the_spec() {
        let pick = |bytes: u64, t, auto| idx(pick_geometry(bytes / 512, t, auto).unwrap());
        assert_eq!(pick(1_474_560, DriveType::Type144, false), 0);
        assert_eq!(pick(737_280, DriveType::Type144, false), 13);
        assert_eq!(pick(368_640, DriveType::Type120, false), 26);
        assert_eq!(pick(368_640, DriveType::Type144, false), 32);
        assert_eq!(pick(123_456 * 512, DriveType::Type144, false), 0);
        // Auto takes the first entry of any type with the size.
        assert_eq!(pick(1_474_560, DriveType::Type288, true), 0);
        // 2.88 MB medium in a 1.44 MB drive: same size class wins.
        assert_eq!(pick(2_949_120, DriveType::Type144, false), 8);
        // Unknown size and auto: the first fallback (2.88) entry.
        assert_eq!(pick(1000 * 512, DriveType::Type288, true), 8);
        // 720 KB (1440 sectors) in a 1.2 MB drive: entry 24 (type 120), not 13.
        assert_eq!(pick(737_280, DriveType::Type120, false), 24);
        assert!(pick_geometry(2880, DriveType::None, false).is_none());
    }

    #[test]
    fn table_totals() {
        assert_eq!(FORMATS[0].bytes(), 1_474_560);
        assert_eq!(FORMATS[8].bytes(), 2_949_120);
        assert_eq!(FORMATS[27].total_sectors(), 360);
        assert_eq!(FORMATS[32].total_sectors(), 720);
    }

    #[test]
    fn medium_io_bounds_and_cow() {
        let mut m = Medium::blank(1024, false);
        let mut buf = [0xAAu8; 512];
        assert!(m.read_sector(512, &mut buf));
        assert_eq!(buf, [0; 512]);
        assert!(!m.read_sector(1024, &mut buf));
        assert!(!m.read_sector(-512, &mut buf));
        let copy = m.clone();
        assert!(m.write_sector(0, &[7; 512]));
        assert_ne!(m, copy);
        assert!(m.read_sector(0, &mut buf));
        assert_eq!(buf, [7; 512]);
        let mut ro = Medium::blank(1024, true);
        assert!(!ro.write_sector(0, &[1; 512]));
    }
}
