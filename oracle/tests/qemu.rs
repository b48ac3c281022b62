//! Checks the oracle against real QEMU 7.2, asserting the measured facts the crate docs
//! describe (time stepping, migration, media, DMA).
//! Set FDC_SKIP_QEMU=1 to skip; without QEMU (and without that variable) these tests fail,
//! because a silently skipped oracle would hide every model/QEMU disagreement.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod common;
use common::*;

use std::path::PathBuf;
use std::sync::Mutex;

use fdc::machine::{DmaAddress, Machine};
use fdc_oracle::{DriveSpec, Oracle, OracleConfig, OracleError, BOOT_CLOCK_NS};

/// QEMU runs one at a time: the machine has two shared cores, and timing-free tests should
/// not depend on parallel load anyway.
static SERIAL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(drives: [DriveSpec; 2]) -> Oracle {
    Oracle::start(OracleConfig::with_drives(drives)).expect("start QEMU oracle")
}

/// DOR reset and the four SENSE INTERRUPTs that clear the per-drive reset status.
fn reset_and_clear(o: &mut Oracle) {
    reset_and_sense(o).unwrap();
}

#[test]
fn missing_qemu_is_reported_with_install_hint() {
    let cfg = OracleConfig {
        qemu: PathBuf::from("/nonexistent/qemu-system-x86_64"),
        ..Default::default()
    };
    let err = Oracle::start(cfg).err().expect("must fail");
    assert!(matches!(err, OracleError::QemuNotFound(_)), "{err}");
    assert!(
        err.to_string().contains("apt-get install qemu-system-x86"),
        "{err}"
    );
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn reset_then_sense_interrupt_sequence() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let mut o = start([DriveSpec::Blank, DriveSpec::Absent]);
    assert_eq!(o.inb(MSR).unwrap(), 0x80);
    o.outb(DOR, 0x08).unwrap();
    assert!(!o.irq().unwrap());
    o.outb(DOR, 0x0c).unwrap();
    assert!(o.irq().unwrap(), "DOR reset must raise IRQ 6");
    assert_eq!(o.inb(MSR).unwrap(), 0x80);
    for i in 0..4u8 {
        o.outb(FIFO, 0x08).unwrap();
        assert!(!o.irq().unwrap(), "SENSE INTERRUPT lowers IRQ 6");
        assert_eq!(o.inb(MSR).unwrap(), 0xd0);
        assert_eq!(o.inb(FIFO).unwrap(), 0xc0 + i);
        assert_eq!(o.inb(FIFO).unwrap(), 0x00);
        assert_eq!(o.inb(MSR).unwrap(), 0x80);
    }
    // No interrupt pending any more: a lone 0x80 (invalid command status).
    o.outb(FIFO, 0x08).unwrap();
    assert_eq!(o.inb(MSR).unwrap(), 0xd0);
    assert_eq!(o.inb(FIFO).unwrap(), 0x80);
    assert_eq!(o.inb(MSR).unwrap(), 0x80);
    // Time never moved after the boot hop.
    assert_eq!(o.now_ns().unwrap(), BOOT_CLOCK_NS);
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn migrate_after_reset_lists_subsections() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let mut o = start([DriveSpec::Blank, DriveSpec::Absent]);
    o.outb(DOR, 0x08).unwrap();
    o.outb(DOR, 0x0c).unwrap();
    let m = o.migrate().unwrap();
    eprintln!("subsections after reset: {:?}", m.subsections);
    assert!(m.has("fdc/reset_sensei"));
    assert!(m.has("fdrive/media_rate"));
    assert!(!m.has("fdc/phase"));
    assert!(m.stream.starts_with(b"QEVM"));
    assert!(m.fdc_section.len() >= 545);
    assert_eq!(m.fdc_section[538], 2, "num_floppies");
    // DOR as saved (dor | cur_drv) and the MSR.
    assert_eq!(m.fdc_section[2], 0x0c);
    assert_eq!(m.fdc_section[5], 0x80);
    // The VM keeps answering after a migration.
    o.outb(FIFO, 0x08).unwrap();
    assert_eq!(o.inb(FIFO).unwrap(), 0xc0);
    assert_eq!(o.inb(FIFO).unwrap(), 0x00);
    // QEMU refuses a second migration until the VM has run again.
    assert!(matches!(o.migrate(), Err(OracleError::Qmp { .. })));
    assert!(matches!(o.advance_ns(960), Err(OracleError::Clock(_))));
    o.advance_ns(1_000).unwrap();
    let m = o.migrate().unwrap();
    assert!(m.has("fdc/reset_sensei"));
    o.advance_ns(1_000).unwrap();
    o.advance_ns(10).unwrap();
    assert_eq!(o.now_ns().unwrap(), BOOT_CLOCK_NS + 2_010);
}

