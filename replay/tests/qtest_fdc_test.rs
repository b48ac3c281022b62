//! QEMU's qtest `tests/qtest/fdc-test.c` scenarios, rewritten as our own tests.
//!
//! As in QEMU's harness, the scenarios run in registration order on one machine and
//! inherit each other's state: drive A is a drive without medium (type auto, so the ISA
//! fallback 2.88 MB), no drive B; a zero-filled 1.44 MB image is inserted and ejected.
//! Every expectation is an assertion of the upstream test or a value the spec derives
//! from `hw/block/fdc.c` (derived expectations).
//!
//! Every operation runs on the model and on real QEMU side by side (`Pair`), which
//! compares each answer and the IRQ level; the assertions then hold for both. With
//! `FDC_SKIP_QEMU=1` the scenarios run on the model alone.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::ops::{Answer, Op};
use fdc::{DriveConfig, DriveType, Fdc, Medium, PcFloppy, READ_ID_DELAY_NS};
use fdc_replay::conformance::{Pair, Slot};

enum Backend {
    Model(Box<PcFloppy>),
    /// The pair and the directory its QEMU's files live in (removed with it).
    Both(
        Box<Pair>,
        #[allow(dead_code, reason = "held for its Drop")] tempfile::TempDir,
    ),
}

/// Starts the backend: QEMU beside the model unless FDC_SKIP_QEMU=1; fails with the
/// install hint when QEMU is missing.
fn backend(slots: [Slot; 2], model: PcFloppy) -> Backend {
    if std::env::var("FDC_SKIP_QEMU").as_deref() == Ok("1") {
        eprintln!("FDC_SKIP_QEMU=1: scenario runs on the model only");
        return Backend::Model(Box::new(model));
    }
    if let Err(e) = fdc_oracle::find_qemu(&fdc_oracle::default_qemu()) {
        panic!("{e}: install QEMU with `apt-get install qemu-system-x86` (or set FDC_SKIP_QEMU=1)");
    }
    let dir = tempfile::Builder::new()
        .prefix("fdc-qtest-")
        .tempdir()
        .unwrap();
    let pair = Pair::start(&slots, dir.path().to_path_buf())
        .unwrap_or_else(|e| panic!("starting QEMU: {e}"));
    Backend::Both(Box::new(pair), dir)
}

const DOR: u16 = 0x3F2;
const MSR: u16 = 0x3F4;
const FIFO: u16 = 0x3F5;
const DIR: u16 = 0x3F7;

struct Harness {
    backend: Backend,
    steps: usize,
}

impl Harness {
    fn new(slots: [Slot; 2], model: PcFloppy) -> Harness {
        Harness {
            backend: backend(slots, model),
            steps: 0,
        }
    }
    fn model(&self) -> &PcFloppy {
        match &self.backend {
            Backend::Model(m) => m,
            Backend::Both(p, _) => &p.model,
        }
    }
    fn op(&mut self, op: Op) -> Answer {
        self.steps += 1;
        match &mut self.backend {
            Backend::Model(m) => fdc::ops::apply(&mut **m, &op).unwrap(),
            Backend::Both(p, _) => p
                .step(self.steps, &op)
                .unwrap_or_else(|m| panic!("model and QEMU disagree: {}", m.what)),
        }
    }
    fn outb(&mut self, port: u16, value: u8) {
        self.op(Op::Out { port, value });
    }
    fn outw(&mut self, port: u16, value: u16) {
        self.op(Op::OutW { port, value });
    }
    fn advance(&mut self, ns: u64) {
        self.op(Op::Advance { ns });
    }
    fn inb(&mut self, port: u16) -> u8 {
        match self.op(Op::In { port }) {
            Answer::Byte(b) => b,
            other => panic!("inb {port:#x}: {other:?}"),
        }
    }
    fn irq(&self) -> bool {
        self.model().fdc.irq()
    }
    fn send(&mut self, b: u8) {
        let msr = self.inb(MSR);
        assert_eq!(
            msr & 0xC0,
            0x80,
            "send: MSR {msr:#04x} must have RQM and not DIO"
        );
        self.outb(FIFO, b);
    }
    fn recv(&mut self) -> u8 {
        let msr = self.inb(MSR);
        assert_eq!(
            msr & 0xC0,
            0xC0,
            "recv: MSR {msr:#04x} must have RQM and DIO"
        );
        self.inb(FIFO)
    }
    fn ack_irq(&mut self) -> u8 {
        assert!(self.irq(), "ack_irq: IRQ must be pending");
        self.send(0x08);
        let _st0 = self.recv();
        let pcn = self.recv();
        assert!(
            !self.irq(),
            "ack_irq: IRQ must be clear after SENSE INTERRUPT"
        );
        pcn
    }
    fn send_seek(&mut self, cyl: u8) {
        self.send(0x0F);
        self.send(0x00);
        assert!(!self.irq());
        self.send(cyl);
        self.ack_irq();
    }
    /// `send_read_command`: returns the 7 result bytes.
    fn send_read_command(&mut self, cmd: u8) -> [u8; 7] {
        for (i, b) in [cmd, 0x00, 0, 0, 1, 2, 1, 0x1B, 0xFF]
            .into_iter()
            .enumerate()
        {
            self.send(b);
            if i == 1 {
                assert!(!self.irq());
            }
        }
        assert_eq!(
            self.inb(MSR),
            0xD0,
            "result phase right after the last parameter"
        );
        let mut r = [0; 7];
        for b in r.iter_mut() {
            *b = self.recv();
        }
        r
    }
    fn send_read_no_dma_command(&mut self, nb_sect: u8) -> [u8; 7] {
        for b in [0xE6, 0x00, 0, 0, 1, 2, nb_sect, 0x1B, 0xFF] {
            self.send(b);
        }
        assert_eq!(self.inb(MSR), 0xF0);
        for _ in 0..(1024 * nb_sect as usize) {
            let msr = self.inb(MSR);
            assert_eq!(msr & 0xD0, 0xD0, "data byte: MSR {msr:#04x}");
            self.inb(FIFO);
        }
        let msr = self.inb(MSR);
        assert_eq!(msr & 0xD0, 0xD0);
        assert!(self.irq());
        let mut r = [0; 7];
        for (i, b) in r.iter_mut().enumerate() {
            if i == 6 {
                assert!(self.irq(), "IRQ still set before the last result byte");
            }
            *b = self.recv();
        }
        assert!(!self.irq(), "IRQ clear after the result");
        let msr = self.inb(MSR);
        assert_eq!(msr & 0xD0, 0x80, "back in the command phase");
        r
    }
    fn dskchg(&mut self) -> bool {
        self.inb(DIR) & 0x80 != 0
    }
    fn media_insert(&mut self) {
        // Size index 0 is the first geometry-table entry: a 1.44 MB medium.
        self.op(Op::Insert {
            drive: 0,
            size: 0,
            read_only: false,
        });
        assert_eq!(
            self.model().fdc.drive(0).medium(),
            Some(&Medium::blank(1_474_560, false))
        );
        assert!(self.dskchg());
        assert!(self.dskchg());
        self.send_seek(0);
        assert!(self.dskchg(), "seek to the same track keeps DSKCHG");
        assert!(self.dskchg());
        self.send_seek(1);
        assert!(!self.dskchg(), "a track change with a medium clears DSKCHG");
        assert!(!self.dskchg());
    }
}

