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

/// Children of an inner node of a [`Medium`]'s sector tree (a power of two).
const FANOUT: usize = 64;
/// `log2(FANOUT)`.
const FANOUT_BITS: u32 = 6;

/// One sector's content, or a subtree of [`FANOUT`] subtrees, or all zeros.
///
/// Every node sits behind an `Arc`: a clone of the tree costs one reference count, and a
/// write copies only the path from the root to its sector (at most
/// `ceil(log64(sectors))` nodes of 64 pointers, plus the 512-byte sector), so a model
/// cloned every few hundred events costs memory in proportion to the sectors written
/// since the last clone, never a whole medium.
#[derive(Clone)]
enum Node {
    /// All zeros (a sector never written with data, or a whole such subtree).
    Zero,
    /// One sector, never all zeros.
    Sector(Arc<[u8; SECTOR_LEN]>),
    /// [`FANOUT`] subtrees.
    Inner(Arc<Vec<Node>>),
}

impl Node {
    fn is_zero(&self) -> bool {
        match self {
            Node::Zero => true,
            Node::Sector(s) => s.iter().all(|&b| b == 0),
            Node::Inner(c) => c.iter().all(Node::is_zero),
        }
    }

    fn same(a: &Node, b: &Node) -> bool {
        match (a, b) {
            (Node::Zero, Node::Zero) => true,
            (Node::Sector(x), Node::Sector(y)) => Arc::ptr_eq(x, y) || x == y,
            (Node::Inner(x), Node::Inner(y)) => {
                Arc::ptr_eq(x, y) || x.iter().zip(y.iter()).all(|(p, q)| Node::same(p, q))
            }
            (Node::Zero, n) | (n, Node::Zero) => n.is_zero(),
            // Trees of one medium have one depth: a sector never faces a subtree.
            (Node::Sector(_), Node::Inner(_)) | (Node::Inner(_), Node::Sector(_)) => false,
        }
    }

    /// The sector `index` of a subtree `levels` inner levels high.
    fn get(&self, levels: u32, index: u64) -> Option<&[u8; SECTOR_LEN]> {
        match self {
            Node::Zero => None,
            Node::Sector(s) => Some(s),
            Node::Inner(c) => {
                let shift = FANOUT_BITS * levels.saturating_sub(1);
                let child = ((index >> shift) as usize) & (FANOUT - 1);
                c.get(child)?.get(levels.saturating_sub(1), index)
            }
        }
    }

    /// Sets sector `index` of a subtree `levels` inner levels high to `buf`.
    fn set(&mut self, levels: u32, index: u64, buf: &[u8; SECTOR_LEN]) {
        let zero = *buf == [0u8; SECTOR_LEN];
        if levels == 0 {
            *self = if zero {
                Node::Zero
            } else {
                Node::Sector(Arc::new(*buf))
            };
            return;
        }
        if let Node::Zero = self {
            if zero {
                return;
            }
            *self = Node::Inner(Arc::new(vec![Node::Zero; FANOUT]));
        }
        if let Node::Inner(c) = self {
            let shift = FANOUT_BITS * (levels - 1);
            let child = ((index >> shift) as usize) & (FANOUT - 1);
            if let Some(n) = Arc::make_mut(c).get_mut(child) {
                n.set(levels - 1, index, buf);
            }
            if zero && c.iter().all(|n| matches!(n, Node::Zero)) {
                *self = Node::Zero;
            }
        }
    }

    /// Counts the distinct sector buffers and inner nodes (for [`Medium::stored_bytes`]).
    fn stored(&self) -> u64 {
        match self {
            Node::Zero => 0,
            Node::Sector(_) => SECTOR_LEN as u64,
            Node::Inner(c) => {
                (FANOUT * size_of::<Node>()) as u64 + c.iter().map(Node::stored).sum::<u64>()
            }
        }
    }
}

/// A diskette image: its size, whether the backend is writable, and its content.
///
/// The content is a copy-on-write tree of 512-byte sectors (see `Node`): cloning a
/// model (to fork a replay, keep a checkpoint or compare a migrated copy) costs a
/// reference count, and the first write after a clone copies one sector and its path in
/// the tree, not the medium. Sectors of zeros take no memory.
#[derive(Clone)]
pub struct Medium {
    sectors: u64,
    read_only: bool,
    /// Inner levels above the sectors: the least `l` with `FANOUT^l >= sectors`.
    levels: u32,
    root: Node,
    /// [`sector_digest`] summed (wrapping) over the sectors: a function of the content,
    /// kept up to date by every write, so that two media that differ are told apart
    /// without walking their trees (equal digests still compare the trees).
    digest: u64,
}

