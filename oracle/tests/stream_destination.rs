//! Destination semantics on real QEMU 7.2: for each subsection, bring a source QEMU into a
//! state where it is sent, migrate, drop it from the stream, load the edited stream into
//! a destination QEMU, and check that the destination answers exactly like the model
//! loaded from the same state without that subsection (`Fdc::from_state_unchecked`):
//! every register read, the IRQ level after every access, the destination's own
//! re-migrated fdc section right after the load and after the operations. Plus an added
//! `fdc/phase` that disagrees with MSR: QEMU aborts exactly where the model faults.
//!
//! Set FDC_SKIP_QEMU=1 to skip; without QEMU (and without that variable) these fail.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod common;
use common::*;

use fdc::Machine;
use std::sync::Mutex;

use fdc::destination::{destination_default, DestinationValue};
use fdc::ops::{Answer, Op};
use fdc::{DriveConfig, Fault, Medium, Subsection};
use fdc_oracle::destination::{run_experiment, transcript, Experiment, StreamEdit};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig};

const FLOPPY_144: u64 = 1_474_560;
const FLOPPY_720: u64 = 737_280;

static SERIAL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn out(port: u16, value: u8) -> Op {
    Op::Out { port, value }
}
fn inb(port: u16) -> Op {
    Op::In { port }
}
fn adv(ns: u64) -> Op {
    Op::Advance { ns }
}

fn blank(bytes: u64) -> DriveConfig {
    DriveConfig::Medium(Medium::blank(bytes, false))
}

/// DOR reset and the four SENSE INTERRUPTs, then 1 ms.
fn reset_and_clear(o: &mut Oracle) {
    reset_and_sense(o).unwrap();
    o.advance_ns(1_000_000).unwrap();
}

/// SENSE INTERRUPT: the command, MSR, both result bytes, MSR.
fn sense_interrupt() -> Vec<Op> {
    vec![out(FIFO, 0x08), inb(MSR), inb(FIFO), inb(FIFO), inb(MSR)]
}

fn bytes(steps: &[fdc_oracle::destination::Step]) -> Vec<u8> {
    steps
        .iter()
        .filter_map(|s| match s.answer {
            Ok(Answer::Byte(b)) => Some(b),
            _ => None,
        })
        .collect()
}

/// The destination QEMU and the model must agree on everything.
fn assert_agree(name: &str, e: &Experiment) {
    eprintln!("[{name}] source     : {}", transcript(&e.source_steps));
    eprintln!("[{name}] destination: {}", transcript(&e.qemu));
    eprintln!("[{name}] model      : {}", transcript(&e.model));
    if let Some((i, what)) = e.first_difference() {
        panic!("[{name}] destination QEMU and model differ at step {i}: {what}");
    }
    assert_eq!(
        e.qemu_loaded.as_ref(),
        Ok(&e.model_loaded),
        "[{name}] state right after the load"
    );
    assert_eq!(
        e.qemu_final.as_ref(),
        Ok(&e.model_final),
        "[{name}] state after the operations"
    );
}