#[test]
fn upstream_fdc_test_sequence() {
    let mut h = Harness::new(
        [Slot::Empty, Slot::Absent],
        PcFloppy::new(Fdc::new(DriveConfig::Empty, DriveConfig::Absent)),
    );

    // /fdc/cmos: an empty auto drive resolves to the 2.88 MB fallback (CMOS nibble 5).
    assert_eq!(h.model().fdc.drive(0).drive_type(), DriveType::Type288);
    assert_eq!(h.model().fdc.drive(0).drive_type().cmos_nibble() << 4, 0x50);

    // /fdc/no_media_on_start
    assert!(h.dskchg());
    assert!(h.dskchg());
    h.send_seek(1);
    assert!(h.dskchg());
    assert!(h.dskchg());

    // /fdc/read_without_media: seek result 2 -> ST0 0x40, C/H/R echo the request.
    let r = h.send_read_command(0xE6);
    assert_eq!(r, [0x40, 0, 0, 0, 0, 1, 2]);

    // /fdc/media_change
    h.media_insert();
    h.op(Op::Eject { drive: 0 });
    assert_eq!(h.model().fdc.drive(0).medium(), None);
    assert!(h.dskchg());
    assert!(h.dskchg());
    h.send_seek(0);
    assert!(h.dskchg());
    assert!(h.dskchg());
    h.send_seek(1);
    assert!(h.dskchg());
    assert!(h.dskchg());

    // /fdc/sense_interrupt
    h.send(0x08);
    assert_eq!(h.recv(), 0x80, "no interrupt pending: invalid");
    h.send(0x0F);
    h.send(0x00);
    assert!(!h.irq());
    h.send(0x00);
    assert!(h.irq());
    h.send(0x08);
    assert_eq!(h.recv(), 0x20, "SEEK END, head bit never reported");
    h.recv();

    // /fdc/relative_seek
    h.send_seek(0);
    h.send(0xCF);
    h.send(0x00);
    assert!(!h.irq());
    h.send(0x01);
    assert_eq!(h.ack_irq(), 1);
    h.send(0x8F);
    h.send(0x00);
    assert!(!h.irq());
    h.send(0x01);
    assert_eq!(h.ack_irq(), 0);

    // /fdc/read_id: no medium, still double-sided from the earlier 1.44 MB medium.
    h.send_seek(0);
    h.send(0x0A);
    assert!(!h.irq());
    h.send(0x00);
    assert!(!h.irq());
    let msr = h.inb(MSR);
    assert_eq!(
        msr & 0x90,
        0x10,
        "CMDBUSY without RQM while READ ID is pending"
    );
    h.advance(READ_ID_DELAY_NS - 1_000);
    assert!(!h.irq(), "not early");
    h.advance(1_010);
    assert!(h.irq(), "the 20 ms READ ID timer has run");
    assert_eq!(h.inb(MSR) & 0xD0, 0xD0);
    let mut r = [0u8; 7];
    for (i, b) in r.iter_mut().enumerate() {
        if i == 6 {
            assert!(h.irq());
        }
        *b = h.recv();
    }
    assert!(!h.irq());
    assert_eq!((r[0], r[3], r[4]), (0x00, 0, 0), "ST0 0, C 0, H 0");
    h.send(0x0F);
    h.send(0x04);
    h.send(0x08);
    assert!(h.irq());
    h.ack_irq();
    h.send(0x0A);
    h.send(0x04);
    h.advance(READ_ID_DELAY_NS + 10);
    assert!(h.irq());
    for b in r.iter_mut() {
        *b = h.recv();
    }
    assert_eq!((r[0], r[3], r[4]), (0x04, 8, 1), "ST0 head bit, C 8, H 1");

    // /fdc/verify: still no medium.
    let r = h.send_read_command(0x16);
    assert_eq!(r[0], 0x40);

    // /fdc/media_insert
    h.media_insert();

    // /fdc/read_no_dma_1, _18, _19 (PIO after clearing DMAEN).
    let dor = h.inb(DOR);
    h.outb(DOR, dor & !0x08);
    h.send_seek(0);
    assert_eq!(h.send_read_no_dma_command(1), [0x04, 0, 0, 0, 1, 1, 2]);
    h.send_seek(0);
    assert_eq!(h.send_read_no_dma_command(18), [0x04, 0, 0, 0, 1, 18, 2]);
    h.send_seek(0);
    assert_eq!(h.send_read_no_dma_command(19), [0x20, 0, 0, 1, 0, 2, 2]);

    // /fdc/fuzz-registers: 1000 writes-then-reads of random registers never abort.
    let mut x: u32 = 12345;
    for _ in 0..1000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let port = 0x3F0 + ((x >> 16) & 7) as u16;
        let val = (x >> 8) as u8;
        h.outb(port, val);
        h.op(Op::In { port });
        assert_eq!(h.model().fdc.fault(), None);
    }
}

