//! The known migration differences (QEMU semantics, FINDINGS.md): a minimal reproducer
//! of each, checked on the model through the `fdc_pio` harness (which must accept exactly
//! that divergence) and, when `FDC_FUZZ_QEMU=1` and QEMU is installed, on real QEMU: a
//! source QEMU runs the ops, migrates to a file, a destination QEMU started with
//! `-incoming` from it runs the remaining ops, and the reads must match the model's source
//! and destination read for read.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::ops::apply;
use fdc::ops::{Answer, Op};
use fdc::{DriveConfig, Fdc, Medium, PcFloppy};
use fdc_fuzz_targets::ops::{config_byte, encode};
use fdc_fuzz_targets::pio::{migrate, run};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};

fn out(port: u16, value: u8) -> Op {
    Op::Out { port, value }
}
fn inb(port: u16) -> Op {
    Op::In { port }
}
fn fifo(bytes: &[u8]) -> Vec<Op> {
    bytes.iter().map(|&b| out(0x3F5, b)).collect()
}
fn reads(n: usize) -> Vec<Op> {
    vec![inb(0x3F5); n]
}

struct Scenario {
    name: &'static str,
    d0: u8,
    d1: u8,
    before: Vec<Op>,
    after: Vec<Op>,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        // (1) DOR selects drive 1, then SEEK selects drive 0 (cur_drv = 0, DOR bit 0 = 1):
        // the destination rebuilds cur_drv = 1 from DOR bit 0. DIR reads the disk-change
        // latch of the current drive: drive 0's was cleared by the seek, drive 1's is set.
        Scenario {
            name: "cur_drv rebuilt from DOR bit 0",
            d0: 2,
            d1: 2,
            before: [
                vec![out(0x3F2, 0x1D)],
                fifo(&[0x0F, 0x00, 0x05]),
                fifo(&[0x08]),
                reads(2),
            ]
            .concat(),
            after: vec![inb(0x3F7), inb(0x3F2)],
        },
        // (2) FORMAT TRACK with SC = 9 on a 1.44 MB medium sets last_sect = 9; DUMPREG
        // reports it (byte 7): 9 on the source, 18 on the destination.
        Scenario {
            name: "FORMAT-changed geometry not migrated",
            d0: 2,
            d1: 0,
            before: [fifo(&[0x4D, 0x00, 0x02, 0x09, 0x1B, 0xF6]), reads(7)].concat(),
            after: [fifo(&[0x0E]), reads(10)].concat(),
        },
    ]
}

fn model_answers(s: &Scenario) -> (Vec<Answer>, Vec<Answer>) {
    let (d0, d1) = fdc_fuzz_targets::ops::configs(config_byte(s.d0, s.d1));
    let mut pc = PcFloppy::new(Fdc::new(d0, d1));
    for op in &s.before {
        fdc_fuzz_targets::ops::apply(&mut pc, op);
    }
    let mut dst = migrate(&pc, 0);
    let a = s
        .after
        .iter()
        .map(|op| fdc_fuzz_targets::ops::apply(&mut pc, op))
        .collect();
    let b = s
        .after
        .iter()
        .map(|op| fdc_fuzz_targets::ops::apply(&mut dst, op))
        .collect();
    (a, b)
}

#[test]
fn each_known_difference_diverges_and_is_accepted() {
    for s in scenarios() {
        let (a, b) = model_answers(&s);
        assert_ne!(a, b, "{}: no divergence in the model", s.name);
        let mut input = vec![config_byte(s.d0, s.d1)];
        input.extend(encode(&s.before));
        input.push(0x80);
        input.extend(encode(&s.after));
        let report = run(&input);
        assert_eq!(report.explained.len(), 1, "{}: {report:?}", s.name);
        println!(
            "{}: source {a:?}\n{}  destination {b:?}\n  armed {:?}",
            s.name,
            " ".repeat(s.name.len()),
            report.explained[0].2
        );
    }
}

