//! One drive slot: whether a drive (block backend) is attached, its medium, the geometry
//! QEMU picked for it, the head position and the disk-change latch.

use serde::{Deserialize, Serialize};

use crate::media::{pick_geometry, DriveType, Medium, ISA_FALLBACK, SECTOR_LEN};

/// How a drive slot is configured at machine creation (the command line).
#[derive(Clone, Debug, PartialEq)]
pub enum DriveConfig {
    /// No drive device for this unit (QEMU's default for drive 1).
    Absent,
    /// A drive without a medium (`-drive if=floppy,index=N` without `file=`).
    Empty,
    /// A drive with a medium.
    Medium(Medium),
}

/// What stands behind a slot, as QEMU's `FDrive.blk` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// No block backend (no drive configured and never selected since the fix below).
    None,
    /// A configured drive device.
    Device,
    /// The empty backend QEMU attaches on demand to an unconfigured slot as soon as it is
    /// selected for an access (the CVE-2021-20196 fix, "kludge missing floppy drive").
    /// QEMU never revalidates it, so the slot keeps the 0/0 geometry of an absent drive.
    Placeholder,
}

/// Result of QEMU's `fd_seek`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekResult {
    /// Same sector, or a new sector on the same track.
    Same,
    /// The track changed.
    TrackChanged,
    /// Invalid track or head, or no medium (after the position was updated!).
    Invalid,
    /// Sector number beyond the last sector of the track.
    BadSector,
}

/// A count that is no part of the state: any two are equal.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LatchWrites(pub(crate) u32);

impl PartialEq for LatchWrites {
    fn eq(&self, _: &LatchWrites) -> bool {
        true
    }
}

/// Per-drive state (QEMU `FDrive`).
#[derive(Clone, Debug, PartialEq)]
pub struct Drive {
    pub(crate) backend: Backend,
    pub(crate) drive_type: DriveType,
    pub(crate) disk: DriveType,
    pub(crate) perpendicular: u8,
    pub(crate) head: u8,
    pub(crate) track: u8,
    pub(crate) sect: u8,
    pub(crate) dbl_sides: bool,
    pub(crate) last_sect: u8,
    pub(crate) max_track: u8,
    pub(crate) ro: bool,
    pub(crate) media_changed: u8,
    pub(crate) media_rate: u8,
    pub(crate) media_validated: bool,
    /// Writes of `media_changed` by the handlers (not state: `==` ignores it).
    pub(crate) latch_writes: LatchWrites,
    /// Last on purpose: the derived `==` compares fields in order, and two equal media
    /// stored apart cost a walk of their sector trees.
    pub(crate) medium: Option<Medium>,
}

impl Drive {
    /// A copy of the slot without its medium (a copy that is to get another medium need
    /// not move the medium's reference count).
    pub(crate) fn clone_without_medium(&self) -> Drive {
        Drive {
            backend: self.backend,
            drive_type: self.drive_type,
            disk: self.disk,
            perpendicular: self.perpendicular,
            head: self.head,
            track: self.track,
            sect: self.sect,
            dbl_sides: self.dbl_sides,
            last_sect: self.last_sect,
            max_track: self.max_track,
            ro: self.ro,
            media_changed: self.media_changed,
            media_rate: self.media_rate,
            media_validated: self.media_validated,
            latch_writes: self.latch_writes,
            medium: None,
        }
    }

    /// A slot as QEMU creates it: `fd_init`, drive-type resolution ("auto" becomes the type
    /// of the medium's matched format, else the ISA fallback 2.88 MB) and `fd_revalidate`.
    pub fn new(config: DriveConfig) -> Drive {
        let mut d = Drive {
            backend: Backend::None,
            medium: None,
            drive_type: DriveType::None,
            disk: DriveType::None,
            perpendicular: 0,
            head: 0,
            track: 0,
            sect: 0,
            dbl_sides: false,
            last_sect: 0,
            max_track: 0,
            ro: true,
            media_changed: 1,
            media_rate: 0,
            media_validated: false,
            latch_writes: LatchWrites::default(),
        };
        match config {
            DriveConfig::Absent => {}
            DriveConfig::Empty => {
                d.backend = Backend::Device;
                d.drive_type = ISA_FALLBACK;
            }
            DriveConfig::Medium(m) => {
                d.backend = Backend::Device;
                d.drive_type = pick_geometry(m.sectors(), ISA_FALLBACK, true)
                    .map(|f| f.drive)
                    .unwrap_or(ISA_FALLBACK);
                d.ro = m.read_only();
                d.medium = Some(m);
            }
        }
        d.revalidate();
        d
    }

