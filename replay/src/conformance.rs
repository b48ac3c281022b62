//! Differential conformance: random but well-formed port-level sequences run on the model
//! and on real QEMU (through the oracle), comparing every read, the IRQ level after every
//! operation, and at sampled points the fdc section QEMU really migrates (every field and
//! the set of subsections) with what the model would send.
//!
//! A sequence imitates what drivers and fuzzers do: resets and the four reset polls,
//! commands with MSR polling between bytes, DMA programmed right or wrong (mode, count,
//! mask), PIO transfers, READ ID with time steps, media changes, garbage bytes and stray
//! register accesses. Sequences run back to back on one QEMU (state carries over, as in
//! QEMU's own fdc-test); a mismatch is shrunk by re-running fresh QEMUs on subsets of the
//! failing prefix, and reported as the op list that shows it.

use std::fmt::Write as _;
use std::path::PathBuf;

use fdc::ops::{medium_size, Answer, Op};
use fdc::{wire, DriveConfig, Fdc, Medium, PcFloppy};

use fdc_oracle::{DriveSpec, Oracle, OracleConfig, OracleError, CLOCK_STEP_NS};

/// A small deterministic generator (xorshift64*), so a seed names a run exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The drive set-up of one QEMU instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    Absent,
    Empty,
    /// A blank medium of this many bytes.
    Blank {
        bytes: u64,
        read_only: bool,
    },
}

const FIFO: u16 = 0x3F5;
const MSR: u16 = 0x3F4;
const DMA_BUF: u32 = 0x1_0000;
/// How far a migration point advances time to let QEMU run again (the oracle needs at
/// least `MIN_FIRST_INCOMING_ADVANCE_NS` after a migration).
const RESUME_NS: u64 = 1_000;

