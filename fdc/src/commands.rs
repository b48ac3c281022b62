//! The opcode decode table: which command every one of the 256 opcode bytes selects.
//!
//! QEMU builds a 256-entry table (`command_to_handler`) from its descriptor list
//! `handlers[]` of (value, mask) pairs where earlier list entries win; the resulting
//! decode is what this module encodes, checked opcode by opcode in the tests. Bits QEMU
//! keeps: bit 7 (MT) of transfer opcodes, bit 7 of LOCK. MFM and SK are ignored.

use serde::{Deserialize, Serialize};

/// The direction of a data transfer (QEMU `FD_DIR_*`, migrated as `data_dir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Memory (or the host, PIO) to the medium.
    Write = 0,
    /// The medium to memory (or the host).
    Read = 1,
    /// SCAN EQUAL: compare, stop on equality.
    ScanEqual = 2,
    /// SCAN LOW OR EQUAL.
    ScanLow = 3,
    /// SCAN HIGH OR EQUAL.
    ScanHigh = 4,
    /// VERIFY: read the medium, move no data.
    Verify = 5,
}

impl Direction {
    /// Decodes a migrated `data_dir` byte.
    pub fn from_byte(b: u8) -> Option<Direction> {
        Some(match b {
            0 => Direction::Write,
            1 => Direction::Read,
            2 => Direction::ScanEqual,
            3 => Direction::ScanLow,
            4 => Direction::ScanHigh,
            5 => Direction::Verify,
            _ => return None,
        })
    }

    /// Whether this is one of the three SCAN directions.
    pub fn is_scan(self) -> bool {
        matches!(
            self,
            Direction::ScanEqual | Direction::ScanLow | Direction::ScanHigh
        )
    }
}

/// A decoded command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Command {
    /// READ DATA.
    ReadData,
    /// WRITE DATA.
    WriteData,
    /// READ TRACK (READ A TRACK).
    ReadTrack,
    /// READ DELETED DATA.
    ReadDeleted,
    /// WRITE DELETED DATA.
    WriteDeleted,
    /// VERIFY.
    Verify,
    /// SCAN EQUAL.
    ScanEqual,
    /// SCAN LOW OR EQUAL.
    ScanLowOrEqual,
    /// SCAN HIGH OR EQUAL.
    ScanHighOrEqual,
    /// FORMAT TRACK.
    FormatTrack,
    /// READ ID.
    ReadId,
    /// RECALIBRATE.
    Recalibrate,
    /// SENSE INTERRUPT STATUS.
    SenseInterruptStatus,
    /// SPECIFY.
    Specify,
    /// SENSE DRIVE STATUS.
    SenseDriveStatus,
    /// SEEK.
    Seek,
    /// RELATIVE SEEK, outwards.
    RelativeSeekOut,
    /// RELATIVE SEEK, inwards.
    RelativeSeekIn,
    /// DUMPREG.
    Dumpreg,
    /// VERSION.
    Version,
    /// PERPENDICULAR MODE.
    PerpendicularMode,
    /// CONFIGURE.
    Configure,
    /// LOCK (and UNLOCK).
    Lock,
    /// POWERDOWN MODE.
    PowerdownMode,
    /// PART ID.
    PartId,
    /// SAVE.
    Save,
    /// OPTION.
    Option,
    /// RESTORE.
    Restore,
    /// DRIVE SPECIFICATION.
    DriveSpecification,
    /// FORMAT AND WRITE (0xCD): decoded with 10 parameters, answered as invalid.
    FormatAndWrite,
    /// Every opcode QEMU does not decode: 1 result byte 0x80, no IRQ.
    Invalid,
}

