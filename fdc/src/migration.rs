//! The migration state: exactly the fields of QEMU's `fdc` v2 section plus its optional
//! subsections, `state()` with QEMU's pre_save and `needed()` rules, and `from_state()`
//! with its pre_load/post_load semantics and the validation QEMU lacks.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::commands::{Command, Direction};
use crate::controller::{data_state, Fdc, FIFO_LEN, RESET_SENSEI_COUNT};
use crate::drive::DriveConfig;
use crate::phase::{reconstruct_phase, Phase};
use crate::registers::{dor, msr};

/// A migration subsection of the floppy controller, as QEMU names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Subsection {
    /// `fdc/phase`: sent when `reconstruct_phase(msr) != phase`.
    Phase,
    /// `fdc/reset_sensei`: sent while reset SENSE INTERRUPT answers are pending.
    ResetSensei,
    /// `fdc/result_timer`: sent while the READ ID timer is armed.
    ResultTimer,
    /// `fdrive/media_changed`: sent when a drive with a backend has DSKCHG clear.
    MediaChanged,
    /// `fdrive/media_rate`: always sent.
    MediaRate,
    /// `fdrive/perpendicular`: sent when a drive's perpendicular mode is non-zero.
    Perpendicular,
}

impl Subsection {
    /// All six, `fdc/phase` first (the order reports use).
    pub const ALL: [Subsection; 6] = [
        Subsection::Phase,
        Subsection::ResetSensei,
        Subsection::ResultTimer,
        Subsection::MediaChanged,
        Subsection::MediaRate,
        Subsection::Perpendicular,
    ];

    /// The name exactly as QEMU spells it in the stream.
    pub const fn name(self) -> &'static str {
        match self {
            Subsection::Phase => "fdc/phase",
            Subsection::ResetSensei => "fdc/reset_sensei",
            Subsection::ResultTimer => "fdc/result_timer",
            Subsection::MediaChanged => "fdrive/media_changed",
            Subsection::MediaRate => "fdrive/media_rate",
            Subsection::Perpendicular => "fdrive/perpendicular",
        }
    }

    /// The subsection QEMU names `name`.
    pub fn from_name(name: &str) -> Option<Subsection> {
        Subsection::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Bit used in [`SubsectionSet`].
    const fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether a QEMU 2.3 destination knows this subsection (only the two `fdrive` ones
    /// older than the 2015 rework).
    pub const fn known_to_qemu_2_3(self) -> bool {
        matches!(self, Subsection::MediaChanged | Subsection::MediaRate)
    }
}

/// A set of subsection kinds (either drive counts for the `fdrive/*` ones).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct SubsectionSet(u8);

impl SubsectionSet {
    /// Adds `s`.
    pub fn insert(&mut self, s: Subsection) {
        self.0 |= s.bit();
    }
    /// Whether `s` is in the set.
    pub fn contains(self, s: Subsection) -> bool {
        self.0 & s.bit() != 0
    }
    /// The subsections in the set, in [`Subsection::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Subsection> {
        Subsection::ALL
            .into_iter()
            .filter(move |s| self.contains(*s))
    }
    /// Their names, in [`Subsection::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Subsection::name).collect()
    }
    /// The set as bits (bit `s as u8` for subsection `s`).
    pub fn bits(self) -> u8 {
        self.0
    }
}

/// One `fdrive` (version 1) record and its subsections (`None` = not sent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FdriveState {
    /// Current head.
    pub head: u8,
    /// Current track.
    pub track: u8,
    /// Current sector.
    pub sect: u8,
    /// `fdrive/media_changed`: the disk-change latch.
    pub media_changed: Option<u8>,
    /// `fdrive/media_rate`: the medium's data rate code.
    pub media_rate: Option<u8>,
    /// `fdrive/perpendicular`: perpendicular-mode bits.
    pub perpendicular: Option<u8>,
}

