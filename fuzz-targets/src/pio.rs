//! `fdc_pio`: port I/O on a PC with the floppy controller, with invariants checked after
//! every operation and "migrate now" compared against the source.

use fdc::drive::Backend;
use fdc::ops::Op;
use fdc::{wire, Fdc, FdcState, PcFloppy, Subsection};

use crate::ops::{configs, decode_input};

/// The QEMU migration semantics that make a destination legitimately differ from its
/// source (FINDINGS.md "Known migration differences"). A divergence after a migration is
/// accepted only when one of these was armed by that migration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KnownDifferences {
    /// (1) `cur_drv` is rebuilt from DOR bit 0 and the DOR select bit is cleared on load:
    /// armed when the source's DOR has bit 0 set or its `cur_drv` differs from the
    /// destination's.
    pub cur_drv_from_dor: bool,
    /// (2) per-drive geometry (FORMAT TRACK's SC, RESTORE's last_sect) is not migrated:
    /// armed per slot when the destination recomputed a different geometry.
    pub geometry: [bool; 2],
    /// (3) a placeholder backend attached to an unconfigured slot exists on the source only.
    pub placeholder: [bool; 2],
    /// (4) the destination resolved a different drive type from its starting medium:
    /// armed per slot when the types differ, effective after a later media insert.
    pub drive_type: [bool; 2],
}

impl KnownDifferences {
    fn between(src: &Fdc, dst: &Fdc) -> KnownDifferences {
        let slot = |f: &dyn Fn(usize) -> bool| [f(0), f(1)];
        KnownDifferences {
            cur_drv_from_dor: src.dor() & 1 != 0 || src.cur_drv() != dst.cur_drv(),
            geometry: slot(&|i| src.drive(i).geometry() != dst.drive(i).geometry()),
            placeholder: slot(&|i| src.drive(i).backend() == Backend::Placeholder),
            drive_type: slot(&|i| src.drive(i).drive_type() != dst.drive(i).drive_type()),
        }
    }

    /// Whether a divergence can be explained, given the media inserts since the migration.
    fn explains(&self, inserted: [bool; 2]) -> bool {
        // The placeholder (3) is recorded but explains no port-level divergence: the
        // only register that shows it, SRA (nDRV2), is at 0x3F0, which the ISA FDC does
        // not decode; it shows in the saved state only (see `migrate`).
        self.cur_drv_from_dor
            || self.geometry.iter().any(|&g| g)
            || (0..2).any(|i| self.drive_type[i] && inserted[i])
    }
}

/// A migrated copy running beside its source.
struct Twin {
    pc: PcFloppy,
    known: KnownDifferences,
    inserted: [bool; 2],
    migrated_at: usize,
}

/// Migrations carried out per input (they cost ~100 ops each); later ones are no-ops.
pub const MAX_MIGRATIONS: usize = 3;

/// Virtual time the harness never advances past: i64::MAX minus a year of headroom for
/// the READ ID timer (QEMU's clock is a signed 64-bit count of ns).
pub const MAX_NOW: u64 = i64::MAX as u64 - 365 * 24 * 3600 * 1_000_000_000;

/// `op` with an advance shortened so that the clock stays at most [`MAX_NOW`].
pub fn in_clock_domain(op: Op, f: &Fdc) -> Op {
    match op {
        Op::Advance { ns } => Op::Advance {
            ns: ns.min(MAX_NOW.saturating_sub(f.now())),
        },
        op => op,
    }
}

/// What a run did (for tests and statistics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub ops: usize,
    pub migrations: usize,
    /// Divergences after a migration that a known difference explained:
    /// (step, migration step, differences armed).
    pub explained: Vec<(usize, usize, KnownDifferences)>,
    /// Every migration point, described as the prevalent-state report would see it.
    pub points: Vec<MigrationPoint>,
    /// Ops after which the model raised `take_indeterminate()`: a SCAN through a channel
    /// in verify mode, where QEMU compares uninitialised memory (FINDINGS.md). The model
    /// is deterministic there, so source and destination still must agree.
    pub indeterminate: usize,
}

/// A migration point: what QEMU would send, and whether a QEMU 2.3 destination would
/// take the stream (it knows only the two older `fdrive` subsections).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationPoint {
    pub step: usize,
    pub phase: &'static str,
    pub command: Option<&'static str>,
    pub subsections: Vec<&'static str>,
    pub qemu_2_3_accepts: bool,
}