/// Generates one sequence of operations.
pub fn generate_sequence(rng: &mut Rng, out: &mut Vec<Op>) {
    let out_b = |out: &mut Vec<Op>, port: u16, value: u8| out.push(Op::Out { port, value });
    let send = |rng: &mut Rng, out: &mut Vec<Op>, value: u8| {
        if rng.chance(70) {
            out.push(Op::In { port: MSR });
        }
        out.push(Op::Out { port: FIFO, value });
    };
    let drain = |rng: &mut Rng, out: &mut Vec<Op>, max: u64| {
        for _ in 0..rng.below(max + 1) {
            if rng.chance(60) {
                out.push(Op::In { port: MSR });
            }
            out.push(Op::In { port: FIFO });
        }
    };
    // Start of a sequence: often a reset, as drivers do.
    match rng.below(10) {
        0..=2 => {
            out_b(out, 0x3F2, 0x08 | (rng.below(2) as u8));
            out_b(
                out,
                0x3F2,
                0x0C | (rng.below(2) as u8) | if rng.chance(50) { 0x10 } else { 0 },
            );
            for _ in 0..rng.below(6) {
                send(rng, out, 0x08);
                drain(rng, out, 2);
            }
        }
        3 => out_b(out, 0x3F4, 0x80),
        4 => out_b(out, 0x3F4, rng.pick(&[0x00, 0x01, 0x02, 0x03, 0x40])),
        _ => {}
    }
    let commands = 1 + rng.below(6);
    for _ in 0..commands {
        // Stray traffic between commands.
        if rng.chance(15) {
            let port = rng.pick(&[0x3F1u16, 0x3F2, 0x3F3, 0x3F4, 0x3F5, 0x3F7, 0x3F0]);
            if rng.chance(50) {
                out.push(Op::In { port });
            } else {
                let v = if port == 0x3F2 {
                    0x0C | (rng.byte() & 0xF3)
                } else {
                    rng.byte()
                };
                out_b(out, port, v);
            }
        }
        if rng.chance(5) {
            out.push(Op::OutW {
                port: rng.pick(&[0x3F1u16, 0x3F2, 0x3F4, 0x3F5, 0x3F7]),
                value: rng.next_u64() as u16,
            });
        }
        if rng.chance(5) {
            out.push(Op::InW {
                port: rng.pick(&[0x3F1u16, 0x3F2, 0x3F4, 0x3F5, 0x3F7]),
            });
        }
        if rng.chance(4) {
            let drive = if rng.chance(85) { 0 } else { 1 };
            if rng.chance(40) {
                out.push(Op::Eject { drive });
            } else {
                let size = if rng.chance(60) {
                    rng.pick(&[0u8, 0, 13, 8, 32, 26])
                } else {
                    rng.byte()
                };
                out.push(Op::Insert {
                    drive,
                    size,
                    read_only: rng.chance(20),
                });
            }
        }
        if rng.chance(5) {
            out.push(Op::Advance {
                ns: CLOCK_STEP_NS * (1 + rng.below(3_000_000)),
            });
        }
        if rng.chance(4) {
            out.push(Op::In { port: 0x3F7 });
        }
        let drive = if rng.chance(85) { 0 } else { 1 };
        let head = if rng.chance(70) { 0 } else { 1 };
        let hds = drive | (head << 2);
        match rng.below(24) {
            0..=6 => {
                // Data transfer: READ/WRITE/VERIFY/SCAN/READ TRACK, DMA or PIO.
                let op = rng.pick(&[
                    0x06u8, 0xE6, 0x46, 0x45, 0xC5, 0x16, 0x96, 0x11, 0x19, 0x1D, 0x02, 0x25,
                ]);
                let write = op & 0x1F == 0x05;
                let pio = rng.chance(35);
                if pio {
                    out_b(out, 0x3F2, 0x04 | drive | 0x10);
                } else {
                    out_b(out, 0x3F2, 0x0C | drive | 0x10);
                    // DMA channel 2: mode right or wrong, count full or short, mask state.
                    out_b(out, 0x0A, 0x06);
                    out_b(out, 0x0C, 0);
                    // QEMU's i8257 leaves the compare buffer uninitialised for a SCAN
                    // through a verify-mode channel (stack garbage): not comparable, so
                    // scans never get verify mode here.
                    let scan = matches!(op & 0x1F, 0x11 | 0x19 | 0x1D);
                    let mode = match rng.below(10) {
                        0 if scan => rng.pick(&[0x46u8, 0x4A, 0x4E, 0x6A, 0x66]),
                        0 => rng.pick(&[0x42u8, 0x46, 0x4A, 0x4E, 0x66, 0x6A]),
                        _ if write || scan => 0x4A,
                        _ if op & 0x1F == 0x16 => 0x42,
                        _ => 0x46,
                    };
                    if write || scan {
                        out.push(Op::Fill {
                            addr: DMA_BUF,
                            len: 2048,
                            seed: if rng.chance(30) { 0 } else { rng.byte() },
                        });
                    }
                    out_b(out, 0x0B, mode);
                    out_b(out, 0x04, (DMA_BUF & 0xFF) as u8);
                    out_b(out, 0x04, (DMA_BUF >> 8) as u8);
                    out_b(out, 0x81, (DMA_BUF >> 16) as u8);
                    let count: u16 = if rng.chance(70) {
                        511 + 512 * rng.below(4) as u16
                    } else {
                        rng.below(2048) as u16
                    };
                    out_b(out, 0x05, count as u8);
                    out_b(out, 0x05, (count >> 8) as u8);
                    if rng.chance(85) {
                        out_b(out, 0x0A, 0x02);
                    }
                }
                if rng.chance(20) {
                    out_b(out, 0x3F7, rng.pick(&[0u8, 0, 0, 2, 3, 1]));
                }
                let c = if rng.chance(80) {
                    rng.below(3) as u8
                } else {
                    rng.pick(&[79u8, 80, 81, 255])
                };
                let r = if rng.chance(85) {
                    1 + rng.below(18) as u8
                } else {
                    rng.pick(&[0u8, 19, 36, 255])
                };
                let n = if rng.chance(85) {
                    2
                } else {
                    rng.pick(&[0u8, 1, 3, 7, 9])
                };
                let eot = if rng.chance(80) {
                    r.saturating_add(rng.below(if pio { 1 } else { 3 }) as u8)
                } else {
                    rng.byte()
                };
                let params = [
                    hds,
                    c,
                    head,
                    r,
                    n,
                    eot,
                    0x1B,
                    if rng.chance(70) { 0xFF } else { rng.byte() },
                ];
                send(rng, out, op);
                for p in params {
                    send(rng, out, p);
                }
                out.push(Op::In { port: MSR });
                if pio {
                    let bytes = if rng.chance(70) { 512 } else { rng.below(1100) };
                    for i in 0..bytes {
                        if i % 64 == 0 {
                            out.push(Op::In { port: MSR });
                        }
                        if write {
                            out_b(out, FIFO, rng.byte());
                        } else {
                            out.push(Op::In { port: FIFO });
                        }
                    }
                } else if rng.chance(10) {
                    out_b(out, 0x0A, 0x02);
                } else if rng.chance(5) {
                    out_b(out, 0x09, 0x06);
                }
                out.push(Op::In { port: MSR });
                drain(rng, out, 8);
            }
            7 => {
                let v = rng.pick(&[0x0Au8, 0x4A]);
                send(rng, out, v);
                send(rng, out, hds);
                out.push(Op::In { port: MSR });
                if rng.chance(80) {
                    let ns = rng.pick(&[
                        20_000_000u64,
                        20_000_010,
                        19_999_990,
                        10_000_000,
                        25_000_000,
                    ]);
                    out.push(Op::Advance { ns });
                    out.push(Op::In { port: MSR });
                }
                if rng.chance(5) {
                    out_b(out, 0x09, 0x06);
                }
                drain(rng, out, 8);
            }
            8 | 9 => {
                send(rng, out, 0x0F);
                send(rng, out, hds);
                let v = if rng.chance(85) {
                    rng.below(82) as u8
                } else {
                    rng.byte()
                };
                send(rng, out, v);
                send(rng, out, 0x08);
                drain(rng, out, 3);
            }
            10 => {
                send(rng, out, 0x07);
                send(rng, out, drive);
                send(rng, out, 0x08);
                drain(rng, out, 2);
            }
            11 => {
                let v = rng.pick(&[0x8Fu8, 0xCF]);
                send(rng, out, v);
                send(rng, out, hds);
                let v = rng.byte() % 90;
                send(rng, out, v);
                send(rng, out, 0x08);
                drain(rng, out, 2);
            }
            12 => {
                send(rng, out, 0x03);
                let v = rng.byte();
                send(rng, out, v);
                let v = if rng.chance(50) { 0x02 } else { rng.byte() };
                send(rng, out, v);
            }
            13 => {
                send(rng, out, 0x04);
                send(rng, out, hds);
                drain(rng, out, 2);
            }
            14 => {
                let v = rng.pick(&[0x0Eu8, 0x10, 0x14, 0x94, 0x18, 0x2E]);
                send(rng, out, v);
                drain(rng, out, 16);
            }
            15 => {
                send(rng, out, 0x13);
                send(rng, out, 0);
                let v = {
                    let r = rng.byte();
                    rng.pick(&[0x60u8, 0x40, 0x1A, r])
                };
                send(rng, out, v);
                let v = rng.byte();
                send(rng, out, v);
            }
            16 => {
                send(rng, out, 0x12);
                let v = rng.byte();
                send(rng, out, v);
            }
            17 => {
                send(rng, out, 0x17);
                let v = rng.byte();
                send(rng, out, v);
                let v = rng.byte();
                send(rng, out, v);
                drain(rng, out, 2);
            }
            18 => {
                send(rng, out, 0x4E);
                for _ in 0..17 {
                    let v = if rng.chance(50) {
                        rng.below(30) as u8
                    } else {
                        rng.byte()
                    };
                    send(rng, out, v);
                }
            }
            19 => {
                send(rng, out, 0x8E);
                for i in 0..5 {
                    let v = if i == 4 {
                        {
                            let r = rng.byte();
                            rng.pick(&[0x80u8, 0xC0, 0x00, r])
                        }
                    } else {
                        rng.byte()
                    };
                    send(rng, out, v);
                }
                drain(rng, out, 5);
            }
            20 => {
                // FORMAT TRACK
                let v = rng.pick(&[0x0Du8, 0x4D]);
                send(rng, out, v);
                send(rng, out, hds);
                send(rng, out, 2);
                let v = {
                    let r = rng.byte();
                    rng.pick(&[18u8, 9, 36, 21, r])
                };
                send(rng, out, v);
                send(rng, out, 0x54);
                send(rng, out, 0xF6);
                drain(rng, out, 8);
            }
            21 => {
                let v = rng.pick(&[0x0Cu8, 0x4C, 0x09, 0x33, 0xCD]);
                send(rng, out, v);
                for _ in 0..rng.below(11) {
                    let v = rng.byte();
                    send(rng, out, v);
                }
                drain(rng, out, 8);
            }
            22 => {
                // Garbage bytes at the FIFO, whatever the phase.
                for _ in 0..rng.below(12) {
                    if rng.chance(50) {
                        out_b(out, FIFO, rng.byte());
                    } else {
                        out.push(Op::In { port: FIFO });
                    }
                }
            }
            _ => {
                send(rng, out, 0x08);
                drain(rng, out, 2);
            }
        }
    }
}

