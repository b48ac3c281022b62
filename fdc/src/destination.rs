//! What a QEMU 7.2 destination does with a stream that lacks a subsection: the model of
//! "the destination without subsection S", for the what-if analysis and for checking the
//! model against real QEMU loading an edited stream.
//!
//! QEMU's rules, from `vmstate_load_state` / `vmstate_subsection_load` and the fdc's
//! callbacks (`fdc_pre_load`, `fdc_post_load`, `fdrive_post_load`):
//! - the destination is a freshly realized device after a machine reset (`fdctrl_realize_common`,
//!   `floppy_drive_realize` with `fd_init` and `fd_revalidate`, then `fdctrl_reset` without
//!   interrupt, as the ISA device's reset handler does);
//! - `vmstate_load_state` overwrites every field of the section and of each subsection it
//!   finds; a field of an **absent** subsection is not touched, so it keeps the value the
//!   destination's own fresh device has;
//! - the one exception is `phase`: `fdc_pre_load` sets it to 0 (RECONSTRUCT) before the
//!   fields are read and `fdc_post_load` replaces a 0 by `reconstruct_phase(msr)`, so a
//!   missing `fdc/phase` means "derived from the migrated MSR";
//! - a timer travels only inside `fdc/result_timer`; without it the destination's READ ID
//!   timer stays unarmed (fresh) and the command never completes by itself;
//! - `fdrive_post_load` runs `fd_revalidate`, which recomputes `ro` but does not pick the
//!   geometry again for a medium validated at realize: `media_rate` stays the rate of the
//!   destination's own medium unless `fdrive/media_rate` overwrote it.
//!
//! Each of these was checked on real QEMU 7.2 with edited streams
//! (`replay/tests/stream_destination.rs`).
//!
//! [`Fdc::from_state_unchecked`] applies exactly these rules to an [`FdcState`] whose
//! absent subsections are `None`; [`without`] makes such a state from a complete one.

use crate::controller::Fdc;
use crate::drive::DriveConfig;
use crate::migration::{FdcState, LoadError, Subsection};
use crate::phase::reconstruct_phase;
use crate::profile::Profile;
use crate::registers::dor;

/// Removes subsection `sub` from `state`: from drive `drive` only, or (`None`) from every
/// drive; `drive` is ignored for the controller's subsections. This is the state a
/// destination receives from a stream edited with the subsection dropped.
pub fn without(state: &FdcState, sub: Subsection, drive: Option<usize>) -> FdcState {
    let mut s = state.clone();
    for (i, d) in s.drives.iter_mut().enumerate() {
        if drive.is_some_and(|want| want != i) {
            continue;
        }
        match sub {
            Subsection::MediaChanged => d.media_changed = None,
            Subsection::MediaRate => d.media_rate = None,
            Subsection::Perpendicular => d.perpendicular = None,
            _ => {}
        }
    }
    match sub {
        Subsection::ResetSensei => s.reset_sensei = None,
        Subsection::ResultTimer => s.result_timer = None,
        Subsection::Phase => s.phase = None,
        _ => {}
    }
    s
}

/// What a destination's field holds after loading a stream without its subsection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationValue {
    /// The fresh device's value (the field is not touched by the load).
    Fresh(i64),
    /// The READ ID timer stays unarmed.
    TimerIdle,
    /// `fdc_post_load` derives the phase from the migrated MSR (`reconstruct_phase`).
    Reconstructed(u8),
}

/// One subsection's destination default, with the QEMU behaviour it reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationDefault {
    /// The subsection.
    pub subsection: Subsection,
    /// The drive, for the `fdrive/*` subsections.
    pub drive: Option<usize>,
    /// What the destination holds.
    pub value: DestinationValue,
    /// Why, in QEMU's terms.
    pub why: &'static str,
}