/// Reads the armed result timer (absolute expiry in ns) out of a migration.
fn result_timer(m: &fdc_oracle::Migration) -> Option<i64> {
    let name = b"\x05\x10fdc/result_timer";
    let at = m.fdc_section.windows(name.len()).position(|w| w == name)? + name.len() + 4;
    let b = m.fdc_section.get(at..at + 8)?;
    Some(i64::from_be_bytes(b.try_into().ok()?))
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn read_id_completes_after_exactly_20ms() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let mut o = start([DriveSpec::Blank, DriveSpec::Absent]);
        reset_and_clear(&mut o);
        o.advance_ns(12_340).unwrap();
        let t0 = o.now_ns().unwrap();
        assert_eq!(t0, BOOT_CLOCK_NS + 12_340);
        o.outb(FIFO, 0x0a).unwrap();
        o.outb(FIFO, 0x00).unwrap();
        let m = o.migrate().unwrap();
        assert!(m.has("fdc/result_timer"), "{:?}", m.subsections);
        assert_eq!(result_timer(&m), Some(t0 as i64 + 20_000_000));
        assert_eq!(o.inb(MSR).unwrap(), 0x10);
        o.advance_ns(19_999_000).unwrap();
        assert_eq!(o.now_ns().unwrap(), t0 + 19_999_000);
        assert_eq!(o.inb(MSR).unwrap(), 0x10);
        assert!(!o.irq().unwrap());
        // Exactly at the deadline the timer has not fired yet (it fires when time moves on).
        o.advance_ns(1_000).unwrap();
        assert_eq!(o.inb(MSR).unwrap(), 0x10);
        o.advance_ns(10).unwrap();
        assert_eq!(o.inb(MSR).unwrap(), 0xd0);
        assert!(o.irq().unwrap());
        o.advance_ns(990).unwrap();
        assert_eq!(o.now_ns().unwrap(), t0 + 20_001_000);
        let results: Vec<u8> = (0..7).map(|_| o.inb(FIFO).unwrap()).collect();
        assert_eq!(o.inb(MSR).unwrap(), 0x80);
        // Many small and large steps land exactly, with no timer pending.
        for step in [10, 960, 970, 123_450, 1_000_000_000, 2_500_000_000] {
            let before = o.now_ns().unwrap();
            o.advance_ns(step).unwrap();
            assert_eq!(o.now_ns().unwrap(), before + step);
        }
        assert!(matches!(o.advance_ns(5), Err(OracleError::Clock(_))));
        runs.push((results, o.now_ns().unwrap()));
    }
    assert_eq!(runs[0], runs[1], "two runs must be identical");
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn read_id_inside_one_long_advance() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let mut o = start([DriveSpec::Blank, DriveSpec::Absent]);
    reset_and_clear(&mut o);
    o.outb(FIFO, 0x0a).unwrap();
    o.outb(FIFO, 0x00).unwrap();
    // The timer fires on the way (and raises IRQ 6); the clock still ends on the target.
    o.advance_ns(30_000_000).unwrap();
    assert_eq!(o.now_ns().unwrap(), BOOT_CLOCK_NS + 30_000_000);
    assert!(o.irq().unwrap());
    assert_eq!(o.inb(MSR).unwrap(), 0xd0);
    let m = o.migrate().unwrap();
    assert!(!m.has("fdc/result_timer"));
}