    /// QEMU's `fd_revalidate`: recompute `ro`, and the geometry unless already validated.
    pub(crate) fn revalidate(&mut self) {
        match self.backend {
            Backend::None => {
                self.last_sect = 0;
                self.max_track = 0;
                self.dbl_sides = false;
                self.drive_type = DriveType::None;
                self.disk = DriveType::None;
            }
            Backend::Device | Backend::Placeholder => match &self.medium {
                None => {
                    // QEMU asks the block layer; a backend without medium is never
                    // writable (checked: empty `-drive`, and after an eject).
                    self.ro = true;
                    // "Empty seek hack": any track and sector are accepted.
                    self.disk = DriveType::None;
                    self.last_sect = 0xFF;
                    self.max_track = 0xFF;
                }
                Some(m) => {
                    self.ro = m.read_only();
                    if !self.media_validated {
                        if let Some(fmt) = pick_geometry(m.sectors(), self.drive_type, false) {
                            self.dbl_sides = fmt.heads == 2;
                            self.max_track = fmt.tracks;
                            self.last_sect = fmt.sectors_per_track;
                            self.disk = fmt.drive;
                            self.media_rate = fmt.rate;
                            self.media_validated = true;
                        }
                    }
                }
            },
        }
    }

    /// Ejects the medium (QMP `eject`): the DSKCHG latch is set and the geometry forgotten.
    /// Ejecting an empty drive does nothing at all: QEMU's block layer only calls the
    /// controller's media-change callback when a medium is really removed (checked against
    /// QEMU: a RESTORE-set geometry survives a second eject). Returns false when there is
    /// no drive device to eject from.
    pub fn eject(&mut self) -> bool {
        if self.backend != Backend::Device {
            return false;
        }
        if self.medium.take().is_some() {
            self.media_changed_cb();
        }
        true
    }

    /// Inserts (or replaces) the medium (QMP `blockdev-change-medium`).
    pub fn insert(&mut self, medium: Medium) -> bool {
        if self.backend != Backend::Device {
            return false;
        }
        self.medium = Some(medium);
        self.media_changed_cb();
        true
    }

    fn media_changed_cb(&mut self) {
        self.media_changed = 1;
        self.latch_writes.0 = self.latch_writes.0.wrapping_add(1);
        self.media_validated = false;
        self.revalidate();
    }

    /// True when a block backend is attached (a drive or the placeholder).
    pub fn has_backend(&self) -> bool {
        self.backend != Backend::None
    }

    /// What stands behind the slot.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The medium, `None` for an empty drive.
    pub fn medium(&self) -> Option<&Medium> {
        self.medium.as_ref()
    }

    /// The drive type (resolved at creation, as QEMU's `auto` does).
    pub fn drive_type(&self) -> DriveType {
        self.drive_type
    }

    /// Current (head, track, sector).
    pub fn position(&self) -> (u8, u8, u8) {
        (self.head, self.track, self.sect)
    }

    /// Sectors per track and track count currently in use (after FORMAT/RESTORE edits).
    pub fn geometry(&self) -> (u8, u8, bool) {
        (self.last_sect, self.max_track, self.dbl_sides)
    }

    /// The disk-change latch (DIR.DSKCHG of this drive).
    pub fn media_changed(&self) -> u8 {
        self.media_changed
    }

    /// How many times the handlers wrote `media_changed` (a seek to another track with a
    /// medium in, an insert, an eject), wrapping: besides a DIR read, which reads it, these
    /// are the only handlers that touch the latch, so two devices that differ only in
    /// their latches stay so across an event that moves neither count. A count for
    /// observers, not state: `==` ignores it.
    pub fn latch_writes(&self) -> u32 {
        self.latch_writes.0
    }

