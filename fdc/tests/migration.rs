//! The migration state and QEMU's wire format, checked against the layout QEMU writes
//! (spec §6) and the loader rules of `vmstate_subsection_load`, and the strict loader's
//! refusals of states QEMU would accept but cannot run (spec §5.7).

use fdc::migration::{FdcState, LoadError, Subsection};
use fdc::{wire, DriveConfig, Fdc, Medium, Phase};

fn fresh() -> Fdc {
    Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
    )
}

fn base_state() -> FdcState {
    fresh().state()
}

#[test]
fn payload_layout_matches_qemu() {
    let mut s = base_state();
    s.drives[0].media_rate = None;
    s.drives[1].media_rate = None;
    // 9 u8 + 512 FIFO + 2 u32 + 10 u8 + 2 drives x 3 u8 = 545 bytes without subsections.
    assert_eq!(wire::encode(&s).len(), 545);
    let with = base_state();
    let bytes = wire::encode(&with);
    // Each media_rate record: 0x05, len 17, "fdrive/media_rate", be32 1, u8 value.
    assert_eq!(bytes.len(), 545 + 2 * (1 + 1 + 17 + 4 + 1));
    let rec = &bytes[9 + 512 + 8 + 10 + 3..][..24];
    assert_eq!(rec[0], 0x05);
    assert_eq!(rec[1], 17);
    assert_eq!(&rec[2..19], b"fdrive/media_rate");
    assert_eq!(&rec[19..23], &[0, 0, 0, 1]);
    assert_eq!(rec[23], 0);
    // Big-endian data_len: a fresh controller is in the command phase with data_len 1.
    assert_eq!(&bytes[9 + 512 + 4..9 + 512 + 8], &[0, 0, 0, 1]);
}

#[test]
fn subsections_round_trip_in_declaration_order() {
    let mut s = base_state();
    s.drives[0].media_changed = Some(0);
    s.drives[1].perpendicular = Some(3);
    s.reset_sensei = Some(4);
    s.result_timer = Some(20_000_960);
    s.phase = Some(2);
    let bytes = wire::encode(&s);
    let (back, order) = wire::decode(&bytes).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        order,
        vec![
            Subsection::MediaChanged,
            Subsection::MediaRate,
            Subsection::MediaRate,
            Subsection::Perpendicular,
            Subsection::ResetSensei,
            Subsection::ResultTimer,
            Subsection::Phase
        ]
    );
    assert_eq!(FdcState::from_msgpack(&s.to_msgpack()).unwrap(), s);
}

fn record(name: &str, version: u32, fields: &[u8]) -> Vec<u8> {
    let mut v = vec![0x05, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    v.extend_from_slice(fields);
    v
}

#[test]
fn loader_rules_of_vmstate_subsection_load() {
    let mut s = base_state();
    s.drives = Default::default();
    let plain = wire::encode(&s);
    // Unknown subsection name under the right prefix: an error.
    let mut bad = plain.clone();
    bad.extend(record("fdc/bogus", 1, &[0]));
    assert!(matches!(
        wire::decode(&bad),
        Err(wire::WireError::UnknownSubsection { .. })
    ));
    // Version other than 1: an error (only the low byte counts).
    let mut v2 = plain.clone();
    v2.extend(record("fdc/phase", 2, &[1]));
    assert!(matches!(
        wire::decode(&v2),
        Err(wire::WireError::BadVersion { .. })
    ));
    let mut v257 = plain.clone();
    v257.extend(record("fdc/phase", 257, &[1]));
    assert_eq!(wire::decode(&v257).unwrap().0.phase, Some(1));
    // A repeated subsection loads again: the last value wins.
    let mut rep = plain.clone();
    rep.extend(record("fdc/reset_sensei", 1, &[0, 0, 0, 3]));
    rep.extend(record("fdc/reset_sensei", 1, &[0, 0, 0, 2]));
    assert_eq!(wire::decode(&rep).unwrap().0.reset_sensei, Some(2));
    // A name without the parent's prefix ends the list (the section footer follows).
    let mut foot = plain.clone();
    foot.extend(record("timer", 1, &[]));
    let (_, _, used) = wire::decode_prefix(&foot).unwrap();
    assert_eq!(used, plain.len());
    // Truncation inside the fixed fields is an error naming the offset, never a panic.
    // (Later cuts can be valid: QEMU peeks for a record and, not finding a whole name,
    // reads the bytes as the next drive's fields; decode mirrors that.)
    let full = wire::encode(&base_state());
    for cut in 0..542 {
        assert!(wire::decode(&full[..cut]).is_err(), "cut at {cut}");
    }
    for cut in 542..full.len() {
        let _ = wire::decode(&full[..cut]);
    }
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
    // cur_drv comes back from DOR bit 0, whatever a later command selected (spec §6.5).
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

#[test]
fn guest_memory_crosses_pages_and_wraps() {
    let mut m = fdc::isa::GuestMemory::default();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    m.write(0x1F00, &data);
    let mut back = vec![0u8; 10_000];
    m.read(0x1F00, &mut back);
    assert_eq!(back, data);
    let mut edge = [0xAAu8; 4];
    m.read(0x1EFE, &mut edge);
    assert_eq!(edge, [0, 0, data[0], data[1]]);
    m.write(u64::MAX - 1, &[1, 2, 3]);
    let mut w = [0u8; 3];
    m.read(u64::MAX - 1, &mut w);
    assert_eq!(w, [1, 2, 3]);
}