/// QEMU's `fdc` section (version 2), field for field, with its subsections.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FdcState {
    /// Status Register A.
    pub sra: u8,
    /// Status Register B.
    pub srb: u8,
    /// DOR with `cur_drv` folded into bit 0 (QEMU's pre_save).
    pub dor_vmstate: u8,
    /// Tape Drive Register.
    pub tdr: u8,
    /// Data-rate Select Register.
    pub dsr: u8,
    /// Main Status Register.
    pub msr: u8,
    /// ST0 of the last command.
    pub status0: u8,
    /// ST1 of the last command.
    pub status1: u8,
    /// ST2 of the last command.
    pub status2: u8,
    /// The FIFO buffer.
    #[serde(with = "fifo_bytes")]
    pub fifo: [u8; FIFO_LEN],
    /// Position in the current phase's data.
    pub data_pos: u32,
    /// Length of the current phase's data.
    pub data_len: u32,
    /// Transfer state bits (MULTI, FORMAT).
    pub data_state: u8,
    /// Transfer direction (`Direction as u8`).
    pub data_dir: u8,
    /// End of track of the current transfer.
    pub eot: u8,
    /// SPECIFY step rate / head unload.
    pub timer0: u8,
    /// SPECIFY head load / non-DMA bit.
    pub timer1: u8,
    /// CONFIGURE precompensation track.
    pub precomp_trk: u8,
    /// CONFIGURE flags.
    pub config: u8,
    /// LOCK state.
    pub lock: u8,
    /// POWERDOWN MODE value.
    pub pwrd: u8,
    /// Number of drive records (always 2).
    pub num_floppies: u8,
    /// The two `fdrive` records.
    pub drives: [FdriveState; 2],
    /// `fdc/reset_sensei`.
    pub reset_sensei: Option<i32>,
    /// `fdc/result_timer`: absolute virtual-clock expiry in ns (-1 = not armed).
    pub result_timer: Option<i64>,
    /// `fdc/phase`.
    pub phase: Option<u8>,
}

mod fifo_bytes {
    use super::FIFO_LEN;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; FIFO_LEN], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; FIFO_LEN], D::Error> {
        let v: serde_bytes_compat::Bytes = Deserialize::deserialize(d)?;
        let got = v.0.len();
        v.0.try_into()
            .map_err(|_| D::Error::custom(format!("fifo must hold {FIFO_LEN} bytes, got {got}")))
    }

    /// Accepts both a msgpack bin and an array of integers.
    mod serde_bytes_compat {
        use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
        pub struct Bytes(pub Vec<u8>);
        impl<'de> Deserialize<'de> for Bytes {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Bytes;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("512 bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                        Ok(Bytes(v.to_vec()))
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Bytes, A::Error> {
                        let mut out = Vec::new();
                        while let Some(b) = a.next_element::<u8>()? {
                            if out.len() > super::super::FIFO_LEN {
                                break;
                            }
                            out.push(b);
                        }
                        Ok(Bytes(out))
                    }
                }
                d.deserialize_any(V)
            }
        }
    }
}