/// The destination default of `sub` (for drive `drive` of the `fdrive/*` ones) on a
/// destination started with drives `drive0`/`drive1`, receiving a stream whose controller
/// had MSR `msr`. Derived from a freshly built model device, i.e. from what QEMU's realize
/// and reset leave in it:
/// - `fdc/reset_sensei`: 0 (`fdctrl_reset(fdctrl, 0)` clears it and raises nothing);
/// - `fdc/result_timer`: not armed;
/// - `fdc/phase`: `reconstruct_phase(msr)`;
/// - `fdrive/media_changed`: 1 (`fd_init`; a drive with a medium reports DSKCHG until a
///   seek clears it);
/// - `fdrive/media_rate`: the rate `fd_revalidate` picked for the destination's own medium
///   (0 for an empty or absent drive);
/// - `fdrive/perpendicular`: 0 (`fd_init`).
pub fn destination_default(
    sub: Subsection,
    drive: usize,
    drive0: &DriveConfig,
    drive1: &DriveConfig,
    msr: u8,
) -> DestinationDefault {
    let fresh = Fdc::new(drive0.clone(), drive1.clone());
    let d = fresh.drive(drive & 1);
    let (drive, value, why) = match sub {
        Subsection::ResetSensei => (
            None,
            DestinationValue::Fresh(i64::from(fresh.reset_sensei())),
            "vmstate_load_state leaves reset_sensei as fdctrl_reset(fdctrl, 0) set it: 0",
        ),
        Subsection::ResultTimer => (
            None,
            DestinationValue::TimerIdle,
            "the result timer is only migrated by fdc/result_timer: it stays unarmed",
        ),
        Subsection::Phase => (
            None,
            DestinationValue::Reconstructed(reconstruct_phase(msr) as u8),
            "fdc_pre_load sets phase to 0 and fdc_post_load reconstructs it from MSR",
        ),
        Subsection::MediaChanged => (
            Some(drive & 1),
            DestinationValue::Fresh(i64::from(d.media_changed())),
            "fd_init sets media_changed to 1 and the load does not touch it",
        ),
        Subsection::MediaRate => (
            Some(drive & 1),
            DestinationValue::Fresh(i64::from(d.media_rate())),
            "fd_revalidate picked the rate of the destination's own medium at realize",
        ),
        Subsection::Perpendicular => (
            Some(drive & 1),
            DestinationValue::Fresh(i64::from(d.perpendicular())),
            "fd_init sets perpendicular to 0 and the load does not touch it",
        ),
    };
    DestinationDefault {
        subsection: sub,
        drive,
        value,
        why,
    }
}

/// The destination's default for every subsection `state` carries (one entry per drive
/// for the `fdrive/*` ones): what the destination would hold if that one were dropped.
pub fn destination_defaults(
    state: &FdcState,
    drive0: &DriveConfig,
    drive1: &DriveConfig,
) -> Vec<DestinationDefault> {
    let mut out = Vec::new();
    for sub in Subsection::ALL {
        let slots: &[usize] = if matches!(
            sub,
            Subsection::MediaChanged | Subsection::MediaRate | Subsection::Perpendicular
        ) {
            &[0, 1]
        } else {
            &[0]
        };
        for &i in slots {
            let present = match sub {
                Subsection::MediaChanged => state.drives[i].media_changed.is_some(),
                Subsection::MediaRate => state.drives[i].media_rate.is_some(),
                Subsection::Perpendicular => state.drives[i].perpendicular.is_some(),
                Subsection::ResetSensei => state.reset_sensei.is_some(),
                Subsection::ResultTimer => state.result_timer.is_some(),
                Subsection::Phase => state.phase.is_some(),
            };
            if present {
                out.push(destination_default(sub, i, drive0, drive1, state.msr));
            }
        }
    }
    out
}

/// The model of a QEMU 7.2 destination that loads `state` with the subsections in
/// `dropped` absent (each `(subsection, drive)`, drive `None` = all drives), started with
/// drives `drive0`/`drive1` at virtual time `now`: QEMU's own load rules only
/// ([`Fdc::from_state_unchecked`]), so a state QEMU aborts on later shows as
/// [`Fdc::fault`].
pub fn load_without(
    state: &FdcState,
    dropped: &[(Subsection, Option<usize>)],
    drive0: DriveConfig,
    drive1: DriveConfig,
    now: u64,
) -> Result<Fdc, LoadError> {
    let mut s = state.clone();
    for &(sub, drive) in dropped {
        s = without(&s, sub, drive);
    }
    Fdc::from_state_unchecked(&s, drive0, drive1, now)
}