/// One difference between the model and QEMU.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// Index of the op after which it showed.
    pub index: usize,
    pub what: String,
}

/// Counters of a conformance run.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub instances: usize,
    pub sequences: usize,
    pub ops: usize,
    pub reads: usize,
    pub migrations: usize,
    pub memory_checks: usize,
    /// Oracle time steps whose watchdog stop was lost and that were stopped by hand.
    pub lost_stops: usize,
    /// How often each subsection appeared in QEMU's streams at the compared points.
    pub subsections: std::collections::BTreeMap<String, usize>,
    /// Times the model was re-synchronised from QEMU's migrated state after a SCAN whose
    /// outcome in QEMU depends on uninitialised memory.
    pub resyncs: usize,
    /// Instances re-run on a fresh QEMU after the oracle itself failed (not a mismatch).
    pub oracle_retries: usize,
}

impl Stats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &Stats) {
        self.instances += o.instances;
        self.sequences += o.sequences;
        self.ops += o.ops;
        self.reads += o.reads;
        self.migrations += o.migrations;
        self.memory_checks += o.memory_checks;
        self.lost_stops += o.lost_stops;
        self.resyncs += o.resyncs;
        self.oracle_retries += o.oracle_retries;
        for (k, v) in &o.subsections {
            *self.subsections.entry(k.clone()).or_default() += v;
        }
    }
}