    /// The data rate code the medium needs (DSR bits 0-1).
    pub fn media_rate(&self) -> u8 {
        self.media_rate
    }

    /// Perpendicular-mode bits (PERPENDICULAR MODE).
    pub fn perpendicular(&self) -> u8 {
        self.perpendicular
    }

    /// Whether writes fail (read-only medium, or no medium).
    pub fn read_only(&self) -> bool {
        self.ro
    }

    fn sides(&self) -> i64 {
        if self.dbl_sides {
            2
        } else {
            1
        }
    }

    /// Linear sector number (`fd_sector_calc`). QEMU computes it in 32 bits; the range
    /// here (-1 ..= ~195k) makes that exact.
    fn sector_index(&self, head: u8, track: u8, sect: u8) -> i64 {
        ((track as i64 * self.sides()) + head as i64) * self.last_sect as i64 + sect as i64 - 1
    }

    /// Byte offset of the current sector in the image (`fd_offset`); may be negative.
    pub(crate) fn offset(&self) -> i64 {
        self.sector_index(self.head, self.track, self.sect) * SECTOR_LEN as i64
    }

    /// QEMU's `fd_seek`.
    pub(crate) fn seek(&mut self, head: u8, track: u8, sect: u8) -> SeekResult {
        if track > self.max_track || (head != 0 && !self.dbl_sides) {
            return SeekResult::Invalid;
        }
        if sect > self.last_sect {
            return SeekResult::BadSector;
        }
        let mut ret = SeekResult::Same;
        if self.sector_index(head, track, sect)
            != self.sector_index(self.head, self.track, self.sect)
        {
            self.head = head;
            if self.track != track {
                if self.has_backend() && self.medium.is_some() {
                    self.media_changed = 0;
                    self.latch_writes.0 = self.latch_writes.0.wrapping_add(1);
                }
                ret = SeekResult::TrackChanged;
            }
            self.track = track;
            self.sect = sect;
        }
        if !self.has_backend() || self.medium.is_none() {
            ret = SeekResult::Invalid;
        }
        ret
    }

    /// Head to 0, track 0, sector 1 (`fd_recalibrate`).
    pub(crate) fn recalibrate(&mut self) {
        self.seek(0, 0, 1);
    }

    /// Reads the current sector; false on any block-layer failure (QEMU then zero-fills).
    pub(crate) fn read_current(&self, buf: &mut [u8; SECTOR_LEN]) -> bool {
        match &self.medium {
            Some(m) if self.has_backend() => m.read_sector(self.offset(), buf),
            _ => false,
        }
    }

    /// Writes the current sector; false on any failure (no medium, read-only, range).
    pub(crate) fn write_current(&mut self, buf: &[u8; SECTOR_LEN]) -> bool {
        let offset = self.offset();
        match &mut self.medium {
            Some(m) if self.backend != Backend::None => m.write_sector(offset, buf),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's `fd_seek` clears the latch only when the track changes with a medium in
    /// (and `fd_change_cb` sets it): those writes are counted, a seek within the track is
    /// not, and `==` ignores the count.
    #[test]
    fn latch_writes_count_the_handlers_that_write_the_latch() {
        let mut d = Drive::new(DriveConfig::Medium(Medium::blank(1_474_560, false)));
        assert_eq!((d.media_changed(), d.latch_writes()), (1, 0));
        let before = d.clone();
        assert_eq!(d.seek(0, 0, 2), SeekResult::Same);
        assert_eq!((d.media_changed(), d.latch_writes()), (1, 0));
        assert_eq!(d.seek(0, 3, 1), SeekResult::TrackChanged);
        assert_eq!((d.media_changed(), d.latch_writes()), (0, 1));
        assert_eq!(d.seek(0, 5, 1), SeekResult::TrackChanged);
        assert_eq!((d.media_changed(), d.latch_writes()), (0, 2));
        assert!(d.eject());
        assert_eq!((d.media_changed(), d.latch_writes()), (1, 3));
        // No medium: a seek to another track leaves the latch alone.
        let _ = d.seek(0, 1, 1);
        assert_eq!((d.media_changed(), d.latch_writes()), (1, 3));
        let mut e = before.clone();
        e.latch_writes.0 = 7;
        assert_eq!(e, before);
    }
}