/// (4) The destination resolves its drive type from the medium it starts with: a drive
/// created with a 720 KB medium that later got a 2.88 MB one has a different type than a
/// destination started with the 2.88 MB medium, which shows after the next media change.
#[test]
fn drive_type_resolved_from_the_starting_medium() {
    let mut found = None;
    'search: for first in 0..20u8 {
        for second in 0..20u8 {
            for third in 0..20u8 {
                let mut pc = PcFloppy::new(Fdc::new(
                    DriveConfig::Medium(Medium::blank(fdc::ops::medium_size(first), false)),
                    DriveConfig::Absent,
                ));
                fdc_fuzz_targets::ops::apply(
                    &mut pc,
                    &Op::Insert {
                        drive: 0,
                        size: second,
                        read_only: false,
                    },
                );
                let mut dst = migrate(&pc, 0);
                let differs = pc.fdc.drive(0).drive_type() != dst.fdc.drive(0).drive_type();
                let ins = Op::Insert {
                    drive: 0,
                    size: third,
                    read_only: false,
                };
                fdc_fuzz_targets::ops::apply(&mut pc, &ins);
                fdc_fuzz_targets::ops::apply(&mut dst, &ins);
                if differs && pc.fdc.drive(0).geometry() != dst.fdc.drive(0).geometry() {
                    found = Some((first, second, third));
                    break 'search;
                }
            }
        }
    }
    let (first, second, third) = found.expect("no media sequence shows a drive-type difference");
    let mut pc = PcFloppy::new(Fdc::new(
        DriveConfig::Medium(Medium::blank(fdc::ops::medium_size(first), false)),
        DriveConfig::Absent,
    ));
    fdc_fuzz_targets::ops::apply(
        &mut pc,
        &Op::Insert {
            drive: 0,
            size: second,
            read_only: false,
        },
    );
    let mut dst = migrate(&pc, 0);
    let ins = Op::Insert {
        drive: 0,
        size: third,
        read_only: false,
    };
    fdc_fuzz_targets::ops::apply(&mut pc, &ins);
    fdc_fuzz_targets::ops::apply(&mut dst, &ins);
    println!(
        "types {:?} / {:?}, geometry (last_sect, max_track, 2 sides) {:?} / {:?}, rate {} / {}",
        pc.fdc.drive(0).drive_type(),
        dst.fdc.drive(0).drive_type(),
        pc.fdc.drive(0).geometry(),
        dst.fdc.drive(0).geometry(),
        pc.fdc.drive(0).media_rate(),
        dst.fdc.drive(0).media_rate()
    );
    println!(
        "drive type: start {} B, insert {} B, migrate, insert {} B",
        fdc::ops::medium_size(first),
        fdc::ops::medium_size(second),
        fdc::ops::medium_size(third)
    );
}

fn qemu_answers(s: &Scenario) -> (Vec<Answer>, Vec<Answer>) {
    let spec = |i: u8| match i {
        0 => DriveSpec::Absent,
        1 => DriveSpec::Empty,
        _ => DriveSpec::Blank,
    };
    let cfg = OracleConfig::with_drives([spec(s.d0), spec(s.d1)]);
    let mut src = Oracle::start(cfg.clone()).expect("starting QEMU");
    for op in &s.before {
        apply(&mut src, op).unwrap();
    }
    let m = src.migrate().expect("migrating");
    let path = std::env::temp_dir().join(format!("fdc-known-diff-{}.bin", std::process::id()));
    std::fs::write(&path, &m.stream).unwrap();
    let mut dst = Oracle::start_incoming(cfg, &path).expect("starting the destination QEMU");
    let _ = std::fs::remove_file(&path);
    let a = s
        .after
        .iter()
        .map(|op| apply(&mut src, op).unwrap())
        .collect();
    let b = s
        .after
        .iter()
        .map(|op| apply(&mut dst, op).unwrap())
        .collect();
    (a, b)
}