impl Command {
    /// Decodes an opcode byte.
    pub const fn decode(op: u8) -> Command {
        // Order matters: the first matching (mask, value) pair wins, as in QEMU's list.
        if op & 0x1f == 0x06 {
            Command::ReadData
        } else if op & 0x3f == 0x05 {
            Command::WriteData
        } else if op == 0x0f {
            Command::Seek
        } else if op == 0x08 {
            Command::SenseInterruptStatus
        } else if op == 0x07 {
            Command::Recalibrate
        } else if op & 0xbf == 0x0d {
            Command::FormatTrack
        } else if op & 0xbf == 0x02 {
            Command::ReadTrack
        } else if op == 0x4e {
            Command::Restore
        } else if op == 0x2e {
            Command::Save
        } else if op & 0x1f == 0x0c {
            Command::ReadDeleted
        } else if op & 0x1f == 0x11 {
            Command::ScanEqual
        } else if op & 0x1f == 0x16 {
            Command::Verify
        } else if op & 0x1f == 0x19 {
            Command::ScanLowOrEqual
        } else if op & 0x1f == 0x1d {
            Command::ScanHighOrEqual
        } else if op & 0x3f == 0x09 {
            Command::WriteDeleted
        } else if op & 0xbf == 0x0a {
            Command::ReadId
        } else if op == 0x03 {
            Command::Specify
        } else if op == 0x04 {
            Command::SenseDriveStatus
        } else if op == 0x12 {
            Command::PerpendicularMode
        } else if op == 0x13 {
            Command::Configure
        } else if op == 0x17 {
            Command::PowerdownMode
        } else if op == 0x33 {
            Command::Option
        } else if op == 0x8e {
            Command::DriveSpecification
        } else if op == 0x8f {
            Command::RelativeSeekOut
        } else if op == 0xcd {
            Command::FormatAndWrite
        } else if op == 0xcf {
            Command::RelativeSeekIn
        } else if op & 0x7f == 0x14 {
            Command::Lock
        } else if op == 0x0e {
            Command::Dumpreg
        } else if op == 0x10 {
            Command::Version
        } else if op == 0x18 {
            Command::PartId
        } else if op & 0x1f == 0x05 {
            // The "BeOS" WRITE alias (SK bit set).
            Command::WriteData
        } else {
            Command::Invalid
        }
    }

    /// Number of parameter bytes following the opcode.
    pub const fn parameters(self) -> u32 {
        match self {
            Command::ReadData
            | Command::WriteData
            | Command::ReadTrack
            | Command::ReadDeleted
            | Command::WriteDeleted
            | Command::Verify
            | Command::ScanEqual
            | Command::ScanLowOrEqual
            | Command::ScanHighOrEqual => 8,
            Command::FormatTrack => 5,
            Command::ReadId | Command::Recalibrate | Command::SenseDriveStatus => 1,
            Command::PerpendicularMode | Command::Option => 1,
            Command::Specify | Command::Seek | Command::RelativeSeekOut => 2,
            Command::RelativeSeekIn | Command::PowerdownMode => 2,
            Command::Configure => 3,
            Command::Restore => 17,
            Command::DriveSpecification => 5,
            Command::FormatAndWrite => 10,
            Command::SenseInterruptStatus
            | Command::Dumpreg
            | Command::Version
            | Command::Lock
            | Command::PartId
            | Command::Save
            | Command::Invalid => 0,
        }
    }

    /// The transfer direction of a data command, `None` for the others.
    pub const fn direction(self) -> Option<Direction> {
        match self {
            Command::ReadData | Command::ReadTrack | Command::ReadDeleted => Some(Direction::Read),
            Command::WriteData | Command::WriteDeleted => Some(Direction::Write),
            Command::Verify => Some(Direction::Verify),
            Command::ScanEqual => Some(Direction::ScanEqual),
            Command::ScanLowOrEqual => Some(Direction::ScanLow),
            Command::ScanHighOrEqual => Some(Direction::ScanHigh),
            _ => None,
        }
    }