/// Why a state was refused. Each variant says whether real QEMU 7.2 would have accepted it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LoadError {
    /// `num_floppies` is not 2.
    #[error("num_floppies is {0}, must be 2 (QEMU refuses this too)")]
    NumFloppies(u8),
    /// A phase byte outside 1..=3.
    #[error(
        "phase byte {0} is not 1..=3 (QEMU 7.2 accepts it and aborts on the next FIFO access)"
    )]
    PhaseOutOfRange(u8),
    /// Phase and MSR contradict each other.
    #[error("phase {phase} with MSR {msr:#04x} is inconsistent: {why} (QEMU 7.2 accepts it; {consequence})")]
    PhaseMsrMismatch {
        /// The phase.
        phase: Phase,
        /// The MSR.
        msr: u8,
        /// What contradicts.
        why: &'static str,
        /// What QEMU then does.
        consequence: &'static str,
    },
    /// `data_pos`/`data_len` impossible in the phase.
    #[error("data_pos {data_pos} / data_len {data_len} impossible in the {phase} phase (QEMU 7.2 accepts it; {consequence})")]
    DataPosition {
        /// The phase.
        phase: Phase,
        /// `data_pos`.
        data_pos: u32,
        /// `data_len`.
        data_len: u32,
        /// What QEMU then does.
        consequence: &'static str,
    },
    /// A `data_dir` byte that is no direction.
    #[error("data_dir {0} is not a transfer direction 0..=5 (QEMU 7.2 accepts it and runs a scan compare)")]
    DataDir(u8),
    /// `data_state` bits other than MULTI.
    #[error("data_state {0:#04x} has bits other than MULTI; FORMAT is set only while FORMAT TRACK runs (QEMU 7.2 accepts it and runs its format-sector routine on the next command)")]
    DataState(u8),
    /// A `reset_sensei` count outside 0..=4.
    #[error("reset_sensei {0} outside 0..=4 (QEMU 7.2 accepts it; SENSE INTERRUPT then answers ST0 values no reset produces)")]
    ResetSensei(i32),
    /// A negative READ ID deadline other than -1.
    #[error("result_timer {0} is negative but not -1 (QEMU 7.2 accepts it as already expired)")]
    ResultTimer(i64),
    /// A drive's `media_rate` that is no rate code.
    #[error("drive {drive}: media_rate {rate} is not a rate code 0..=3 (QEMU 7.2 accepts it; every transfer then fails the rate check)")]
    MediaRate {
        /// The drive.
        drive: usize,
        /// The rate byte.
        rate: u8,
    },
    /// A drive's perpendicular bits above 15.
    #[error("drive {drive}: perpendicular {value} above 15 (QEMU 7.2 accepts it; DUMPREG then reports shifted-out bits)")]
    Perpendicular {
        /// The drive.
        drive: usize,
        /// The perpendicular byte.
        value: u8,
    },
    /// The stream carries a subsection the destination's implementation does not know
    /// (QEMU refuses such a stream: "subsection not found").
    #[error("subsection {} is unknown to {profile} (QEMU refuses the stream)", subsection.name())]
    UnknownSubsection {
        /// The subsection.
        subsection: Subsection,
        /// The destination's implementation.
        profile: crate::profile::Profile,
    },
    /// MSR drive-busy bits set.
    #[error("MSR {0:#04x} has drive-busy bits set, which QEMU never sets (QEMU 7.2 accepts it)")]
    DriveBusy(u8),
}

impl Fdc {
    /// Which subsections QEMU would send for the current state, evaluating each `needed()`
    /// exactly as QEMU 7.2 does.
    pub fn needed_subsections(&self) -> SubsectionSet {
        let mut set = SubsectionSet::default();
        if self.phase_needed() {
            set.insert(Subsection::Phase);
        }
        if self.reset_sensei_needed() {
            set.insert(Subsection::ResetSensei);
        }
        if self.result_timer_needed() {
            set.insert(Subsection::ResultTimer);
        }
        for d in &self.drives {
            if d.has_backend() && d.media_changed != 1 {
                set.insert(Subsection::MediaChanged);
            }
            set.insert(Subsection::MediaRate);
            if self.perpendicular_needed(d.perpendicular) {
                set.insert(Subsection::Perpendicular);
            }
        }
        set
    }

    /// `fdc_phase_needed`: the explicit phase differs from what MSR reconstructs. Always
    /// false for a profile without the phase field (QEMU 2.3 has no `fdc/phase`).
    pub fn phase_needed(&self) -> bool {
        self.profile.0.has_phase_field() && reconstruct_phase(self.msr) as u8 != self.phase
    }

    fn reset_sensei_needed(&self) -> bool {
        self.profile.0.knows(Subsection::ResetSensei) && self.reset_sensei != 0
    }

    fn result_timer_needed(&self) -> bool {
        self.profile.0.knows(Subsection::ResultTimer) && self.result_timer.is_some()
    }

    fn perpendicular_needed(&self, value: u8) -> bool {
        self.profile.0.knows(Subsection::Perpendicular) && value != 0
    }