/// Model and QEMU side by side.
pub struct Pair {
    pub model: PcFloppy,
    pub qemu: Oracle,
    images: PathBuf,
    inserted: usize,
    pub stats: Stats,
}

fn slot_spec(slot: &Slot, path: PathBuf) -> std::io::Result<(DriveSpec, DriveConfig)> {
    Ok(match slot {
        Slot::Absent => (DriveSpec::Absent, DriveConfig::Absent),
        Slot::Empty => (DriveSpec::Empty, DriveConfig::Empty),
        Slot::Blank { bytes, read_only } => {
            std::fs::File::create(&path)?.set_len(*bytes)?;
            (
                DriveSpec::Image {
                    path,
                    read_only: *read_only,
                },
                DriveConfig::Medium(Medium::blank(*bytes, *read_only)),
            )
        }
    })
}

impl Pair {
    /// Starts QEMU and the model with the same drives; images live in `images`.
    pub fn start(slots: &[Slot; 2], images: PathBuf) -> Result<Pair, String> {
        std::fs::create_dir_all(&images).map_err(|e| format!("{}: {e}", images.display()))?;
        let (s0, c0) = slot_spec(&slots[0], images.join("a.img")).map_err(|e| e.to_string())?;
        let (s1, c1) = slot_spec(&slots[1], images.join("b.img")).map_err(|e| e.to_string())?;
        let qemu = Oracle::start(OracleConfig::with_drives([s0, s1])).map_err(|e| e.to_string())?;
        let mut pair = Pair {
            model: PcFloppy::new(Fdc::new(c0, c1)),
            qemu,
            images,
            inserted: 0,
            stats: Stats::default(),
        };
        let now = pair.qemu.clock_ns().map_err(|e| e.to_string())?;
        pair.model.fdc.advance_to_exclusive(now);
        Ok(pair)
    }

    /// Overwrites the model with QEMU's own migrated fdc state, after a step whose outcome
    /// QEMU draws from uninitialised memory.
    fn resync(&mut self, index: usize) -> Result<(), Mismatch> {
        let op = Op::Migrate;
        let mig = self.qemu.migrate().map_err(|e| Self::qerr(index, &op, e))?;
        let (state, _) = wire::decode(&mig.fdc_section).map_err(|e| Mismatch {
            index,
            what: format!("QEMU's fdc section does not decode: {e}"),
        })?;
        self.model
            .fdc
            .overwrite_migrated_fields(&state)
            .map_err(|e| Mismatch {
                index,
                what: format!("QEMU's fdc state does not load: {e}"),
            })?;
        self.stats.resyncs += 1;
        self.qemu
            .advance_ns(RESUME_NS)
            .map_err(|e| Self::qerr(index, &op, e))?;
        self.advance_model(RESUME_NS);
        Ok(())
    }