impl MigrationPoint {
    fn of(f: &Fdc, step: usize) -> MigrationPoint {
        let needed = f.needed_subsections();
        MigrationPoint {
            step,
            phase: f.phase().map_or("invalid", |p| p.name()),
            command: f.command_in_progress().map(|c| c.name()),
            subsections: needed.names(),
            qemu_2_3_accepts: needed.iter().all(Subsection::known_to_qemu_2_3),
        }
    }
}

/// What a destination must show right after the load, register by register: QEMU
/// migrates each of these (the state equality in [`migrate`] compares the saved form;
/// this compares what the loaded device exposes, so that a field loaded into the wrong
/// place and saved back from it cannot hide). `cur_drv`/DOR and the drive geometry are
/// the known differences and are not compared.
fn check_loaded(src: &Fdc, dst: &Fdc, step: usize) {
    let regs = |f: &Fdc| {
        (
            f.msr(),
            f.dsr(),
            f.sra(),
            f.phase_byte(),
            f.data_pos(),
            f.data_len(),
            f.reset_sensei(),
            f.result_timer(),
            f.command(),
        )
    };
    assert_eq!(
        regs(src),
        regs(dst),
        "step {step}: FINDING: the loaded destination's registers differ from its source's"
    );
    assert!(
        src.fifo() == dst.fifo(),
        "step {step}: FINDING: the loaded destination's FIFO differs from its source's"
    );
    for i in 0..2 {
        let drive = |f: &Fdc| {
            let d = f.drive(i);
            (
                d.position(),
                d.media_rate(),
                d.perpendicular(),
                d.read_only(),
                d.medium().is_some(),
            )
        };
        assert_eq!(
            drive(src),
            drive(dst),
            "step {step}: FINDING: drive {i} of the loaded destination differs from its source's"
        );
        // media_changed survives only where QEMU sends it: a slot with a backend.
        if dst.drive(i).has_backend() {
            assert_eq!(
                src.drive(i).media_changed(),
                dst.drive(i).media_changed(),
                "step {step}: FINDING: drive {i}'s media_changed was not carried over"
            );
        }
    }
}

/// Checks the invariants every state reached by port I/O keeps.
pub fn check(f: &Fdc, who: &str, step: usize, op: &Op) {
    if let Some(fault) = f.fault() {
        panic!("{who} step {step} {op:?}: port I/O reached a state QEMU aborts on: {fault:?}");
    }
    if let Err(e) = f.check_invariants() {
        panic!("{who} step {step} {op:?}: phase/MSR invariant broken: {e}");
    }
    if f.phase_needed() {
        panic!(
            "{who} step {step} {op:?}: FINDING: fdc/phase subsection needed after port I/O alone: phase {:?} (byte {}) vs reconstructed {:?}, msr {:#04x}",
            f.phase(),
            f.phase_byte(),
            f.reconstructed_phase(),
            f.msr()
        );
    }
    if f.irq() != (f.sra() & 0x80 != 0) {
        panic!(
            "{who} step {step} {op:?}: IRQ {} but SRA {:#04x}",
            f.irq(),
            f.sra()
        );
    }
}

/// Saves the state, checks both codecs round-trip it, and loads it into a destination the
/// way QEMU would be started for it. Panics if a reachable state is refused.
pub fn migrate(pc: &PcFloppy, step: usize) -> PcFloppy {
    let f = &pc.fdc;
    let state = f.state();
    let wire_bytes = wire::encode(&state);
    let (from_wire, _) = wire::decode(&wire_bytes)
        .unwrap_or_else(|e| panic!("step {step}: wire decode of our own encoding failed: {e}"));
    assert_eq!(
        from_wire, state,
        "step {step}: wire format round trip changed the state"
    );
    let from_mp = FdcState::from_msgpack(&state.to_msgpack())
        .unwrap_or_else(|e| panic!("step {step}: msgpack decode of our own encoding failed: {e}"));
    assert_eq!(
        from_mp, state,
        "step {step}: msgpack round trip changed the state"
    );
    assert_eq!(
        state.subsections(),
        f.needed_subsections(),
        "step {step}: state() carries other subsections than needed_subsections()"
    );
    let dst = Fdc::from_state(
        &from_wire,
        f.destination_config(0),
        f.destination_config(1),
        f.now(),
    )
    .unwrap_or_else(|e| {
        panic!("step {step}: FINDING: a state reached by port I/O was refused on load: {e}")
    });
    check_loaded(f, &dst, step);
    // Known difference (3): a placeholder backend exists only on the source, so the
    // `fdrive/media_changed` subsection of that slot (sent only for a slot with a backend)
    // may be absent from what the destination would send.
    let mut expected = state.clone();
    let mut saved = dst.state();
    for i in 0..2 {
        if f.drive(i).backend() == Backend::Placeholder && dst.drive(i).backend() == Backend::None {
            expected.drives[i].media_changed = None;
            saved.drives[i].media_changed = None;
        }
    }
    assert_eq!(
        saved, expected,
        "step {step}: a loaded state saves differently"
    );
    let mut dst = PcFloppy {
        fdc: dst,
        dma: pc.dma.clone(),
        memory: pc.memory.clone(),
    };
    // The i8257's request register is migrated with the DMA controller, not the FDC.
    dst.fdc.set_dma_request(f.dreq());
    dst
}