    /// The migration state QEMU would write now (pre_save folds `cur_drv` into DOR; each
    /// subsection present iff its `needed()` holds).
    pub fn state(&self) -> FdcState {
        let drive = |i: usize| {
            let d = &self.drives[i];
            FdriveState {
                head: d.head,
                track: d.track,
                sect: d.sect,
                media_changed: (d.has_backend() && d.media_changed != 1).then_some(d.media_changed),
                media_rate: Some(d.media_rate),
                perpendicular: self
                    .perpendicular_needed(d.perpendicular)
                    .then_some(d.perpendicular),
            }
        };
        FdcState {
            sra: self.sra,
            srb: self.srb,
            dor_vmstate: self.dor | self.cur_drv,
            tdr: self.tdr,
            dsr: self.dsr,
            msr: self.msr,
            status0: self.status0,
            status1: self.status1,
            status2: self.status2,
            fifo: self.fifo,
            data_pos: self.data_pos,
            data_len: self.data_len,
            data_state: self.data_state,
            data_dir: self.data_dir,
            eot: self.eot,
            timer0: self.timer0,
            timer1: self.timer1,
            precomp_trk: self.precomp_trk,
            config: self.config,
            lock: self.lock,
            pwrd: self.pwrd,
            num_floppies: 2,
            drives: [drive(0), drive(1)],
            reset_sensei: self.reset_sensei_needed().then_some(self.reset_sensei),
            result_timer: self
                .result_timer
                .filter(|_| self.result_timer_needed())
                .map(|t| t.min(crate::controller::MAX_CLOCK_NS) as i64),
            phase: self.phase_needed().then_some(self.phase),
        }
    }

    /// Loads `state` into a fresh destination built with the same drive configuration,
    /// at virtual time `now`, after validating it.
    ///
    /// QEMU validates almost nothing on load; this refuses every state the current code
    /// cannot reach by itself and that would make it abort or misbehave. Use
    /// [`Fdc::from_state_unchecked`] to load exactly what QEMU would accept.
    pub fn from_state(
        state: &FdcState,
        drive0: DriveConfig,
        drive1: DriveConfig,
        now: u64,
    ) -> Result<Fdc, LoadError> {
        state.validate()?;
        let fdc = Fdc::from_state_unchecked(state, drive0, drive1, now)?;
        fdc.check_invariants()?;
        Ok(fdc)
    }

    /// Loads `state` with QEMU's own rules only (num_floppies must be 2). The model never
    /// panics on the result; a state QEMU would abort on ends in [`Fdc::fault`].
    pub fn from_state_unchecked(
        state: &FdcState,
        drive0: DriveConfig,
        drive1: DriveConfig,
        now: u64,
    ) -> Result<Fdc, LoadError> {
        Fdc::load_as(crate::profile::Profile::Qemu72, state, drive0, drive1, now)
    }

    /// [`Fdc::from_state_unchecked`] into a destination of implementation `profile`: a
    /// stream carrying a subsection `profile` does not know is refused
    /// ([`LoadError::UnknownSubsection`]), the rest follows the same load rules (QEMU 2.3
    /// had no phase logic at load, and derives its phase from the loaded MSR anyway).
    pub fn load_as(
        profile: crate::profile::Profile,
        state: &FdcState,
        drive0: DriveConfig,
        drive1: DriveConfig,
        now: u64,
    ) -> Result<Fdc, LoadError> {
        let mut f = Fdc::with_profile(drive0, drive1, profile);
        f.now = now;
        f.overwrite_migrated_fields(state)?;
        // Each fdrive's post_load: fd_revalidate.
        for d in f.drives.iter_mut() {
            d.revalidate();
        }
        Ok(f)
    }