/// The destination a migration of the running `src` produces when the subsections in
/// `dropped` are absent from the stream: `src`'s [`Fdc::state`] loaded with
/// [`load_without`] into a device started with `src`'s media ([`Fdc::destination_config`],
/// the same copy-on-write images), at `src`'s virtual time, with the i8257 channel 2 state
/// (request bit, mask, programmed count) carried over, since QEMU migrates the DMA
/// controller in its own section. The model's record of the last opcode accepted is
/// carried over too: it is bookkeeping, not device state (QEMU runs a command from
/// `fifo[0]`), and keeping it makes a destination that behaves like the source compare
/// equal to it.
pub fn migrate_without(
    src: &Fdc,
    dropped: &[(Subsection, Option<usize>)],
) -> Result<Fdc, LoadError> {
    let mut f = load_without(
        &src.state(),
        dropped,
        src.destination_config(0),
        src.destination_config(1),
        src.now,
    )?;
    f.dreq = src.dreq;
    f.dma_unmasked = src.dma_unmasked;
    f.dma_len = src.dma_len;
    f.opcode = src.opcode;
    Ok(f)
}

/// What a fresh destination device depends on, per drive slot: the kind of backend and
/// the medium's size and write protection (never its content).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotKey {
    Absent,
    Empty,
    Medium(u64, bool),
}

/// [`slot_key`] of `d`'s [`Fdc::destination_config`], without building it.
fn src_slot_key(d: &crate::drive::Drive) -> SlotKey {
    match (d.backend, &d.medium) {
        (crate::drive::Backend::Device, Some(m)) => SlotKey::Medium(m.sectors(), m.read_only()),
        (crate::drive::Backend::Device, None) => SlotKey::Empty,
        _ => SlotKey::Absent,
    }
}

fn slot_key(c: &DriveConfig) -> SlotKey {
    match c {
        DriveConfig::Absent => SlotKey::Absent,
        DriveConfig::Empty => SlotKey::Empty,
        DriveConfig::Medium(m) => SlotKey::Medium(m.sectors(), m.read_only()),
    }
}

/// [`migrate_without`] for many points of one replay: the freshly realized destination
/// device (the expensive part of a load) is kept while the source's drives keep media of
/// the same size and protection, since realize and reset depend on nothing else. The
/// result is exactly [`migrate_without`]'s.
///
/// The destination is a QEMU 7.2 device ([`Migrator::new`]) or one of another
/// implementation ([`Migrator::into_profile`]: a migration between versions).
#[derive(Clone, Debug, Default)]
pub struct Migrator {
    fresh: Option<([SlotKey; 2], Fdc)>,
    profile: Profile,
}

/// The fields one subsection carries (those of other subsections left at zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SubFields {
    reset_sensei: i32,
    result_timer: Option<u64>,
    /// Per drive: `media_changed`, `media_rate` or `perpendicular`.
    drives: [u8; 2],
}

impl SubFields {
    fn drive_field(d: &mut crate::drive::Drive, sub: Subsection) -> Option<&mut u8> {
        match sub {
            Subsection::MediaChanged => Some(&mut d.media_changed),
            Subsection::MediaRate => Some(&mut d.media_rate),
            Subsection::Perpendicular => Some(&mut d.perpendicular),
            _ => None,
        }
    }

    fn of_drive(d: &crate::drive::Drive, sub: Subsection) -> u8 {
        match sub {
            Subsection::MediaChanged => d.media_changed,
            Subsection::MediaRate => d.media_rate,
            Subsection::Perpendicular => d.perpendicular,
            _ => 0,
        }
    }

    fn of(f: &Fdc, sub: Subsection) -> SubFields {
        let drives = [0, 1].map(|k| SubFields::of_drive(&f.drives[k], sub));
        SubFields {
            reset_sensei: if sub == Subsection::ResetSensei {
                f.reset_sensei
            } else {
                0
            },
            result_timer: if sub == Subsection::ResultTimer {
                f.result_timer
            } else {
                None
            },
            drives,
        }
    }