/// /fdc/fuzz/cve_2021_20196, decoded: the write lands on drive 1, which has no
/// drive; the placeholder backend turns it into a failed write and the controller stays
/// in the execution phase with MSR 0x30, no result.
#[test]
fn cve_2021_20196_reproducer() {
    let mut pc = Harness::new(
        [blank_144(), Slot::Absent],
        PcFloppy::new(Fdc::new(medium_144(), DriveConfig::Absent)),
    );
    pc.outw(0x3F4, 0x0500);
    pc.outb(0x3F5, 0x00);
    pc.outb(0x3F5, 0x00);
    pc.outw(0x3F4, 0x0000);
    pc.outb(0x3F5, 0x00);
    pc.outw(0x3F1, 0x0400);
    pc.outw(0x3F4, 0x0000);
    pc.outw(0x3F4, 0x0000);
    pc.outb(0x3F5, 0x00);
    pc.outb(0x3F5, 0x01);
    assert_eq!(pc.inb(0x3F4), 0xB0, "PIO write started");
    assert!(pc.irq());
    pc.outw(0x3F1, 0x0500);
    pc.outb(0x3F5, 0x00);
    assert_eq!(pc.inb(0x3F4), 0x30, "stuck: CMDBUSY|NONDMA, no RQM");
    let f = &pc.model().fdc;
    assert_eq!(f.phase(), Some(fdc::Phase::Execution));
    assert_eq!(f.drive(1).backend(), fdc::Backend::Placeholder);
    assert!(!f.phase_needed());
}

/// /fdc/fuzz/cve_2021_3507, decoded: VERIFY with N=2, R=2, EOT=0 gives a
/// negative sector count, refused with ST0 0x40 / ST1 0x01 and the requested C/H/R.
#[test]
fn cve_2021_3507_reproducer() {
    let mut pc = Harness::new(
        [blank_144(), Slot::Absent],
        PcFloppy::new(Fdc::new(medium_144(), DriveConfig::Absent)),
    );
    pc.outb(0x09, 0x06);
    pc.outb(0x0A, 0x02);
    pc.outb(0x0B, 0x0A);
    pc.outw(0x3F4, 0x1600);
    for w in [
        0x0000, 0x0000, 0x0000, 0x0200, 0x0200, 0x0000, 0x0000, 0x0000,
    ] {
        pc.outw(0x3F4, w);
    }
    assert_eq!(pc.inb(0x3F4), 0xD0);
    assert!(pc.irq());
    let r: Vec<u8> = (0..7).map(|_| pc.inb(0x3F5)).collect();
    assert_eq!(r[0] & 0xC0, 0x40);
    assert_eq!(r[1], 0x01);
    assert_eq!(&r[3..6], &[0, 0, 2]);
}

fn blank_144() -> Slot {
    Slot::Blank {
        bytes: 1_474_560,
        read_only: false,
    }
}

fn medium_144() -> DriveConfig {
    DriveConfig::Medium(Medium::blank(1_474_560, false))
}