/// Runs one `fdc_pio` input. Panics with a clear message on any broken invariant.
pub fn run(data: &[u8]) -> Report {
    let Some(&cfg) = data.first() else {
        return Report::default();
    };
    let (d0, d1) = configs(cfg);
    let mut pc = PcFloppy::new(Fdc::new(d0, d1));
    let mut twin: Option<Twin> = None;
    let mut report = Report::default();
    let mut step = 0usize;
    check(&pc.fdc, "source", 0, &Op::Migrate);
    decode_input(data, |op| {
        step += 1;
        report.ops += 1;
        if op == Op::Migrate {
            if report.migrations == MAX_MIGRATIONS {
                return;
            }
            report.migrations += 1;
            report.points.push(MigrationPoint::of(&pc.fdc, step));
            if let Some(t) = &twin {
                // The destination's state is reachable too: it must migrate as well.
                let _ = migrate(&t.pc, step);
            }
            let dst = migrate(&pc, step);
            let known = KnownDifferences::between(&pc.fdc, &dst.fdc);
            twin = Some(Twin {
                pc: dst,
                known,
                inserted: [false; 2],
                migrated_at: step,
            });
            return;
        }
        // QEMU's virtual clock is an int64 of ns: keep the model's clock in that domain
        // (FINDINGS.md "clock beyond i64::MAX"); past it `state()` clamps the READ ID
        // timer and a destination would fire it early.
        let op = in_clock_domain(op, &pc.fdc);
        let a = crate::ops::apply(&mut pc, &op);
        check(&pc.fdc, "source", step, &op);
        if pc.fdc.take_indeterminate() {
            report.indeterminate += 1;
        }
        if let Some(t) = &mut twin {
            let b = crate::ops::apply(&mut t.pc, &op);
            check(&t.pc.fdc, "destination", step, &op);
            t.pc.fdc.take_indeterminate();
            if let Op::Insert { drive, .. } = op {
                t.inserted[(drive & 1) as usize] = true;
            }
            let (irq_a, irq_b) = (pc.fdc.irq(), t.pc.fdc.irq());
            if a != b || irq_a != irq_b {
                if t.known.explains(t.inserted) {
                    report.explained.push((step, t.migrated_at, t.known));
                    twin = None;
                } else {
                    panic!(
                        "step {step} {op:?}: FINDING: destination (migrated at step {}) diverged from source: source {a:?} irq {irq_a}, destination {b:?} irq {irq_b}; no known migration difference armed ({:?})",
                        t.migrated_at, t.known
                    );
                }
            }
        }
    });
    if let Some(t) = &twin {
        // Every read agreed since the migration; with no known difference armed, what the
        // two sides wrote by DMA must agree too: guest memory and both diskettes.
        if !t.known.explains(t.inserted) {
            if t.pc.memory != pc.memory {
                panic!(
                    "FINDING: destination (migrated at step {}) wrote different guest memory than its source, every read having agreed",
                    t.migrated_at
                );
            }
            for i in 0..2 {
                if t.pc.fdc.drive(i).medium() != pc.fdc.drive(i).medium() {
                    panic!(
                        "FINDING: destination (migrated at step {}) left different content on the diskette in drive {i} than its source, every read having agreed",
                        t.migrated_at
                    );
                }
            }
        }
    }
    report
}
