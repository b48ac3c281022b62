//! Implementation profiles: which QEMU floppy controller the model is.
//!
//! The model is one interpreter; a [`Profile`] chosen at construction
//! ([`crate::Fdc::with_profile`]) switches the few rules in which QEMU's implementations
//! differ. The default, [`Profile::Qemu72`], is QEMU 7.2 and is what every other part of
//! this crate describes.
//!
//! # What the profiles change
//!
//! | rule | `qemu-7.2` | `qemu-7.2-no-rqm-fix` | `qemu-2.3` |
//! |---|---|---|---|
//! | RQM cleared once the FIFO got the bytes the phase expects (the 2015 "Fix MSR.RQM flag") | yes | no | no |
//! | explicit phase field, dispatch and assertions on it | yes | yes | no: the phase is implied by MSR ([`crate::reconstruct_phase`]) |
//! | command phase entry sets RQM and `data_len = 1` | yes | yes | no (RQM is left as it is, `data_len` keeps its last value) |
//! | PIO start sets RQM | yes | yes | no (already set: 2.3 never cleared it in the command phase) |
//! | command-phase write with `data_pos >= 512` aborts | yes | yes | no (the index wraps modulo 512) |
//! | controller reset cancels the READ ID timer; a reset without interrupt zeroes `reset_sensei` | yes | yes | no |
//! | an unconfigured drive slot gets a placeholder backend when selected (the CVE-2021-20196 fix) | yes | yes | no (2.3 has no backend there, so never sends its `fdrive/media_changed`) |
//! | subsections `fdc/phase`, `fdc/reset_sensei`, `fdc/result_timer`, `fdrive/perpendicular` | sent when needed | sent when needed | unknown: never sent, a stream carrying one is refused |
//!
//! Without the RQM change, READ ID (until its timer fires) and a DRIVE SPECIFICATION whose
//! last byte lacks bit 7 leave MSR at 0x90 instead of 0x10, and a PIO write stuck after
//! its last byte (a failed sector write or the end of the track) shows 0xB0 instead of
//! 0x30. Under `qemu-7.2-no-rqm-fix` a FIFO write in those two 0x90 states reaches the
//! execution-phase branch without NONDMA, which QEMU 7.2 asserts against
//! ([`crate::Fault::ExecutionWithoutNonDma`]): that is today's code with the change
//! undone, not a version QEMU shipped.
//!
//! # QEMU 2.3: what is not modelled, and why it does not change the figures
//!
//! `qemu-2.3` is QEMU 2.3 with the VENOM fix (2.3.1): without it, the two 0x90 states
//! above let the guest write past the 512-byte FIFO (the `bug-venom` canary feature models
//! that overrun for 7.2). Left out:
//! - the sun4m (SPARC) variant's quirks (an interrupt raised while CMDBUSY is set, MSR
//!   reads): the model is the PC's ISA controller only;
//! - the DMA-mode check of `fdctrl_start_transfer` (a channel whose mode does not match the
//!   direction made 2.3 fall back to PIO): a recorded trace does not hold the i8257
//!   programming, the replay assumes a channel programmed for the transfer (see the
//!   replay's DMA inference), and the recorded guests program the channel before the
//!   command, so the check passes wherever a trace runs DMA;
//! - the `check_media_rate` property: on 2.3's own machine types it is on, as the rate
//!   check and `fdrive/media_rate` are on QEMU 7.2;
//! - everything else of the 2015 rework that does not touch MSR, the phase or the
//!   subsections (code moves, renames, debug output).

use crate::migration::Subsection;
use serde::{Deserialize, Serialize};

/// A QEMU floppy-controller implementation the model can be.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum Profile {
    /// QEMU 7.2 (the default).
    #[default]
    Qemu72,
    /// QEMU 7.2 with the 2015 "Fix MSR.RQM flag" change undone: RQM stays set after the
    /// last byte a phase expects.
    Qemu72NoRqmFix,
    /// QEMU 2.3 (with the VENOM fix): no phase field, 2.3's MSR rules, no `fdc/*` or
    /// `fdrive/perpendicular` subsections.
    Qemu23,
}

impl Profile {
    /// All profiles, the default first.
    pub const ALL: [Profile; 3] = [Profile::Qemu72, Profile::Qemu72NoRqmFix, Profile::Qemu23];