    fn put(self, f: &mut Fdc, sub: Subsection) {
        match sub {
            Subsection::ResetSensei => f.reset_sensei = self.reset_sensei,
            Subsection::ResultTimer => f.result_timer = self.result_timer,
            _ => {
                for (d, v) in f.drives.iter_mut().zip(self.drives) {
                    if let Some(x) = SubFields::drive_field(d, sub) {
                        *x = v;
                    }
                }
            }
        }
    }
}

/// The fields of one subsection (both drives' for the `fdrive/*` ones) with given values:
/// putting it into a device gives another device's state but for that subsection. Made
/// by [`Migrator::fresh_patch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    sub: Subsection,
    fields: SubFields,
}

impl Patch {
    /// Whether `f` already holds the patch's values (putting it in changes nothing).
    pub fn holds_in(&self, f: &Fdc) -> bool {
        SubFields::of(f, self.sub) == self.fields
    }

    /// Sets the patch's fields of `f`.
    pub fn put(&self, f: &mut Fdc) {
        self.fields.put(f, self.sub);
    }

    /// For an `fdrive/*` patch: drive `k`'s value becomes `f`'s (nothing otherwise).
    pub fn take_drive(&mut self, k: usize, f: &Fdc) {
        if let (Some(v), Some(d)) = (self.fields.drives.get_mut(k), f.drives.get(k)) {
            *v = SubFields::of_drive(d, self.sub);
        }
    }

    /// Whether `candidate` equals `control` with this patch put in, decided without a
    /// copy: the patch must hold in `candidate` and the rest must equal `control`.
    /// `candidate` is changed during the comparison and given back unchanged.
    pub fn equals_patched(&self, candidate: &mut Fdc, control: &Fdc) -> bool {
        if !self.holds_in(candidate) {
            return false;
        }
        SubFields::of(control, self.sub).put(candidate, self.sub);
        let same = *candidate == *control;
        self.fields.put(candidate, self.sub);
        same
    }
}

impl Migrator {
    /// A migrator to QEMU 7.2 destinations, with nothing cached.
    pub fn new() -> Migrator {
        Migrator::default()
    }

    /// A migrator whose destinations are devices of implementation `profile` (a stream
    /// carrying a subsection `profile` does not know is refused, as
    /// [`Fdc::load_as`] refuses it).
    pub fn into_profile(profile: Profile) -> Migrator {
        Migrator {
            fresh: None,
            profile,
        }
    }

    /// The destinations' implementation.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Exactly `migrate_without(src, dropped)`.
    pub fn migrate_without(
        &mut self,
        src: &Fdc,
        dropped: &[(Subsection, Option<usize>)],
    ) -> Result<Fdc, LoadError> {
        if dropped.is_empty() && src.profile() == self.profile && self.lossless_but_dor(src) {
            // Everything comes back but DOR's select bit (see `Migrator::lossless`); only
            // within one implementation (a migration between versions is loaded).
            let mut f = src.clone();
            let dor_vmstate = src.dor | src.cur_drv;
            f.cur_drv = dor_vmstate & dor::SEL;
            f.dor = dor_vmstate & !dor::SEL;
            return Ok(f);
        }
        let configs = [src.destination_config(0), src.destination_config(1)];
        let mut f = self.fresh_for(&configs).clone();
        // The media themselves (content included) are the source's.
        for (d, c) in f.drives.iter_mut().zip(configs) {
            if let DriveConfig::Medium(m) = c {
                d.medium = Some(m);
            }
        }
        let mut state = src.state();
        for &(sub, drive) in dropped {
            state = without(&state, sub, drive);
        }
        f.now = src.now;
        f.overwrite_migrated_fields(&state)?;
        for d in f.drives.iter_mut() {
            d.revalidate();
        }
        f.dreq = src.dreq;
        f.dma_unmasked = src.dma_unmasked;
        f.dma_len = src.dma_len;
        f.opcode = src.opcode;
        Ok(f)
    }

