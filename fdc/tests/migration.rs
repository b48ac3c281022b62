//! The strict loader: its refusals of states QEMU would accept but cannot run, and the
//! post-load rules it applies (QEMU's `fdc_post_load`, `fdrive_post_load`). The wire
//! format's own tests sit next to it (`fdc/src/wire.rs`).
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::migration::{FdcState, LoadError};
use fdc::{DriveConfig, Fdc, Medium, Phase};

fn fresh() -> Fdc {
    Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
    )
}

fn base_state() -> FdcState {
    fresh().state()
}

fn load(s: &FdcState) -> Result<Fdc, LoadError> {
    Fdc::from_state(
        s,
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
        0,
    )
}

#[test]
fn strict_loader_refuses_what_qemu_cannot_run() {
    let ok = base_state();
    assert!(load(&ok).is_ok());
    let mut s = ok.clone();
    s.num_floppies = 3;
    assert_eq!(load(&s).err(), Some(LoadError::NumFloppies(3)));
    // H1: phase byte out of range.
    let mut s = ok.clone();
    s.phase = Some(7);
    assert_eq!(load(&s).err(), Some(LoadError::PhaseOutOfRange(7)));
    // H2: command phase with RQM|DIO.
    let mut s = ok.clone();
    s.msr = 0xC0;
    s.phase = Some(1);
    assert!(matches!(
        load(&s),
        Err(LoadError::PhaseMsrMismatch {
            phase: Phase::Command,
            ..
        })
    ));
    // H4: execution phase with RQM and no NONDMA.
    let mut s = ok.clone();
    s.msr = 0x90;
    s.phase = Some(2);
    assert!(matches!(
        load(&s),
        Err(LoadError::PhaseMsrMismatch {
            phase: Phase::Execution,
            ..
        })
    ));
    // H6: a QEMU 2.3 READ ID in flight: MSR 0x90, data_pos == data_len == 2, no phase
    // subsection, reconstructed as COMMAND.
    let mut s = ok.clone();
    s.msr = 0x90;
    s.fifo[0] = 0x0A;
    s.data_pos = 2;
    s.data_len = 2;
    assert!(matches!(
        load(&s),
        Err(LoadError::DataPosition {
            phase: Phase::Command,
            ..
        })
    ));
    // ...but QEMU's own rules accept it, and writing on then hits its assertion at 512.
    let mut f = Fdc::from_state_unchecked(&s, DriveConfig::Empty, DriveConfig::Absent, 0).unwrap();
    assert_eq!(f.phase(), Some(Phase::Command));
    for _ in 0..600 {
        f.write(5, 0xAA);
    }
    assert_eq!(f.fault(), Some(fdc::Fault::CommandOverrun));
    // H7: FORMAT bit.
    let mut s = ok.clone();
    s.data_state = 2;
    assert_eq!(load(&s).err(), Some(LoadError::DataState(2)));
    // H9: reset_sensei outside 0..=4.
    let mut s = ok.clone();
    s.reset_sensei = Some(-5);
    assert_eq!(load(&s).err(), Some(LoadError::ResetSensei(-5)));
    let mut s = ok.clone();
    s.data_dir = 9;
    assert_eq!(load(&s).err(), Some(LoadError::DataDir(9)));
    let mut s = ok.clone();
    s.drives[0].media_rate = Some(4);
    assert!(matches!(
        load(&s),
        Err(LoadError::MediaRate { drive: 0, rate: 4 })
    ));
}

#[test]
fn load_applies_qemu_post_load() {
    // cur_drv comes back from DOR bit 0, whatever a later command selected (QEMU's
    // `fdc_post_load`).
    let mut f = Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
    );
    f.write(2, 0x1D); // DOR: drive 1 selected, running, DMA
    for b in [0x04, 0x00] {
        f.write(5, b); // SENSE DRIVE STATUS drive 0 -> cur_drv 0
    }
    assert_eq!(f.cur_drv(), 0);
    let s = f.state();
    assert_eq!(s.dor_vmstate & 1, 1);
    let g = Fdc::from_state(
        &s,
        f.destination_config(0),
        f.destination_config(1),
        f.now(),
    )
    .unwrap();
    assert_eq!(g.cur_drv(), 1, "the destination acts on drive 1");
    assert_eq!(g.state(), s, "yet the state it would send on is the same");
    // Phase reconstruction when the subsection is absent.
    assert_eq!(g.phase(), Some(Phase::Result));
    assert!(s.phase.is_none());
}