fn pattern_image(dir: &std::path::Path) -> (PathBuf, Vec<u8>) {
    let mut img = vec![0u8; 1_474_560];
    for (i, b) in img.iter_mut().enumerate() {
        *b = (i.wrapping_mul(7) ^ (i >> 9)) as u8;
    }
    let path = dir.join("pattern.img");
    std::fs::write(&path, &img).unwrap();
    (path, img)
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn dma_read_of_sector_one_lands_in_memory() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let tmp = tempfile::tempdir().unwrap();
    let (path, img) = pattern_image(tmp.path());
    let mut o = start([
        DriveSpec::Image {
            path,
            read_only: true,
        },
        DriveSpec::Absent,
    ]);
    o.outb(DOR, 0x08).unwrap();
    o.outb(DOR, 0x1c).unwrap();
    for _ in 0..4 {
        o.outb(FIFO, 0x08).unwrap();
        o.inb(FIFO).unwrap();
        o.inb(FIFO).unwrap();
    }
    // SPECIFY: DMA mode.
    for b in [0x03, 0xaf, 0x02] {
        o.outb(FIFO, b).unwrap();
    }
    let buf = DmaAddress::from_page(2, 0);
    o.write_mem(u64::from(buf.get()), &[0xee; 512]).unwrap();
    o.dma_program(buf, 511, 0x46).unwrap();
    // READ DATA C0 H0 R1 N2 EOT1.
    for b in [0x46, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x1b, 0xff] {
        o.outb(FIFO, b).unwrap();
    }
    assert!(!o.irq().unwrap());
    o.dma_mask(false).unwrap();
    assert!(o.irq().unwrap(), "end of transfer raises IRQ 6");
    assert_eq!(o.inb(MSR).unwrap(), 0xd0);
    let results: Vec<u8> = (0..7).map(|_| o.inb(FIFO).unwrap()).collect();
    eprintln!("READ results: {results:02x?}");
    assert_eq!(
        results[0] & 0xc0,
        0x00,
        "normal termination: {results:02x?}"
    );
    assert_eq!(o.inb(MSR).unwrap(), 0x80);
    assert_eq!(o.read_mem(u64::from(buf.get()), 512).unwrap(), img[..512]);
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn destination_answers_like_source_after_migration() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let mut src = start([DriveSpec::Blank, DriveSpec::Absent]);
    reset_and_clear(&mut src);
    src.advance_ns(1_000_000).unwrap();
    // SEEK to track 7, then SENSE INTERRUPT: stop in its result phase.
    for b in [0x0f, 0x00, 0x07] {
        src.outb(FIFO, b).unwrap();
    }
    assert!(src.irq().unwrap());
    // Also migrate once with the interrupt pending: the destination must see it.
    let pending = src.migrate().unwrap();
    src.advance_ns(1_000).unwrap();
    src.outb(FIFO, 0x08).unwrap();
    let m = src.migrate().unwrap();
    eprintln!(
        "subsections in SENSE INTERRUPT result phase: {:?}",
        m.subsections
    );
    assert!(m.has("fdrive/media_changed"));
    assert!(m.has("fdrive/media_rate"));
    assert!(!m.has("fdc/phase"));

    let file = src.workdir().join("state.bin");
    std::fs::write(&file, &m.stream).unwrap();
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Absent]);
    let mut dst = Oracle::start_incoming(cfg.clone(), &file).unwrap();
    assert_eq!(dst.now_ns().unwrap(), src.now_ns().unwrap());
    let mut answers = Vec::new();
    for o in [&mut src, &mut dst] {
        let a = [
            o.inb(MSR).unwrap(),
            o.inb(FIFO).unwrap(),
            o.inb(FIFO).unwrap(),
            o.inb(MSR).unwrap(),
        ];
        answers.push(a);
    }
    assert_eq!(answers[0], [0xd0, 0x20, 0x07, 0x80]);
    assert_eq!(answers[0], answers[1]);
    // Time keeps working on the destination (its first advance must be >= 970 ns).
    let t = dst.now_ns().unwrap();
    assert!(matches!(dst.advance_ns(960), Err(OracleError::Clock(_))));
    dst.advance_ns(10_000).unwrap();
    dst.advance_ns(10).unwrap();
    assert_eq!(dst.now_ns().unwrap(), t + 10_010);
    drop(dst);

    std::fs::write(&file, &pending.stream).unwrap();
    let mut dst = Oracle::start_incoming(cfg, &file).unwrap();
    assert!(dst.irq().unwrap(), "interrupt pending in the stream");
    dst.outb(FIFO, 0x08).unwrap();
    assert!(
        !dst.irq().unwrap(),
        "SENSE INTERRUPT lowers it on the destination"
    );
    assert_eq!(dst.inb(FIFO).unwrap(), 0x20);
    assert_eq!(dst.inb(FIFO).unwrap(), 0x07);
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn media_change_and_empty_drive() {
    if skip("a real-QEMU oracle test") {
        return;
    }
    let _g = lock();
    let tmp = tempfile::tempdir().unwrap();
    let (path, _) = pattern_image(tmp.path());
    let mut o = start([DriveSpec::Blank, DriveSpec::Empty]);
    reset_and_clear(&mut o);
    o.advance_ns(1_000).unwrap();
    o.eject(0).unwrap();
    o.change(1, &path, true).unwrap();
    o.eject(1).unwrap();
    o.change(0, &path, false).unwrap();
    let m = o.migrate().unwrap();
    eprintln!("subsections after media changes: {:?}", m.subsections);
    assert!(o.inb(DIR).unwrap() & 0x80 != 0, "disk change flag");
    assert!(matches!(o.eject(2), Err(OracleError::InvalidArgument(_))));
    let mut o = start([DriveSpec::Blank, DriveSpec::Absent]);
    assert!(matches!(o.qmp_eject(1), Err(OracleError::Qmp { .. })));
}