    /// Overwrites everything the `fdc` section carries with `state`, with QEMU's pre_load
    /// and post_load rules (absent subsections keep this device's values, `cur_drv` from
    /// DOR bit 0, phase reconstruction), but without revalidating the drives: the result
    /// is what a source holding `state` looks like, e.g. to re-synchronise a model with
    /// a running QEMU. Drive backends, media and geometry stay as they are.
    pub fn overwrite_migrated_fields(&mut self, state: &FdcState) -> Result<(), LoadError> {
        if state.num_floppies != 2 {
            return Err(LoadError::NumFloppies(state.num_floppies));
        }
        let profile = self.profile.0;
        if let Some(s) = state.subsections().iter().find(|s| !profile.knows(*s)) {
            return Err(LoadError::UnknownSubsection {
                subsection: s,
                profile,
            });
        }
        let f = self;
        // pre_load: phase = RECONSTRUCT.
        f.phase = 0;
        f.sra = state.sra;
        f.srb = state.srb;
        f.dor = state.dor_vmstate;
        f.tdr = state.tdr;
        f.dsr = state.dsr;
        f.msr = state.msr;
        f.status0 = state.status0;
        f.status1 = state.status1;
        f.status2 = state.status2;
        f.fifo = state.fifo;
        f.data_pos = state.data_pos;
        f.data_len = state.data_len;
        f.data_state = state.data_state;
        f.data_dir = state.data_dir;
        f.eot = state.eot;
        f.timer0 = state.timer0;
        f.timer1 = state.timer1;
        f.precomp_trk = state.precomp_trk;
        f.config = state.config;
        f.lock = state.lock;
        f.pwrd = state.pwrd;
        for (d, s) in f.drives.iter_mut().zip(state.drives.iter()) {
            d.head = s.head;
            d.track = s.track;
            d.sect = s.sect;
            if let Some(v) = s.media_changed {
                d.media_changed = v;
            }
            if let Some(v) = s.media_rate {
                d.media_rate = v;
            }
            if let Some(v) = s.perpendicular {
                d.perpendicular = v;
            }
        }
        if let Some(v) = state.reset_sensei {
            f.reset_sensei = v;
        }
        if let Some(t) = state.result_timer {
            f.result_timer = if t == -1 { None } else { Some(t.max(0) as u64) };
        }
        if let Some(p) = state.phase {
            f.phase = p;
        }
        // Not migrated: the opcode survives only in fifo[0] while parameters are written.
        f.opcode = (f.data_pos > 0
            && state.phase.unwrap_or(0) <= 1
            && reconstruct_phase(f.msr) == Phase::Command)
            .then_some(f.fifo[0]);
        // post_load: cur_drv from DOR bit 0, then phase reconstruction if absent.
        f.cur_drv = state.dor_vmstate & dor::SEL;
        f.dor = state.dor_vmstate & !dor::SEL;
        if f.phase == 0 {
            f.phase = reconstruct_phase(f.msr) as u8;
        }
        f.sync_phase();
        Ok(())
    }