    /// After a QMP command, a harmless qtest round trip collects the IRQ changes QEMU
    /// reported meanwhile on the qtest channel (e.g. the DMA bottom half ran).
    fn qemu_sync(&mut self) -> Result<(), OracleError> {
        self.qemu.read_mem(0, 1).map(drop)
    }

    fn qerr(index: usize, op: &Op, e: OracleError) -> Mismatch {
        Mismatch {
            index,
            what: format!("QEMU failed on {op:?}: {e}"),
        }
    }

    /// Applies one op to both and compares; returns the (common) answer.
    pub fn step(&mut self, index: usize, op: &Op) -> Result<Answer, Mismatch> {
        self.stats.ops += 1;
        let qemu_answer = match *op {
            Op::Out { port, value } => self.qemu.outb(port, value).map(|_| Answer::None),
            Op::In { port } if PcFloppy::fdc_decodes(port) => self.qemu.inb(port).map(Answer::Byte),
            Op::In { port } => self.qemu.inb(port).map(|_| Answer::None),
            Op::OutW { port, value } => self.qemu.outw(port, value).map(|_| Answer::None),
            Op::InW { port } if PcFloppy::fdc_decodes(port) => {
                self.qemu.inw(port).map(Answer::Word)
            }
            Op::InW { port } => self.qemu.inw(port).map(|_| Answer::None),
            Op::Advance { ns } => {
                let ns = self.step_avoiding_deadline(ns);
                self.qemu.advance_ns(ns).map(|_| Answer::None)
            }
            Op::Eject { drive } => {
                if self.model.fdc.drive(drive as usize).backend() == fdc::Backend::Device {
                    self.qemu
                        .eject(drive)
                        .and_then(|_| self.qemu_sync())
                        .map(|_| Answer::None)
                } else {
                    Ok(Answer::None)
                }
            }
            Op::Insert {
                drive,
                size,
                read_only,
            } => {
                if self.model.fdc.drive(drive as usize).backend() == fdc::Backend::Device {
                    self.inserted += 1;
                    let path = self.images.join(format!("insert-{}.img", self.inserted));
                    let made =
                        std::fs::File::create(&path).and_then(|f| f.set_len(medium_size(size)));
                    if let Err(e) = made {
                        return Err(Mismatch {
                            index,
                            what: format!("creating {}: {e}", path.display()),
                        });
                    }
                    self.qemu
                        .change(drive, &path, read_only)
                        .and_then(|_| self.qemu_sync())
                        .map(|_| Answer::None)
                } else {
                    Ok(Answer::None)
                }
            }
            Op::Fill { addr, len, seed } => self
                .qemu
                .write_mem(addr as u64, &fdc::ops::fill_pattern(len, seed))
                .map(|_| Answer::None),
            Op::Migrate => return self.compare_migration(index).map(|_| Answer::None),
        }
        .map_err(|e| Self::qerr(index, op, e))?;
        let model_answer = match *op {
            Op::Advance { ns } => {
                self.model.run_pending_dma();
                self.advance_model(self.step_avoiding_deadline(ns));
                Answer::None
            }
            _ => self.model.apply(op),
        };
        if self.model.fdc.take_indeterminate() {
            self.resync(index)?;
        }
        if matches!(model_answer, Answer::Byte(_) | Answer::Word(_)) {
            self.stats.reads += 1;
        }
        if qemu_answer != model_answer {
            return Err(Mismatch {
                index,
                what: format!("{op:?}: QEMU answered {qemu_answer:?}, the model {model_answer:?}"),
            });
        }
        if self.qemu.irq() != self.model.fdc.irq() {
            return Err(Mismatch {
                index,
                what: format!(
                    "after {op:?}: QEMU IRQ {}, model IRQ {}",
                    self.qemu.irq(),
                    self.model.fdc.irq()
                ),
            });
        }
        Ok(model_answer)
    }