/// A hash of sector `index` holding `buf`; 0 for a sector of zeros (so a blank medium's
/// digest is 0 and zero sectors need not be visited).
fn sector_digest(index: u64, buf: &[u8; SECTOR_LEN]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = index.wrapping_add(1).wrapping_mul(K);
    let mut any = 0u64;
    for w in buf.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let v = u64::from_le_bytes(b);
        any |= v;
        h = (h ^ v).wrapping_mul(K).rotate_left(29);
    }
    if any == 0 {
        0
    } else {
        h ^ (h >> 31)
    }
}

impl std::fmt::Debug for Medium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Medium")
            .field("sectors", &self.sectors)
            .field("read_only", &self.read_only)
            .field("stored_bytes", &self.stored_bytes())
            .finish()
    }
}

impl PartialEq for Medium {
    fn eq(&self, other: &Self) -> bool {
        self.sectors == other.sectors
            && self.read_only == other.read_only
            && self.digest == other.digest
            && Node::same(&self.root, &other.root)
    }
}

impl Eq for Medium {}

fn levels_for(sectors: u64) -> u32 {
    let mut levels = 0;
    while levels < 11 && (1u64 << (FANOUT_BITS * levels)) < sectors {
        levels += 1;
    }
    levels
}

impl Medium {
    /// A zero-filled medium of `bytes` bytes (rounded up to whole sectors, as the block
    /// layer reports sizes).
    pub fn blank(bytes: u64, read_only: bool) -> Medium {
        let sectors = bytes.div_ceil(SECTOR_LEN as u64);
        Medium {
            sectors,
            read_only,
            levels: levels_for(sectors),
            root: Node::Zero,
            digest: 0,
        }
    }

    /// A medium holding `image` (rounded up to whole sectors with zeros).
    pub fn from_image(image: Vec<u8>, read_only: bool) -> Medium {
        Medium::from_bytes(&image, read_only)
    }

    /// A medium holding a copy of `image` (rounded up to whole sectors with zeros).
    pub fn from_bytes(image: &[u8], read_only: bool) -> Medium {
        let mut m = Medium::blank(image.len() as u64, false);
        for (i, chunk) in image.chunks(SECTOR_LEN).enumerate() {
            let mut buf = [0u8; SECTOR_LEN];
            buf[..chunk.len()].copy_from_slice(chunk);
            m.set(i as u64, &buf);
        }
        m.read_only = read_only;
        m
    }

    /// Size in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    /// Whether the backend refuses writes.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether every byte is zero.
    pub fn is_zero(&self) -> bool {
        self.root.is_zero()
    }

    /// The content as one buffer of `sectors() * 512` bytes, or `None` while it is all
    /// zeros (a copy: the medium keeps its sectors apart).
    pub fn to_image(&self) -> Option<Vec<u8>> {
        if self.is_zero() {
            return None;
        }
        let len = usize::try_from(self.sectors)
            .ok()?
            .checked_mul(SECTOR_LEN)?;
        let mut out = vec![0u8; len];
        for (i, dst) in out.chunks_mut(SECTOR_LEN).enumerate() {
            if let Some(s) = self.root.get(self.levels, i as u64) {
                dst.copy_from_slice(s);
            }
        }
        Some(out)
    }

    /// [`Medium::to_image`] under its older name.
    pub fn data(&self) -> Option<Vec<u8>> {
        self.to_image()
    }

    /// Bytes of sector buffers and tree nodes this medium holds (shared ones included):
    /// a measure for benchmarks and tests of the copy-on-write sharing.
    pub fn stored_bytes(&self) -> u64 {
        self.root.stored()
    }

    /// The sector index of byte `offset`, when a whole sector starts there and lies
    /// inside the medium (the block layer's check of a 512-byte access).
    fn sector_at(&self, offset: i64) -> Option<u64> {
        let len = self.sectors.checked_mul(SECTOR_LEN as u64)?;
        let start = u64::try_from(offset).ok()?;
        let end = start.checked_add(SECTOR_LEN as u64)?;
        if end > len {
            return None;
        }
        Some(start / SECTOR_LEN as u64)
    }