fn image(dir: &std::path::Path, name: &str, size: u64) -> DriveSpec {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    DriveSpec::Image {
        path,
        read_only: false,
    }
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn dropped_reset_sensei_leaves_one_interrupt_status() {
    if skip("a real-QEMU destination test") {
        return;
    }
    let _g = lock();
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    src.outb(DOR, 0x08).unwrap();
    src.outb(DOR, 0x0c).unwrap();
    assert!(src.irq().unwrap());
    let mut ops = vec![inb(MSR)];
    for _ in 0..4 {
        ops.extend(sense_interrupt());
    }
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::Drop(Subsection::ResetSensei, None),
        &ops,
    )
    .unwrap();
    assert!(e.source.has("fdc/reset_sensei"));
    assert_eq!(
        e.source.section.subsections.len(),
        3,
        "{:?}",
        e.source.subsections
    );
    assert_agree("fdc/reset_sensei", &e);
    // The source answers the four reset polls; the destination only the first (from
    // status0 while the interrupt is pending), then "invalid command".
    let src_bytes = bytes(&e.source_steps);
    assert_eq!(
        src_bytes,
        [
            0x80, 0xd0, 0xc0, 0x00, 0x80, 0xd0, 0xc1, 0x00, 0x80, 0xd0, 0xc2, 0x00, 0x80, 0xd0,
            0xc3, 0x00, 0x80
        ]
    );
    assert_eq!(
        bytes(&e.qemu),
        [
            0x80, 0xd0, 0xc0, 0x00, 0x80, 0xd0, 0x80, 0x00, 0x80, 0xd0, 0x80, 0x00, 0x80, 0xd0,
            0x80, 0x00, 0x80
        ]
    );
    assert_eq!(
        e.qemu_loaded.as_ref().unwrap().reset_sensei,
        None,
        "0 is not sent"
    );
    let d = destination_default(
        Subsection::ResetSensei,
        0,
        &blank(FLOPPY_144),
        &DriveConfig::Absent,
        0x80,
    );
    assert_eq!(d.value, DestinationValue::Fresh(0));
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn dropped_result_timer_never_completes_read_id() {
    if skip("a real-QEMU destination test") {
        return;
    }
    let _g = lock();
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    src.outb(FIFO, 0x4a).unwrap();
    src.outb(FIFO, 0x00).unwrap();
    assert_eq!(src.inb(MSR).unwrap(), 0x10);
    let mut ops = vec![inb(MSR), adv(1_000), inb(MSR), adv(25_000_000), inb(MSR)];
    ops.extend(std::iter::repeat_n(inb(FIFO), 7));
    ops.push(inb(MSR));
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::Drop(Subsection::ResultTimer, None),
        &ops,
    )
    .unwrap();
    assert!(e.source.has("fdc/result_timer"));
    assert_agree("fdc/result_timer", &e);
    let s = bytes(&e.source_steps);
    assert_eq!(&s[..3], [0x10, 0x10, 0xd0], "source: the result arrives");
    assert_eq!(&s[3..], [0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x80]);
    assert!(e.source_steps[3].irq, "source: READ ID raises IRQ 6");
    let d = bytes(&e.qemu);
    assert_eq!(
        d,
        [0x10, 0x10, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x10],
        "destination: never"
    );
    assert!(e.qemu.iter().all(|s| !s.irq));
    assert_eq!(e.qemu_final.as_ref().unwrap().result_timer, None);
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn dropped_media_changed_reports_a_disk_change_until_the_next_seek() {
    if skip("a real-QEMU destination test") {
        return;
    }
    let _g = lock();
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    for b in [0x0f, 0x00, 0x02] {
        src.outb(FIFO, b).unwrap();
    }
    src.outb(FIFO, 0x08).unwrap();
    src.inb(FIFO).unwrap();
    src.inb(FIFO).unwrap();
    assert_eq!(src.inb(DIR).unwrap() & 0x80, 0, "the seek cleared DSKCHG");
    let mut ops = vec![
        inb(DIR),
        inb(MSR),
        out(FIFO, 0x0f),
        out(FIFO, 0x00),
        out(FIFO, 0x02),
    ];
    ops.extend(sense_interrupt());
    ops.push(inb(DIR));
    ops.extend([out(FIFO, 0x0f), out(FIFO, 0x00), out(FIFO, 0x05)]);
    ops.extend(sense_interrupt());
    ops.push(inb(DIR));
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::Drop(Subsection::MediaChanged, Some(0)),
        &ops,
    )
    .unwrap();
    assert!(e.source.has("fdrive/media_changed"));
    assert_agree("fdrive/media_changed", &e);
    let (s, d) = (bytes(&e.source_steps), bytes(&e.qemu));
    // DIR bit 7 (DSKCHG): clear on the source, set on the destination; a SEEK to the same
    // track leaves it set (fd_seek clears media_changed only when the track changes).
    assert_eq!(s[0] & 0x80, 0);
    assert_eq!(d[0] & 0x80, 0x80);
    assert_eq!(d[6] & 0x80, 0x80, "after a seek to the same track");
    assert_eq!(d[11] & 0x80, 0, "after a seek to another track");
    assert_eq!(
        e.qemu_loaded.as_ref().unwrap().drives[0].media_changed,
        None
    );
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn dropped_media_rate_keeps_the_destinations_own_rate() {
    if skip("a real-QEMU destination test") {
        return;
    }
    let _g = lock();
    let tmp = tempfile::tempdir().unwrap();
    let d720 = image(tmp.path(), "720k.img", FLOPPY_720);
    let cfg = OracleConfig::with_drives([d720, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    src.outb(DIR, 0x02).unwrap(); // CCR: 250 kb/s, the 720 KB medium's rate
                                  // READ ID then its result: the rate check compares DSR with media_rate.
    let mut ops = vec![inb(MSR), out(FIFO, 0x4a), out(FIFO, 0x00), adv(25_000_000)];
    ops.extend(std::iter::repeat_n(inb(FIFO), 7));
    ops.push(inb(MSR));
    let drop = StreamEdit::Drop(Subsection::MediaRate, None);
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_720), DriveConfig::Absent),
        drop,
        &ops,
    )
    .unwrap();
    assert_agree("fdrive/media_rate (same medium)", &e);
    assert_eq!(e.source.section.subsections, ["fdrive/media_rate"; 2]);
    assert_eq!(bytes(&e.qemu), bytes(&e.source_steps), "invisible");
    assert_eq!(bytes(&e.qemu)[1], 0x00, "READ ID terminates normally");
    assert_eq!(
        e.qemu_loaded.as_ref().unwrap().drives[0].media_rate,
        Some(2)
    );
    // A destination started with another medium (1.44 MB, rate 0): without the
    // subsection it keeps its own rate and READ ID fails the rate check; with it, the
    // source's rate is loaded and READ ID passes.
    let d144 = image(tmp.path(), "144.img", FLOPPY_144);
    let other = OracleConfig::with_drives([d144, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    src.outb(DIR, 0x02).unwrap();
    let e = run_experiment(
        &mut src,
        &other,
        (blank(FLOPPY_144), DriveConfig::Absent),
        drop,
        &ops,
    )
    .unwrap();
    assert_agree("fdrive/media_rate (other medium)", &e);
    assert_eq!(
        &bytes(&e.qemu)[1..3],
        [0x40, 0x01],
        "abnormal termination, missing AM"
    );
    assert_eq!(
        e.qemu_loaded.as_ref().unwrap().drives[0].media_rate,
        Some(0)
    );
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    src.outb(DIR, 0x02).unwrap();
    let e = run_experiment(
        &mut src,
        &other,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::None,
        &ops,
    )
    .unwrap();
    assert_agree("fdrive/media_rate (other medium, control)", &e);
    assert_eq!(bytes(&e.qemu)[1], 0x00, "the loaded rate passes the check");
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn dropped_perpendicular_changes_only_dumpreg() {
    if skip("a real-QEMU destination test") {
        return;
    }
    let _g = lock();
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    src.outb(FIFO, 0x12).unwrap();
    src.outb(FIFO, 0x81).unwrap(); // OW set, GAP/WGATE bits = 1
    let dumpreg = || {
        let mut v = vec![out(FIFO, 0x0e), inb(MSR)];
        v.extend(std::iter::repeat_n(inb(FIFO), 10));
        v.push(inb(MSR));
        v
    };
    let mut ops = dumpreg();
    // A DMA READ of sector 1 (the first advance re-activates the images after the
    // migrations; both sides' DMA channel is programmed here).
    ops.push(adv(1_000));
    for (p, v) in [
        (0x0a, 0x06),
        (0x0b, 0x46),
        (0x0c, 0x00),
        (0x04, 0x00),
        (0x04, 0x00),
        (0x81, 0x01),
        (0x0c, 0x00),
        (0x05, 0xff),
        (0x05, 0x01),
    ] {
        ops.push(out(p, v));
    }
    for b in [0x46, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x1b, 0xff] {
        ops.push(out(FIFO, b));
    }
    ops.push(out(0x0a, 0x02));
    ops.push(inb(MSR));
    ops.extend(std::iter::repeat_n(inb(FIFO), 7));
    ops.extend(dumpreg());
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::Drop(Subsection::Perpendicular, Some(0)),
        &ops,
    )
    .unwrap();
    assert!(e.source.has("fdrive/perpendicular"));
    assert_agree("fdrive/perpendicular", &e);
    let (s, d) = (bytes(&e.source_steps), bytes(&e.qemu));
    assert_eq!(s[8], 0x04, "source DUMPREG: perpendicular 1 << 2");
    assert_eq!(d[8], 0x00, "destination DUMPREG: perpendicular 0");
    assert_eq!(s[12..20], d[12..20], "the READ is the same in both");
    assert_eq!(d[13] & 0xc0, 0x00, "normal termination");
}

fn phase_added(value: u8, fault: Fault) {
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    let ops = vec![
        inb(MSR),
        inb(DIR),
        inb(FIFO),
        inb(MSR),
        out(FIFO, 0x08),
        inb(MSR),
    ];
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::Add(Subsection::Phase, i64::from(value), None),
        &ops,
    )
    .unwrap();
    let name = format!("fdc/phase={value}");
    eprintln!("[{name}] source     : {}", transcript(&e.source_steps));
    eprintln!("[{name}] destination: {}", transcript(&e.qemu));
    eprintln!("[{name}] model      : {}", transcript(&e.model));
    if let Some(Err(why)) = e.qemu.last().map(|s| &s.answer) {
        eprintln!("[{name}] QEMU: {why}");
    }
    assert!(!e.source.has("fdc/phase"));
    assert_eq!(e.received.msr, 0x80);
    // The destination loaded the phase: its own stream carries fdc/phase again.
    assert_eq!(e.qemu_loaded.as_ref().unwrap().phase, Some(value));
    assert_eq!(e.qemu_loaded.as_ref(), Ok(&e.model_loaded));
    // Reads before the write agree; QEMU dies with SIGABRT at the FIFO write (step 4),
    // exactly where the model records the fault.
    assert_eq!(e.qemu[..4], e.model[..4]);
    assert_eq!(e.qemu_aborted_at(), Some(4), "{:?}", e.qemu.last());
    assert_eq!(e.model_fault, Some((4, fault)));
    assert!(e.qemu_final.is_err());
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn added_phase_that_disagrees_with_msr_aborts_where_the_model_faults() {
    if skip("a real-QEMU destination test") {
        return;
    }
    let _g = lock();
    // EXECUTION with RQM and no NONDMA: fdctrl_write_data's assertion (H4).
    phase_added(2, Fault::ExecutionWithoutNonDma);
    // RESULT: the default branch's abort() (H3).
    phase_added(3, Fault::WriteInPhase(3));
    // Out of range: abort() too (H1).
    phase_added(7, Fault::WriteInPhase(7));
    // A streamed 0 means RECONSTRUCT: fdc_post_load derives the phase from MSR, as if
    // the subsection were absent.
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut src = Oracle::start(cfg.clone()).unwrap();
    reset_and_clear(&mut src);
    let mut ops = vec![inb(MSR)];
    ops.extend(sense_interrupt());
    let e = run_experiment(
        &mut src,
        &cfg,
        (blank(FLOPPY_144), DriveConfig::Absent),
        StreamEdit::Add(Subsection::Phase, 0, None),
        &ops,
    )
    .unwrap();
    assert_agree("fdc/phase=0", &e);
    assert_eq!(e.qemu_loaded.as_ref().unwrap().phase, None, "reconstructed");
    assert_eq!(bytes(&e.qemu), bytes(&e.source_steps));
}