    /// A step that would end on, or one or two clock steps before, the READ ID deadline
    /// is lengthened to end one clock step after it. At the deadline instant itself,
    /// whether QEMU stopped by the watchdog has already run the timer is a race (seen both
    /// ways); just before it, the oracle cannot stop (its HPET marker, rounded up, falls on
    /// the deadline). Neither boundary is a property of the controller.
    fn step_avoiding_deadline(&self, ns: u64) -> u64 {
        let f = &self.model.fdc;
        let end = f.now() + ns;
        match f.result_timer() {
            Some(d) if d >= end && d <= end + 2 * CLOCK_STEP_NS => d - f.now() + CLOCK_STEP_NS,
            _ => ns,
        }
    }

    /// Advances the model like the QEMU step that just ran: timers due exactly at the end
    /// wait for the next step, unless that QEMU step lost its watchdog stop and so sat
    /// running at the target instant, where they ran.
    fn advance_model(&mut self, ns: u64) {
        let lost = self.qemu.lost_stops() as usize;
        let t = self.model.fdc.now() + ns;
        if lost > self.stats.lost_stops {
            self.stats.lost_stops = lost;
            self.model.fdc.advance_to(t);
        } else {
            self.model.fdc.advance_to_exclusive(t);
        }
    }

    /// Migrates QEMU to a file and compares the fdc section with the model's state, then
    /// compares the DMA buffer. QEMU inactivates its disks after a migration and will not
    /// migrate again before it ran; the advance that follows (on both sides) resumes it.
    pub fn compare_migration(&mut self, index: usize) -> Result<(), Mismatch> {
        let mig = self
            .qemu
            .migrate()
            .map_err(|e| Self::qerr(index, &Op::Migrate, e))?;
        self.model.run_pending_dma();
        self.stats.migrations += 1;
        let state = self.model.fdc.state();
        let ours = wire::encode(&state);
        let qemu_subs = mig.subsections.join(",");
        let mut seen = mig.subsections.clone();
        seen.dedup();
        for name in seen {
            *self.stats.subsections.entry(name).or_default() += 1;
        }
        let model_subs = {
            let mut v = Vec::new();
            for d in &state.drives {
                for (name, present) in [
                    ("fdrive/media_changed", d.media_changed.is_some()),
                    ("fdrive/media_rate", d.media_rate.is_some()),
                    ("fdrive/perpendicular", d.perpendicular.is_some()),
                ] {
                    if present {
                        v.push(name);
                    }
                }
            }
            for (name, present) in [
                ("fdc/reset_sensei", state.reset_sensei.is_some()),
                ("fdc/result_timer", state.result_timer.is_some()),
                ("fdc/phase", state.phase.is_some()),
            ] {
                if present {
                    v.push(name);
                }
            }
            v.join(",")
        };
        if qemu_subs != model_subs {
            return Err(Mismatch {
                index,
                what: format!("subsections: QEMU [{qemu_subs}], model [{model_subs}]"),
            });
        }
        if ours != mig.fdc_section {
            let detail = match wire::decode(&mig.fdc_section) {
                Ok((q, _)) => field_diff(&q, &state),
                Err(e) => format!("QEMU's section does not decode: {e}"),
            };
            return Err(Mismatch {
                index,
                what: format!("fdc section differs: {detail}"),
            });
        }
        self.qemu
            .advance_ns(RESUME_NS)
            .map_err(|e| Self::qerr(index, &Op::Migrate, e))?;
        self.advance_model(RESUME_NS);
        let q = self
            .qemu
            .read_mem(DMA_BUF as u64, 2048)
            .map_err(|e| Self::qerr(index, &Op::Migrate, e))?;
        let mut m = vec![0u8; 2048];
        self.model.memory.read(DMA_BUF as u64, &mut m);
        self.stats.memory_checks += 1;
        if q != m {
            let at = q.iter().zip(&m).position(|(a, b)| a != b).unwrap_or(0);
            return Err(Mismatch {
                index,
                what: format!(
                    "DMA buffer differs at +{at}: QEMU {:#04x}, model {:#04x}",
                    q[at], m[at]
                ),
            });
        }
        Ok(())
    }
}