    /// Consistency of the controller: the relations between phase, MSR and the FIFO
    /// counters that the current code keeps in every state it reaches by itself
    /// (`fdctrl_set_fifo`, `fdctrl_to_command_phase`, `fdctrl_to_result_phase`).
    /// `from_state` refuses states that break them; fuzzers assert them.
    pub fn check_invariants(&self) -> Result<(), LoadError> {
        let Some(phase) = Phase::from_byte(self.phase) else {
            return Err(LoadError::PhaseOutOfRange(self.phase));
        };
        let m = self.msr;
        let mismatch = |why, consequence| {
            Err(LoadError::PhaseMsrMismatch {
                phase,
                msr: m,
                why,
                consequence,
            })
        };
        match phase {
            Phase::Command => {
                if m & msr::NONDMA != 0 {
                    return mismatch(
                        "NONDMA set in the command phase",
                        "the next FIFO write fails an assertion",
                    );
                }
                if m & (msr::RQM | msr::DIO) != msr::RQM {
                    return mismatch(
                        "the command phase needs RQM without DIO",
                        "a FIFO read aborts, or writes are refused forever",
                    );
                }
                let busy = m & msr::CMDBUSY != 0;
                if busy != (self.data_pos > 0) {
                    return mismatch(
                        "CMDBUSY must be set exactly after the opcode byte",
                        "a data command fails an assertion",
                    );
                }
                let expected_len = if self.data_pos == 0 {
                    1
                } else {
                    Command::decode(self.fifo[0]).parameters() + 1
                };
                if self.data_pos >= self.data_len || self.data_len != expected_len {
                    return Err(LoadError::DataPosition {
                        phase,
                        data_pos: self.data_pos,
                        data_len: self.data_len,
                        consequence: "FIFO writes run past the command (the 2.3 READ ID/DRIVE SPEC hazard) and abort at 512",
                    });
                }
            }
            Phase::Result => {
                if m & (msr::NONDMA | msr::RQM | msr::DIO | msr::CMDBUSY)
                    != (msr::RQM | msr::DIO | msr::CMDBUSY)
                {
                    return mismatch(
                        "the result phase needs CMDBUSY|RQM|DIO without NONDMA",
                        "a FIFO access aborts or the result is never readable",
                    );
                }
                if self.data_pos >= self.data_len || self.data_len > 15 {
                    return Err(LoadError::DataPosition {
                        phase,
                        data_pos: self.data_pos,
                        data_len: self.data_len,
                        consequence: "the result phase never ends",
                    });
                }
            }
            Phase::Execution => {
                if m & msr::NONDMA == 0 && m & msr::RQM != 0 {
                    return mismatch(
                        "RQM set in a non-PIO execution phase",
                        "the next FIFO access fails an assertion",
                    );
                }
                if m & msr::CMDBUSY == 0 {
                    return mismatch(
                        "CMDBUSY clear during execution",
                        "a data command fails an assertion",
                    );
                }
            }
        }
        if m & msr::DRV_BUSY != 0 {
            return Err(LoadError::DriveBusy(m));
        }
        Ok(())
    }
}

impl FdcState {
    /// Field checks that need no model (the ones `from_state` applies first).
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.num_floppies != 2 {
            return Err(LoadError::NumFloppies(self.num_floppies));
        }
        if let Some(p) = self.phase {
            if p > 3 {
                return Err(LoadError::PhaseOutOfRange(p));
            }
        }
        if Direction::from_byte(self.data_dir).is_none() {
            return Err(LoadError::DataDir(self.data_dir));
        }
        if self.data_state & !data_state::MULTI != 0 {
            return Err(LoadError::DataState(self.data_state));
        }
        if let Some(n) = self.reset_sensei {
            if !(0..=RESET_SENSEI_COUNT).contains(&n) {
                return Err(LoadError::ResetSensei(n));
            }
        }
        if let Some(t) = self.result_timer {
            if t < -1 {
                return Err(LoadError::ResultTimer(t));
            }
        }
        for (i, d) in self.drives.iter().enumerate() {
            if let Some(rate) = d.media_rate {
                if rate > 3 {
                    return Err(LoadError::MediaRate { drive: i, rate });
                }
            }
            if let Some(value) = d.perpendicular {
                if value > 15 {
                    return Err(LoadError::Perpendicular { drive: i, value });
                }
            }
        }
        Ok(())
    }

    /// The subsections this state carries.
    pub fn subsections(&self) -> SubsectionSet {
        let mut set = SubsectionSet::default();
        if self.phase.is_some() {
            set.insert(Subsection::Phase);
        }
        if self.reset_sensei.is_some() {
            set.insert(Subsection::ResetSensei);
        }
        if self.result_timer.is_some() {
            set.insert(Subsection::ResultTimer);
        }
        for d in &self.drives {
            if d.media_changed.is_some() {
                set.insert(Subsection::MediaChanged);
            }
            if d.media_rate.is_some() {
                set.insert(Subsection::MediaRate);
            }
            if d.perpendicular.is_some() {
                set.insert(Subsection::Perpendicular);
            }
        }
        set
    }

    /// MessagePack encoding (rmp-serde, named fields).
    pub fn to_msgpack(&self) -> Vec<u8> {
        // Serializing plain integers and byte arrays into a Vec cannot fail.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// Decodes MessagePack; field validation is left to [`Fdc::from_state`].
    pub fn from_msgpack(bytes: &[u8]) -> Result<FdcState, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}