#[test]
#[cfg_attr(
    not(fdc_fuzz_qemu),
    ignore = "needs real QEMU: set FDC_FUZZ_QEMU=1 to run it"
)]
fn known_differences_on_real_qemu() {
    if std::env::var_os("FDC_FUZZ_QEMU").is_none() {
        eprintln!("skipped: set FDC_FUZZ_QEMU=1 to run against real QEMU");
        return;
    }
    for s in scenarios() {
        let model = model_answers(&s);
        let qemu = qemu_answers(&s);
        println!(
            "{}:\n  model source {:?} destination {:?}\n  QEMU  source {:?} destination {:?}",
            s.name, model.0, model.1, qemu.0, qemu.1
        );
        assert_eq!(qemu, model, "{}: QEMU and the model disagree", s.name);
    }
}

/// States QEMU accepts on load and our strict loader refuses: each spliced into a real
/// stream (the source's fdc section payload replaced), loaded with `-incoming`, then one
/// trigger op. Prints what QEMU did next to our loader's typed rejection.
#[test]
#[cfg_attr(
    not(fdc_fuzz_qemu),
    ignore = "needs real QEMU: set FDC_FUZZ_QEMU=1 to run it"
)]
fn invalid_states_on_real_qemu() {
    if std::env::var_os("FDC_FUZZ_QEMU").is_none() {
        eprintln!("skipped: set FDC_FUZZ_QEMU=1 to run against real QEMU");
        return;
    }
    let (d0, d1) = fdc_fuzz_targets::ops::configs(config_byte(2, 0));
    let base = Fdc::new(d0.clone(), d1.clone()).state();
    let mut classes: Vec<(&str, fdc::FdcState, Vec<Op>)> = Vec::new();
    let mut s = base.clone();
    s.msr = 0x90;
    s.data_pos = 600;
    s.data_len = 1000;
    classes.push((
        "command phase with data_pos 600 >= 512 (VENOM state)",
        s,
        vec![out(0x3F5, 0x42)],
    ));
    let mut s = base.clone();
    s.phase = Some(7);
    classes.push(("phase byte 7", s, vec![out(0x3F5, 0x08), inb(0x3F5)]));
    let mut s = base.clone();
    s.msr = 0x80 | 0x20; // RQM|NONDMA with phase reconstructed as execution... and command phase forced
    s.phase = Some(1);
    classes.push(("NONDMA in the command phase", s, vec![out(0x3F5, 0x08)]));
    let mut s = base.clone();
    s.msr = 0x80 | 0x40 | 0x10;
    s.phase = Some(2);
    classes.push((
        "execution phase without NONDMA, RQM|DIO set",
        s,
        vec![inb(0x3F5)],
    ));
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    for (name, state, trigger) in classes {
        let ours = Fdc::from_state(&state, d0.clone(), d1.clone(), 0)
            .err()
            .map(|e| e.to_string());
        let mut model =
            PcFloppy::new(Fdc::from_state_unchecked(&state, d0.clone(), d1.clone(), 0).unwrap());
        for op in &trigger {
            fdc_fuzz_targets::ops::apply(&mut model, op);
        }
        let mut src = Oracle::start(cfg.clone()).expect("starting QEMU");
        let m = src.migrate().expect("migrating");
        let mut stream = m.stream.clone();
        stream.splice(m.section.payload.clone(), fdc::wire::encode(&state));
        let path = std::env::temp_dir().join(format!("fdc-invalid-{}.bin", std::process::id()));
        std::fs::write(&path, &stream).unwrap();
        let qemu = match Oracle::start_incoming(cfg.clone(), &path) {
            Err(e) => format!("load failed: {e}"),
            Ok(mut dst) => {
                let mut said = Vec::new();
                let mut outcome = String::new();
                for op in &trigger {
                    let r = apply(&mut dst, op).map(|a| match a {
                        Answer::Byte(v) => format!("{v:#04x}"),
                        _ => "ok".to_string(),
                    });
                    match r {
                        Ok(v) => said.push(v),
                        Err(e) => {
                            outcome = format!("died: {e}");
                            break;
                        }
                    }
                }
                if outcome.is_empty() {
                    match fdc::Machine::inb(&mut dst, 0x3F4) {
                        Ok(msr) => format!("survived, answers {said:?}, MSR then {msr:#04x}"),
                        Err(e) => format!("answers {said:?}, then died: {e}"),
                    }
                } else {
                    format!("answers {said:?}, {outcome}")
                }
            }
        };
        let _ = std::fs::remove_file(&path);
        println!(
            "{name}:\n  strict loader: {ours:?}\n  model unchecked: fault {:?}\n  QEMU 7.2: {}",
            model.fdc.fault(),
            qemu.chars().take(400).collect::<String>()
        );
    }
}