/// A readable list of the fields that differ.
pub fn field_diff(q: &fdc::FdcState, m: &fdc::FdcState) -> String {
    let qs = format!("{q:?}");
    let ms = format!("{m:?}");
    let split = |s: &str| s.split(", ").map(str::to_owned).collect::<Vec<_>>();
    let (qv, mv) = (split(&qs), split(&ms));
    let mut out = String::new();
    for (a, b) in qv.iter().zip(mv.iter()) {
        if a != b {
            let _ = write!(out, "[QEMU {a} / model {b}] ");
        }
    }
    if out.is_empty() {
        out = "(same decoded fields, different bytes)".into();
    }
    out
}

/// Runs `ops` on a fresh pair; returns the first mismatch.
pub fn run_ops(slots: &[Slot; 2], ops: &[Op], images: PathBuf) -> Result<Stats, Mismatch> {
    let mut pair = Pair::start(slots, images).map_err(|what| Mismatch { index: 0, what })?;
    for (i, op) in ops.iter().enumerate() {
        pair.step(i, op)?;
    }
    Ok(pair.stats)
}

/// Shrinks a failing op list by removing chunks while it still fails (ddmin-style), at
/// most `budget` QEMU runs. Returns the smallest failing list found and its mismatch.
pub fn shrink(
    slots: &[Slot; 2],
    ops: Vec<Op>,
    first: Mismatch,
    images: PathBuf,
    budget: usize,
) -> (Vec<Op>, Mismatch) {
    let mut best = ops[..=first.index.min(ops.len().saturating_sub(1))].to_vec();
    let mut best_m = first;
    let mut runs = 0;
    let mut chunk = best.len() / 2;
    while chunk >= 1 && runs < budget {
        let mut start = 0;
        let mut progressed = false;
        while start < best.len() && runs < budget {
            let end = (start + chunk).min(best.len());
            let candidate: Vec<Op> = best[..start].iter().chain(&best[end..]).cloned().collect();
            runs += 1;
            if candidate.is_empty() {
                start = end;
                continue;
            }
            match run_ops(slots, &candidate, images.clone()) {
                Err(m) if !m.what.starts_with("QEMU failed") => {
                    best = candidate[..=m.index.min(candidate.len() - 1)].to_vec();
                    best_m = m;
                    progressed = true;
                }
                _ => start = end,
            }
        }
        if !progressed {
            chunk /= 2;
        }
    }
    (best, best_m)
}

/// The drive set-ups instances rotate through.
pub fn slot_setups() -> Vec<[Slot; 2]> {
    let b = |bytes, read_only| Slot::Blank { bytes, read_only };
    vec![
        [b(1_474_560, false), Slot::Absent],
        [b(1_474_560, false), b(1_474_560, false)],
        [Slot::Empty, Slot::Absent],
        [b(737_280, false), Slot::Empty],
        [b(2_949_120, false), Slot::Absent],
        [b(1_474_560, true), b(737_280, false)],
        [b(368_640, false), Slot::Absent],
        [b(1_228_800, false), b(1_474_560, true)],
    ]
}

/// Parameters of a conformance run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub seed: u64,
    pub instances: usize,
    pub sequences_per_instance: usize,
    /// Migrate after about one op in this many (plus after every sequence with
    /// probability 1/4).
    pub migrate_every: usize,
    pub workdir: PathBuf,
    pub shrink_budget: usize,
}

/// Result of a conformance run: counters, and the first mismatch (shrunk) if any.
pub struct Outcome {
    pub stats: Stats,
    pub failure: Option<(usize, [Slot; 2], Vec<Op>, Mismatch)>,
}