    /// The fresh destination device for drives `configs` (cached).
    fn fresh_for(&mut self, configs: &[DriveConfig; 2]) -> &Fdc {
        let key = [slot_key(&configs[0]), slot_key(&configs[1])];
        if self.fresh.as_ref().is_none_or(|(k, _)| *k != key) {
            let [c0, c1] = configs.clone();
            self.fresh = Some((key, Fdc::with_profile(c0, c1, self.profile)));
        }
        match &self.fresh {
            Some((_, f)) => f,
            None => unreachable!("set above"),
        }
    }

    /// Whether `migrate_without(src, &[])` equals `src`, decided without loading: QEMU's
    /// load restores every migrated field exactly except the drive-select bit stored in
    /// DOR (`fdc_pre_save` folds `cur_drv` into it and `fdc_post_load` clears it); an
    /// absent subsection gives the fresh device's value, which is the source's own when
    /// its `needed()` is false (`fdrive/media_changed` of a drive without backend is the
    /// exception); what is not migrated comes from the fresh device: the drives'
    /// backends and geometry, and the transient flags (a pending DREQ handshake, a
    /// running DMA, an indeterminate outcome, a fault).
    ///
    /// A destination of another implementation (a migration between versions) loads the
    /// same fields, derives the same phase (the source sends `fdc/phase` only when its
    /// phase is not the one MSR implies, and such a stream reaches no destination without
    /// the field), and keeps its fresh values for what the source's implementation does not
    /// migrate at all (QEMU 2.3: `reset_sensei`, the READ ID timer, `perpendicular`): the
    /// load gives the source back only if those are the fresh values too.
    pub fn lossless(&mut self, src: &Fdc) -> bool {
        src.dor & dor::SEL == 0 && self.lossless_but_dor(src)
    }

    /// [`Migrator::lossless`] but for DOR's drive-select bit: the load gives `src` back
    /// except that `dor | cur_drv` is split into `cur_drv` (bit 0) and `dor` (the rest).
    fn lossless_but_dor(&mut self, src: &Fdc) -> bool {
        let from = src.profile();
        let unmigrated_fresh = (from.knows(Subsection::ResetSensei) || src.reset_sensei == 0)
            && (from.knows(Subsection::ResultTimer) || src.result_timer.is_none())
            && (from.knows(Subsection::Perpendicular)
                || src.drives.iter().all(|d| d.perpendicular == 0));
        let simple = unmigrated_fresh
            && !src.dreq_asserted
            && !src.in_dma_run
            && !src.indeterminate
            && src.fault.is_none()
            && src
                .result_timer
                .is_none_or(|t| t <= crate::controller::MAX_CLOCK_NS);
        if !simple {
            return false;
        }
        let key = [0, 1].map(|k| src_slot_key(&src.drives[k]));
        if self.fresh.as_ref().is_none_or(|(k, _)| *k != key) {
            self.fresh_for(&[src.destination_config(0), src.destination_config(1)]);
        }
        let Some((_, fresh)) = self.fresh.as_ref() else {
            return false;
        };
        src.drives.iter().zip(fresh.drives.iter()).all(|(s, f)| {
            // The fresh drive without its medium (no reference count to move), then the
            // source's medium: what the load leaves in the slot.
            let mut d = f.clone_without_medium();
            d.medium.clone_from(&s.medium);
            d.head = s.head;
            d.track = s.track;
            d.sect = s.sect;
            if s.has_backend() && s.media_changed != 1 {
                d.media_changed = s.media_changed;
            }
            d.media_rate = s.media_rate;
            d.perpendicular = s.perpendicular;
            d.revalidate();
            d == *s
        })
    }

