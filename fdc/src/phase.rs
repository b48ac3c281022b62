//! The explicit controller phase QEMU gained in 2.4, and `reconstruct_phase`, the frozen
//! function that derives a phase from MSR alone (what a QEMU 2.3 stream "meant").

use crate::registers::msr;
use serde::{Deserialize, Serialize};

/// The controller phase (QEMU `FD_PHASE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// The host writes an opcode and its parameters.
    Command = 1,
    /// A command runs: DMA wait, PIO data, READ ID wait, or one of QEMU's stuck states.
    Execution = 2,
    /// The host reads result bytes.
    Result = 3,
}

impl Phase {
    /// The byte QEMU stores and migrates in the `fdc/phase` subsection.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// Decodes a migrated phase byte. 0 means "reconstruct" and is handled by the loader;
    /// every other value outside 1..=3 is one QEMU accepts but aborts on later.
    pub fn from_byte(byte: u8) -> Option<Phase> {
        match byte {
            1 => Some(Phase::Command),
            2 => Some(Phase::Execution),
            3 => Some(Phase::Result),
            _ => None,
        }
    }

    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Command => "command",
            Phase::Execution => "execution",
            Phase::Result => "result",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// QEMU's `reconstruct_phase()`: part of the migration ABI and never to change.
///
/// QEMU 2.3 had no phase variable; its phase was implied by MSR: NONDMA means a PIO
/// execution phase, RQM clear means a DMA execution phase, RQM with DIO means the result
/// phase, RQM alone the command phase. CMDBUSY and the drive-busy bits are ignored.
#[allow(clippy::if_same_then_else)] // one branch per row of the frozen table
pub fn reconstruct_phase(msr_value: u8) -> Phase {
    if msr_value & msr::NONDMA != 0 {
        Phase::Execution
    } else if msr_value & msr::RQM == 0 {
        Phase::Execution
    } else if msr_value & msr::DIO != 0 {
        Phase::Result
    } else {
        Phase::Command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The four rows of the decision table, checked on every MSR byte.
    #[test]
    fn reconstruct_matches_the_table_for_all_msr_values() {
        for m in 0..=255u8 {
            let expected = if m & 0x20 != 0 || m & 0x80 == 0 {
                Phase::Execution
            } else if m & 0x40 != 0 {
                Phase::Result
            } else {
                Phase::Command
            };
            assert_eq!(reconstruct_phase(m), expected, "msr {m:#04x}");
        }
        assert_eq!(reconstruct_phase(0x80), Phase::Command);
        assert_eq!(reconstruct_phase(0x90), Phase::Command);
        assert_eq!(reconstruct_phase(0xD0), Phase::Result);
        assert_eq!(reconstruct_phase(0x10), Phase::Execution);
        assert_eq!(reconstruct_phase(0xF0), Phase::Execution);
        assert_eq!(reconstruct_phase(0x30), Phase::Execution);
    }

    #[test]
    fn phase_bytes_round_trip() {
        for p in [Phase::Command, Phase::Execution, Phase::Result] {
            assert_eq!(Phase::from_byte(p.to_byte()), Some(p));
        }
        assert_eq!(Phase::from_byte(0), None);
        assert_eq!(Phase::from_byte(4), None);
    }
}