/// Runs one instance of a plan: `plan.sequences_per_instance` sequences on one QEMU.
pub fn run_instance(plan: &Plan, instance: usize) -> Outcome {
    let setups = slot_setups();
    let slots = setups[instance % setups.len()].clone();
    let mut rng = Rng::new(plan.seed ^ (instance as u64).wrapping_mul(0x1234_5678_9ABC));
    let images = plan.workdir.join(format!("instance-{instance}"));
    let mut ops = Vec::new();
    for _ in 0..plan.sequences_per_instance {
        generate_sequence(&mut rng, &mut ops);
        if rng.below(4) == 0 || rng.below(plan.migrate_every as u64) < 8 {
            ops.push(Op::Migrate);
        }
    }
    let mut stats = Stats {
        instances: 1,
        sequences: plan.sequences_per_instance,
        ..Stats::default()
    };
    let run = || {
        Pair::start(&slots, images.clone())
            .map_err(|what| Mismatch { index: 0, what })
            .and_then(|mut pair| {
                for (i, op) in ops.iter().enumerate() {
                    pair.step(i, op)?;
                }
                Ok(pair.stats)
            })
    };
    // An oracle failure (QEMU did not answer, a time step overshot) is not a verdict on
    // the model: run the instance once more on a fresh QEMU, and count it.
    let mut result = run();
    if matches!(&result, Err(m) if m.what.starts_with("QEMU failed")) {
        stats.oracle_retries += 1;
        result = run();
    }
    let outcome = match result {
        Ok(s) => {
            stats.add(&s);
            Outcome {
                stats,
                failure: None,
            }
        }
        Err(m) => {
            let (small, m) = shrink(&slots, ops, m, images.join("shrink"), plan.shrink_budget);
            Outcome {
                stats,
                failure: Some((instance, slots, small, m)),
            }
        }
    };
    let _ = std::fs::remove_dir_all(&images);
    outcome
}

/// Formats a failure so it can be pasted into a test.
pub fn describe_failure(instance: usize, slots: &[Slot; 2], ops: &[Op], m: &Mismatch) -> String {
    let mut s = format!(
        "instance {instance}, drives {slots:?}: mismatch after op {}: {}\nops:\n",
        m.index, m.what
    );
    for (i, op) in ops.iter().enumerate() {
        let _ = writeln!(s, "  {i:4}: {op:?}");
    }
    s
}

/// `fdc-replay conformance`: the differential test as a command.
#[derive(clap::Args, Debug)]
pub struct ConformanceArgs {
    /// QEMU instances to run (each runs its sequences back to back).
    #[arg(long, default_value_t = 4)]
    pub instances: usize,
    /// Sequences per instance.
    #[arg(long, default_value_t = 50)]
    pub sequences: usize,
    /// Seed of the generator (the same seed gives the same operations).
    #[arg(long, default_value_t = 0x0F1D_2026)]
    pub seed: u64,
    /// QEMU runs the shrinker may spend on a mismatch.
    #[arg(long, default_value_t = 100)]
    pub shrink: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Runs a plan with up to `threads` QEMUs at once; results in instance order.
pub fn run_plan(plan: &Plan, threads: usize) -> Vec<Outcome> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= plan.instances {
                    break;
                }
                let outcome = run_instance(plan, i);
                if let Ok(mut r) = results.lock() {
                    r.push((i, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, o)| o).collect()
}

/// Entry point of the subcommand: exit code 0 when the model agrees with QEMU everywhere.
pub fn run_cli(args: ConformanceArgs) -> anyhow::Result<i32> {
    fdc_oracle::find_qemu(&fdc_oracle::default_qemu())?;
    let plan = Plan {
        seed: args.seed,
        instances: args.instances,
        sequences_per_instance: args.sequences,
        migrate_every: 400,
        workdir: std::env::temp_dir().join(format!("fdc-conformance-{}", std::process::id())),
        shrink_budget: args.shrink,
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(4);
    let outcomes = run_plan(&plan, threads);
    let _ = std::fs::remove_dir_all(&plan.workdir);
    let mut total = Stats::default();
    let mut failures = Vec::new();
    for o in &outcomes {
        total.add(&o.stats);
        if let Some((i, slots, ops, m)) = &o.failure {
            failures.push(describe_failure(*i, slots, ops, m));
        }
    }
    match args.format {
        Format::Text => {
            println!(
                "{} QEMU instances, {} sequences, {} ops, {} reads compared, {} migration points compared, {} mismatching instance(s)",
                total.instances, total.sequences, total.ops, total.reads, total.migrations, failures.len()
            );
            println!(
                "points at which QEMU sent each subsection: {:?}",
                total.subsections
            );
            for f in &failures {
                println!("{f}");
            }
        }
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "instances": total.instances, "sequences": total.sequences, "ops": total.ops,
                "reads": total.reads, "migrations": total.migrations,
                "memory_checks": total.memory_checks, "subsections": total.subsections,
                "failures": failures,
            })
        ),
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}