/// (4) on real QEMU: drive 0 starts with 1.44 MB, gets a 2.88 MB medium, migrate (the
/// destination starts with the 2.88 MB image), both get a 1.2 MB medium, READ ID. The
/// model: source type 1.44 keeps rate 0 (READ ID succeeds), destination type 2.88 picks
/// rate 3 (READ ID ends with ST0 0x40, ST1 MA).
#[test]
#[cfg_attr(
    not(fdc_fuzz_qemu),
    ignore = "needs real QEMU: set FDC_FUZZ_QEMU=1 to run it"
)]
fn drive_type_on_real_qemu() {
    if std::env::var_os("FDC_FUZZ_QEMU").is_none() {
        eprintln!("skipped: set FDC_FUZZ_QEMU=1 to run against real QEMU");
        return;
    }
    let (i288, i12) = (
        (0..40u8)
            .find(|&i| fdc::ops::medium_size(i) == 2_949_120)
            .unwrap(),
        (0..40u8)
            .find(|&i| fdc::ops::medium_size(i) == 1_228_800)
            .unwrap(),
    );
    let after = [
        vec![
            Op::Advance { ns: 1_000_000 },
            Op::Insert {
                drive: 0,
                size: i12,
                read_only: false,
            },
            Op::Advance { ns: 1_000_000 },
        ],
        fifo(&[0x4A, 0x00]),
        vec![Op::Advance { ns: 30_000_000 }],
        reads(7),
    ]
    .concat();
    // Model.
    let mut pc = PcFloppy::new(Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
    ));
    fdc_fuzz_targets::ops::apply(
        &mut pc,
        &Op::Insert {
            drive: 0,
            size: i288,
            read_only: false,
        },
    );
    let mut dst = migrate(&pc, 0);
    let ma: Vec<Answer> = after
        .iter()
        .map(|op| fdc_fuzz_targets::ops::apply(&mut pc, op))
        .collect();
    let mb: Vec<Answer> = after
        .iter()
        .map(|op| fdc_fuzz_targets::ops::apply(&mut dst, op))
        .collect();
    // QEMU.
    let dir = std::env::temp_dir().join(format!("fdc-drive-type-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = |name: &str, size: usize| {
        let p = dir.join(name);
        std::fs::write(&p, vec![0u8; size]).unwrap();
        p
    };
    let (src288, dst288) = (img("s288", 2_949_120), img("d288", 2_949_120));
    let mut src = Oracle::start(OracleConfig::with_drives([
        DriveSpec::Blank,
        DriveSpec::Absent,
    ]))
    .unwrap();
    src.change(0, &src288, false).unwrap();
    let m = src.migrate().unwrap();
    let stream = dir.join("stream");
    std::fs::write(&stream, &m.stream).unwrap();
    let mut dq = Oracle::start_incoming(
        OracleConfig::with_drives([
            DriveSpec::Image {
                path: dst288,
                read_only: false,
            },
            DriveSpec::Absent,
        ]),
        &stream,
    )
    .unwrap();
    let run =
        |o: &mut Oracle| -> Vec<Answer> { after.iter().map(|op| apply(o, op).unwrap()).collect() };
    let qa = run(&mut src);
    let qb = run(&mut dq);
    let _ = std::fs::remove_dir_all(&dir);
    println!("drive type:\n  model source {ma:?}\n  model destination {mb:?}\n  QEMU source {qa:?}\n  QEMU destination {qb:?}");
    assert_eq!((qa, qb), (ma, mb), "QEMU and the model disagree");
}