    /// Reads the 512 bytes at `offset`; fails (like QEMU's block layer) when the range is
    /// negative or beyond the end.
    pub fn read_sector(&self, offset: i64, buf: &mut [u8; SECTOR_LEN]) -> bool {
        let Some(index) = self.sector_at(offset) else {
            return false;
        };
        let rem = (offset as u64 % SECTOR_LEN as u64) as usize;
        if rem == 0 {
            match self.root.get(self.levels, index) {
                Some(s) => buf.copy_from_slice(s),
                None => buf.fill(0),
            }
            return true;
        }
        // An access that straddles two sectors (offsets are sector-aligned in practice).
        let mut two = [0u8; 2 * SECTOR_LEN];
        for (k, half) in two.chunks_mut(SECTOR_LEN).enumerate() {
            if let Some(s) = self.root.get(self.levels, index + k as u64) {
                half.copy_from_slice(s);
            }
        }
        buf.copy_from_slice(&two[rem..rem + SECTOR_LEN]);
        true
    }

    /// Sets sector `index` to `buf`, keeping the digest up to date.
    fn set(&mut self, index: u64, buf: &[u8; SECTOR_LEN]) {
        let old = self
            .root
            .get(self.levels, index)
            .map_or(0, |s| sector_digest(index, s));
        self.root.set(self.levels, index, buf);
        self.digest = self
            .digest
            .wrapping_sub(old)
            .wrapping_add(sector_digest(index, buf));
    }