    /// The profile's name, as `--profile` and the reports spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Qemu72 => "qemu-7.2",
            Profile::Qemu72NoRqmFix => "qemu-7.2-no-rqm-fix",
            Profile::Qemu23 => "qemu-2.3",
        }
    }

    /// The profile named `name`.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the implementation has the explicit phase field (and so `fdc/phase`).
    pub const fn has_phase_field(self) -> bool {
        !matches!(self, Profile::Qemu23)
    }

    /// Whether the implementation has the rules QEMU changed after 2.3 (the 2015 rework
    /// and later fixes; every row of the table above but the RQM one and the
    /// subsections): command-phase entry sets RQM and `data_len`, PIO start sets RQM, the
    /// command-phase overrun assertion, reset cancelling the READ ID timer and zeroing
    /// `reset_sensei`, the placeholder backend.
    pub const fn after_2_3(self) -> bool {
        !matches!(self, Profile::Qemu23)
    }

    /// Whether RQM is cleared as soon as the FIFO received or delivered the bytes the
    /// current phase expects (the 2015 "Fix MSR.RQM flag" change).
    pub const fn clears_rqm_when_done(self) -> bool {
        matches!(self, Profile::Qemu72)
    }

    /// Whether the implementation knows (can send and load) subsection `s`.
    pub const fn knows(self, s: Subsection) -> bool {
        match self {
            Profile::Qemu23 => s.known_to_qemu_2_3(),
            Profile::Qemu72 | Profile::Qemu72NoRqmFix => true,
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The profile as a field of the device: it says which code runs, not what state the
/// device is in, so `==` on devices ignores it (a QEMU 2.3 and a QEMU 7.2 device in the
/// same state compare equal; a what-if that compares the two asks exactly that).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProfileField(pub(crate) Profile);

impl PartialEq for ProfileField {
    fn eq(&self, _other: &ProfileField) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DriveConfig, Fdc, Medium, Phase, READ_ID_DELAY_NS};

    const FIFO: u16 = 5;
    const MSR: u16 = 4;

    /// A controller of `profile` with a 1.44 MB medium in drive 0, motor on.
    fn fdc(profile: Profile) -> Fdc {
        let mut f = Fdc::with_profile(
            DriveConfig::Medium(Medium::blank(1_474_560, false)),
            DriveConfig::Absent,
            profile,
        );
        f.write(2, 0x1C);
        f
    }

    fn bytes(f: &mut Fdc, b: &[u8]) {
        for &v in b {
            f.write(FIFO, v);
        }
    }

    /// SPECIFY with the ND bit: data transfers by PIO.
    fn pio(f: &mut Fdc) {
        bytes(f, &[0x03, 0xDF, 0x03]);
    }

    /// The rows of the MSR table (state, QEMU 7.2 MSR, QEMU 2.3 MSR), each state reached
    /// by port I/O only.
    type Row = (&'static str, fn(&mut Fdc), u8, u8);

    fn rows() -> Vec<Row> {
        vec![
            ("idle", |_| {}, 0x80, 0x80),
            ("receiving parameters", |f| bytes(f, &[0x03]), 0x90, 0x90),
            ("READ ID wait", |f| bytes(f, &[0x4A, 0x00]), 0x10, 0x90),
            (
                "DRIVE SPECIFICATION without terminator",
                |f| bytes(f, &[0x8E, 0, 0, 0, 0, 0]),
                0x10,
                0x90,
            ),
            (
                "DMA execution",
                |f| bytes(f, &[0xE6, 0, 0, 0, 1, 2, 18, 0x1B, 0xFF]),
                0x10,
                0x10,
            ),
            (
                "PIO read execution",
                |f| {
                    pio(f);
                    bytes(f, &[0xE6, 0, 0, 0, 1, 2, 18, 0x1B, 0xFF]);
                },
                0xF0,
                0xF0,
            ),
            (
                "PIO write execution",
                |f| {
                    pio(f);
                    bytes(f, &[0xC5, 0, 0, 0, 1, 2, 18, 0x1B, 0xFF]);
                },
                0xB0,
                0xB0,
            ),
            (
                "PIO write stuck after the last byte (end of track)",
                |f| {
                    pio(f);
                    bytes(f, &[0x45, 0, 0, 0, 18, 2, 18, 0x1B, 0xFF]);
                    bytes(f, &[0xA5; 512]);
                },
                0x30,
                0xB0,
            ),
            ("result phase", |f| bytes(f, &[0x10]), 0xD0, 0xD0),
        ]
    }

    #[test]
    fn profiles_reproduce_the_msr_table() {
        for (name, reach, msr72, msr23) in rows() {
            for p in Profile::ALL {
                let mut f = fdc(p);
                reach(&mut f);
                let want = if p == Profile::Qemu72 { msr72 } else { msr23 };
                assert_eq!(f.read(MSR), want, "{p}: {name}");
                assert_eq!(f.fault(), None, "{p}: {name}");
                // QEMU 7.2 never needs fdc/phase; without the RQM change it does exactly in
                // the states whose MSR the change moved from 0x90 to 0x10; QEMU 2.3 has no
                // phase field, its phase is what MSR implies.
                let needed = p == Profile::Qemu72NoRqmFix && msr72 != msr23 && want == 0x90;
                assert_eq!(f.phase_needed(), needed, "{p}: {name}");
                if p == Profile::Qemu23 {
                    assert_eq!(f.phase(), Some(crate::reconstruct_phase(want)), "{name}");
                }
            }
        }
    }

    #[test]
    fn read_id_completes_under_every_profile_and_only_2_3_keeps_accepting_bytes() {
        for p in Profile::ALL {
            let mut f = fdc(p);
            bytes(&mut f, &[0x4A, 0x00]);
            // A further FIFO write: 7.2 ignores it (RQM clear); without the RQM change it
            // reaches the execution phase without NONDMA (QEMU asserts); 2.3 stores it as
            // one more "parameter".
            f.write(FIFO, 0x55);
            match p {
                Profile::Qemu72 => assert_eq!((f.fault(), f.data_pos()), (None, 2)),
                Profile::Qemu72NoRqmFix => {
                    assert_eq!(f.fault(), Some(crate::Fault::ExecutionWithoutNonDma));
                    continue;
                }
                Profile::Qemu23 => assert_eq!((f.fault(), f.data_pos()), (None, 3)),
            }
            f.advance_to(READ_ID_DELAY_NS);
            assert_eq!(f.read(MSR), 0xD0, "{p}");
            assert_eq!(f.phase(), Some(Phase::Result), "{p}");
            assert!(f.irq(), "{p}");
        }
    }

    #[test]
    fn qemu_2_3_sends_and_loads_only_what_it_knows() {
        let mut f = fdc(Profile::Qemu23);
        bytes(&mut f, &[0x12, 0x82]); // PERPENDICULAR MODE, drive 0 mode 2
        f.write(2, 0x18); // controller reset: reset SENSE INTERRUPTs pending
        f.write(2, 0x1C);
        bytes(&mut f, &[0x4A, 0x00]); // READ ID: timer armed
        assert_eq!(f.drive(0).perpendicular(), 2, "a reset keeps it");
        assert!(f.result_timer().is_some() && f.reset_sensei() != 0);
        assert!(!f.phase_needed());
        let state = f.state();
        // fdrive/media_changed: not sent while the latch is 1 (no seek yet).
        assert_eq!(state.subsections().names(), vec!["fdrive/media_rate"]);
        let mut s72 = Fdc::new(DriveConfig::Empty, DriveConfig::Absent).state();
        s72.reset_sensei = Some(2);
        let err = Fdc::load_as(
            Profile::Qemu23,
            &s72,
            DriveConfig::Empty,
            DriveConfig::Absent,
            0,
        );
        assert!(
            matches!(
                err,
                Err(crate::LoadError::UnknownSubsection {
                    subsection: Subsection::ResetSensei,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn names_round_trip_and_rules_differ_as_documented() {
        for p in Profile::ALL {
            assert_eq!(Profile::from_name(p.name()), Some(p));
        }
        assert_eq!(Profile::from_name("qemu-8.0"), None);
        assert!(Profile::Qemu72.clears_rqm_when_done());
        assert!(!Profile::Qemu72NoRqmFix.clears_rqm_when_done());
        assert!(!Profile::Qemu23.has_phase_field());
        let known23: Vec<Subsection> = Subsection::ALL
            .into_iter()
            .filter(|s| Profile::Qemu23.knows(*s))
            .collect();
        assert_eq!(
            known23,
            vec![Subsection::MediaChanged, Subsection::MediaRate]
        );
        assert!(Subsection::ALL
            .iter()
            .all(|s| Profile::Qemu72NoRqmFix.knows(*s)));
    }
}