    /// `migrate_without(src, [(sub, None)])` from `control`, the destination that received
    /// every subsection (`self.migrate_without(src, &[])`, the last call on this migrator):
    /// QEMU's load treats each subsection's fields on their own (present: the stream's
    /// value; absent: the fresh device's), so dropping `sub` gives `control` with `sub`'s
    /// fields set to the fresh device's values. `None` for `fdc/phase`, whose absence
    /// also changes what the load derives from MSR (use [`Migrator::migrate_without`]).
    pub fn patch_without(&self, control: &Fdc, sub: Subsection) -> Option<Fdc> {
        let p = self.fresh_patch(sub)?;
        let mut f = control.clone();
        p.put(&mut f);
        Some(f)
    }

    /// Whether `candidate` equals `patch_without(control, sub)`, decided without building
    /// it (a destination that would join a fork already running costs no copy of the
    /// device): see [`Patch::equals_patched`]. `false` for `fdc/phase` (see
    /// [`Migrator::patch_without`]).
    pub fn equals_patched(&self, candidate: &mut Fdc, control: &Fdc, sub: Subsection) -> bool {
        self.fresh_patch(sub)
            .is_some_and(|p| p.equals_patched(candidate, control))
    }

    /// What dropping `sub` does to the destination that received every subsection: its
    /// fields set to the fresh device's values ([`Migrator::patch_without`] is `control`
    /// with this patch put in). `None` for `fdc/phase` and before the first load.
    pub fn fresh_patch(&self, sub: Subsection) -> Option<Patch> {
        let (_, fresh) = self.fresh.as_ref()?;
        (sub != Subsection::Phase).then(|| Patch {
            sub,
            fields: SubFields::of(fresh, sub),
        })
    }

    /// Whether dropping `fdrive/media_rate` leaves `control` unchanged: both drives'
    /// rates equal the fresh device's (see [`Migrator::patch_without`]).
    pub fn media_rate_is_fresh(&self, control: &Fdc) -> bool {
        self.fresh.as_ref().is_some_and(|(_, fresh)| {
            (0..2).all(|k| control.drives[k].media_rate == fresh.drives[k].media_rate)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Medium;

    fn drives() -> (DriveConfig, DriveConfig) {
        (
            DriveConfig::Medium(Medium::blank(737_280, false)),
            DriveConfig::Absent,
        )
    }

    #[test]
    fn dropped_fields_take_the_fresh_devices_values() {
        let (d0, d1) = drives();
        let mut state = Fdc::new(d0.clone(), d1.clone()).state();
        state.reset_sensei = Some(3);
        state.result_timer = Some(123_456);
        state.drives[0].media_changed = Some(0);
        state.drives[0].perpendicular = Some(1);
        state.phase = Some(2);
        let defaults = destination_defaults(&state, &d0, &d1);
        assert_eq!(defaults.len(), 7, "{defaults:?}");
        for def in &defaults {
            let f = load_without(
                &state,
                &[(def.subsection, def.drive)],
                d0.clone(),
                d1.clone(),
                0,
            )
            .unwrap();
            let slot = def.drive.unwrap_or(0);
            let got = match def.subsection {
                Subsection::ResetSensei => DestinationValue::Fresh(f.reset_sensei().into()),
                Subsection::ResultTimer => match f.result_timer() {
                    None => DestinationValue::TimerIdle,
                    Some(t) => DestinationValue::Fresh(t as i64),
                },
                Subsection::Phase => DestinationValue::Reconstructed(f.phase_byte()),
                Subsection::MediaChanged => {
                    DestinationValue::Fresh(f.drive(slot).media_changed().into())
                }
                Subsection::MediaRate => DestinationValue::Fresh(f.drive(slot).media_rate().into()),
                Subsection::Perpendicular => {
                    DestinationValue::Fresh(f.drive(slot).perpendicular().into())
                }
            };
            assert_eq!(got, def.value, "{def:?}");
        }
        let rate = destination_default(Subsection::MediaRate, 0, &d0, &d1, 0x80);
        assert_eq!(
            rate.value,
            DestinationValue::Fresh(2),
            "720 KB media: 250 kb/s"
        );
        let phase = destination_default(Subsection::Phase, 0, &d0, &d1, 0x10);
        assert_eq!(phase.value, DestinationValue::Reconstructed(2));
        assert_eq!(without(&state, Subsection::Perpendicular, Some(1)), state);
    }
}