    /// Writes 512 bytes at `offset`; fails on a read-only backend or out of range.
    pub fn write_sector(&mut self, offset: i64, buf: &[u8; SECTOR_LEN]) -> bool {
        if self.read_only {
            return false;
        }
        let Some(index) = self.sector_at(offset) else {
            return false;
        };
        let rem = (offset as u64 % SECTOR_LEN as u64) as usize;
        if rem == 0 {
            self.set(index, buf);
            return true;
        }
        // Straddling two sectors: read both, patch, write both back.
        let mut two = [0u8; 2 * SECTOR_LEN];
        for (k, half) in two.chunks_mut(SECTOR_LEN).enumerate() {
            if let Some(s) = self.root.get(self.levels, index + k as u64) {
                half.copy_from_slice(s);
            }
        }
        two[rem..rem + SECTOR_LEN].copy_from_slice(buf);
        for (k, half) in two.chunks(SECTOR_LEN).enumerate() {
            let mut b = [0u8; SECTOR_LEN];
            b.copy_from_slice(half);
            self.set(index + k as u64, &b);
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

    /// A pattern with no zero sector.
    fn pattern(sectors: usize) -> Vec<u8> {
        (0..sectors * 512).map(|i| (i % 251) as u8 | 1).collect()
    }

    /// Clones share every sector; a write after a clone copies one sector and its path in
    /// the tree (a few hundred bytes of pointers), not the medium.
    #[test]
    fn clone_then_write_copies_one_path() {
        let sectors = 131_072; // 64 MiB
        let mut m = Medium::from_image(pattern(sectors), false);
        let whole = m.stored_bytes();
        assert!(whole >= (sectors * 512) as u64, "{whole}");
        let mut checkpoints = Vec::new();
        for k in 0..1000u64 {
            checkpoints.push(m.clone());
            assert!(m.write_sector((k * 97 % sectors as u64 * 512) as i64, &[k as u8 | 1; 512]));
        }
        // Each checkpoint differs from the next in one sector: what the 1000 checkpoints
        // hold beyond the medium is their copied paths, at most 3 nodes + 1 sector each.
        let node = (FANOUT * size_of::<Node>()) as u64;
        let mut distinct = std::collections::HashSet::new();
        fn walk(n: &Node, seen: &mut std::collections::HashSet<usize>, bytes: &mut u64) {
            match n {
                Node::Zero => {}
                Node::Sector(s) => {
                    if seen.insert(Arc::as_ptr(s) as *const u8 as usize) {
                        *bytes += 512;
                    }
                }
                Node::Inner(c) => {
                    if seen.insert(Arc::as_ptr(c) as *const u8 as usize) {
                        *bytes += (FANOUT * size_of::<Node>()) as u64;
                        for x in c.iter() {
                            walk(x, seen, bytes);
                        }
                    }
                }
            }
        }
        let mut bytes = 0;
        for c in checkpoints.iter().chain(std::iter::once(&m)) {
            walk(&c.root, &mut distinct, &mut bytes);
        }
        assert!(
            bytes <= whole + 1000 * (3 * node + 512),
            "{bytes} vs {whole}"
        );
        assert!(bytes > whole, "the writes must have copied something");
        // And the contents are right: checkpoint k has sector k*97 as before write k.
        let mut buf = [0u8; 512];
        assert!(checkpoints[0].read_sector(0, &mut buf));
        assert_eq!(&buf[..], &pattern(1)[..]);
        assert!(m.read_sector(0, &mut buf));
        assert_eq!(buf, [1; 512]);
        assert!(checkpoints[1].read_sector(0, &mut buf));
        assert_eq!(buf, [1; 512]);
    }

    /// Equality is by content, whatever the tree's shape: zeros written over zeros, a
    /// sector written back to its old content, an image of zeros and a blank medium.
    #[test]
    fn equality_is_by_content() {
        let blank = Medium::blank(2880 * 512, false);
        assert_eq!(Medium::from_image(vec![0; 2880 * 512], false), blank);
        let mut m = blank.clone();
        assert!(m.write_sector(512 * 2000, &[5; 512]));
        assert_ne!(m, blank);
        assert!(m.write_sector(512 * 2000, &[0; 512]));
        assert_eq!(m, blank);
        assert!(m.is_zero());
        assert_eq!(m.to_image(), None);
        let img = pattern(2880);
        let a = Medium::from_image(img.clone(), false);
        let mut b = a.clone();
        assert!(b.write_sector(0, &[9; 512]));
        let mut first = [0u8; 512];
        first.copy_from_slice(&img[..512]);
        assert!(b.write_sector(0, &first));
        assert_eq!(a, b);
        assert_eq!(b.to_image(), Some(img));
        // Read-only differs.
        assert_ne!(Medium::blank(1024, true), Medium::blank(1024, false));
    }

    #[test]
    fn digest_follows_every_write() {
        // After any history of writes (aligned, straddling, zeros, rewrites), the digest
        // equals the digest of a medium built from the same bytes in one go, and media
        // that differ in one byte have different digests.
        let img = pattern(300);
        let mut m = Medium::from_image(img.clone(), false);
        let mut flat = img;
        let mut x = 7u64;
        for k in 0..2000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let off = (x >> 20) % (299 * 512);
            let off = if k % 3 == 0 { off } else { off - off % 512 };
            let v = if k % 5 == 0 { 0 } else { (x >> 8) as u8 };
            let buf = [v; 512];
            assert!(m.write_sector(off as i64, &buf));
            flat[off as usize..off as usize + 512].copy_from_slice(&buf);
        }
        let rebuilt = Medium::from_image(flat.clone(), false);
        assert_eq!(m.digest, rebuilt.digest);
        assert_eq!(m, rebuilt);
        flat[1234] ^= 1;
        let other = Medium::from_image(flat, false);
        assert_ne!(m.digest, other.digest);
        assert_ne!(m, other);
        assert_eq!(Medium::blank(4096, false).digest, 0);
    }

    /// An access that is not sector-aligned reads and writes the bytes at that offset.
    #[test]
    fn unaligned_access_straddles_two_sectors() {
        let img = pattern(4);
        let mut m = Medium::from_image(img.clone(), false);
        let mut buf = [0u8; 512];
        assert!(m.read_sector(100, &mut buf));
        assert_eq!(&buf[..], &img[100..612]);
        assert!(!m.read_sector(3 * 512 + 1, &mut buf));
        assert!(m.write_sector(700, &[3; 512]));
        let out = m.to_image().unwrap();
        assert_eq!(&out[..700], &img[..700]);
        assert_eq!(&out[700..1212], &[3; 512][..]);
        assert_eq!(&out[1212..], &img[1212..]);
        // A partial last sector is rounded up with zeros.
        let odd = Medium::from_image(vec![7; 600], false);
        assert_eq!(odd.sectors(), 2);
        assert!(odd.read_sector(512, &mut buf));
        assert_eq!(&buf[..88], &[7; 88][..]);
        assert_eq!(&buf[88..], &[0; 424][..]);
    }
}