    /// A stable upper-case name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Command::ReadData => "READ DATA",
            Command::WriteData => "WRITE DATA",
            Command::ReadTrack => "READ TRACK",
            Command::ReadDeleted => "READ DELETED DATA",
            Command::WriteDeleted => "WRITE DELETED DATA",
            Command::Verify => "VERIFY",
            Command::ScanEqual => "SCAN EQUAL",
            Command::ScanLowOrEqual => "SCAN LOW OR EQUAL",
            Command::ScanHighOrEqual => "SCAN HIGH OR EQUAL",
            Command::FormatTrack => "FORMAT TRACK",
            Command::ReadId => "READ ID",
            Command::Recalibrate => "RECALIBRATE",
            Command::SenseInterruptStatus => "SENSE INTERRUPT STATUS",
            Command::Specify => "SPECIFY",
            Command::SenseDriveStatus => "SENSE DRIVE STATUS",
            Command::Seek => "SEEK",
            Command::RelativeSeekOut => "RELATIVE SEEK OUT",
            Command::RelativeSeekIn => "RELATIVE SEEK IN",
            Command::Dumpreg => "DUMPREG",
            Command::Version => "VERSION",
            Command::PerpendicularMode => "PERPENDICULAR MODE",
            Command::Configure => "CONFIGURE",
            Command::Lock => "LOCK",
            Command::PowerdownMode => "POWERDOWN MODE",
            Command::PartId => "PART ID",
            Command::Save => "SAVE",
            Command::Option => "OPTION",
            Command::Restore => "RESTORE",
            Command::DriveSpecification => "DRIVE SPECIFICATION",
            Command::FormatAndWrite => "FORMAT AND WRITE",
            Command::Invalid => "INVALID",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The complete decode table of QEMU's `handlers[]`, opcode by opcode.
    #[test]
    fn decode_table_matches_the_spec() {
        let table: &[(Command, &[u8])] = &[
            (
                Command::ReadData,
                &[0x06, 0x26, 0x46, 0x66, 0x86, 0xA6, 0xC6, 0xE6],
            ),
            (
                Command::WriteData,
                &[0x05, 0x45, 0x85, 0xC5, 0x25, 0x65, 0xA5, 0xE5],
            ),
            (Command::ReadTrack, &[0x02, 0x42]),
            (
                Command::ReadDeleted,
                &[0x0C, 0x2C, 0x4C, 0x6C, 0x8C, 0xAC, 0xCC, 0xEC],
            ),
            (Command::WriteDeleted, &[0x09, 0x49, 0x89, 0xC9]),
            (
                Command::Verify,
                &[0x16, 0x36, 0x56, 0x76, 0x96, 0xB6, 0xD6, 0xF6],
            ),
            (
                Command::ScanEqual,
                &[0x11, 0x31, 0x51, 0x71, 0x91, 0xB1, 0xD1, 0xF1],
            ),
            (
                Command::ScanLowOrEqual,
                &[0x19, 0x39, 0x59, 0x79, 0x99, 0xB9, 0xD9, 0xF9],
            ),
            (
                Command::ScanHighOrEqual,
                &[0x1D, 0x3D, 0x5D, 0x7D, 0x9D, 0xBD, 0xDD, 0xFD],
            ),
            (Command::FormatTrack, &[0x0D, 0x4D]),
            (Command::ReadId, &[0x0A, 0x4A]),
            (Command::Recalibrate, &[0x07]),
            (Command::SenseInterruptStatus, &[0x08]),
            (Command::Specify, &[0x03]),
            (Command::SenseDriveStatus, &[0x04]),
            (Command::Seek, &[0x0F]),
            (Command::RelativeSeekOut, &[0x8F]),
            (Command::RelativeSeekIn, &[0xCF]),
            (Command::Dumpreg, &[0x0E]),
            (Command::Version, &[0x10]),
            (Command::PerpendicularMode, &[0x12]),
            (Command::Configure, &[0x13]),
            (Command::Lock, &[0x14, 0x94]),
            (Command::PowerdownMode, &[0x17]),
            (Command::PartId, &[0x18]),
            (Command::Save, &[0x2E]),
            (Command::Option, &[0x33]),
            (Command::Restore, &[0x4E]),
            (Command::DriveSpecification, &[0x8E]),
            (Command::FormatAndWrite, &[0xCD]),
        ];
        let mut seen = [false; 256];
        for (cmd, ops) in table {
            for &op in *ops {
                assert_eq!(Command::decode(op), *cmd, "opcode {op:#04x}");
                seen[op as usize] = true;
            }
        }
        let invalid = (0..=255u8)
            .filter(|&op| !seen[op as usize])
            .collect::<Vec<_>>();
        assert_eq!(invalid.len(), 170, "170 opcodes are invalid");
        for op in invalid {
            assert_eq!(Command::decode(op), Command::Invalid, "opcode {op:#04x}");
        }
    }
}
