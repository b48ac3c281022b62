//! The byte format of `fdc_pio` inputs: a configuration byte, then a sequence of
//! operations of [`fdc::ops::Op`], each one a tag byte and its operands.
//!
//! A dense hand-made format rather than `#[derive(Arbitrary)]` on `Op`: with the derive,
//! a port is a random `u16` and only 15 of 65536 values reach the controller, which costs
//! the fuzzer orders of magnitude in finding multi-byte commands. Here every tag is
//! meaningful, FIFO traffic has most of the tag space, and [`encode`] is an exact inverse
//! so that recorded traces become seeds (see `tests/corpus.rs`).
//!
//! ```text
//! byte 0            configuration: drive 0 = drive_config(b + 2), drive 1 = drive_config(b >> 3);
//!                   bit 6: the ops start with DMA_PRELUDE (channel 2 programmed and unmasked)
//! then, per op, tag t (kind = t >> 4, n = t & 15) and operands:
//!   0x0n v          Out  PORTS[n], v          (n = 15: port = next u16 LE, then v)
//!   0x1n            In   PORTS[n]             (n = 15: port = next u16 LE)
//!   0x2n lo hi      OutW 0x3F0 + (n & 7), value u16 LE
//!   0x3n            InW  0x3F0 + (n & 7)
//!   0x4n            Advance ADVANCE[n]; n = 14: next u32 LE ns; n = 15: next u64 LE ns
//!   0x5n            Eject drive n & 1
//!   0x6n s          Insert drive n & 1, size index s (fdc::ops::medium_size), read-only if n & 2
//!   0x7n a0 a1 a2 l0 l1 s   Fill addr (24-bit LE), len (u16 LE & 0x7FF), seed s
//!   0x80, 0x83      Migrate (at most MAX_MIGRATIONS per input are carried out)
//!   0x81 n v        Out 0x3F5, v, repeated 2 * (n + 1) times (2..512: a PIO sector's data)
//!   0x82 n          In  0x3F5, repeated 2 * (n + 1) times
//!   0x84..0xBF v    Out 0x3F5, v              (FIFO write)
//!   0xCn b0..bn     Out 0x3F5 of each of the n + 1 bytes (a command in one burst)
//!   0xDn            In  0x3F5                 (FIFO read)
//!   0xEn            In  0x3F4                 (MSR poll)
//!   0xFn a0 a1 p c0 c1   DMA channel 2 program: clear flip-flop, mode DMA_MODES[n & 3],
//!                   address a, page p, count c, then unmask if n & 4 is clear (8 Out ops)
//! ```
//! An op whose operands are cut off by the end of the input is dropped.

use fdc::ops::{Answer, Op};
use fdc::ports::{self, i8257, FDC_BASE, FIFO, MSR};
use fdc::{DriveConfig, Medium, PcFloppy};

/// Applies `op` to the model through the one interpreter ([`fdc::ops::apply`]). The
/// harnesses only make ops the model accepts (drives 0 and 1), so a refusal is a bug of
/// the harness and panics.
pub fn apply(pc: &mut PcFloppy, op: &Op) -> Answer {
    match fdc::ops::apply(pc, op) {
        Ok(a) => a,
        Err(e) => panic!("the model refused {op:?}: {e}"),
    }
}

/// Ports reachable by tag `0x0n`/`0x1n` (index 15 takes an explicit port).
pub const PORTS: [u16; 15] = [
    ports::SRA,
    ports::SRB,
    ports::DOR,
    ports::TDR,
    MSR,
    FIFO,
    ports::IDE_SHARED,
    ports::DIR,
    i8257::ADDR2,
    i8257::COUNT2,
    i8257::REQUEST,
    i8257::MASK,
    i8257::MODE,
    i8257::CLEAR_FLIP_FLOP,
    i8257::PAGE2,
];

/// Time steps of tag `0x4n` (n < 14), around the READ ID delay of 20 ms.
pub const ADVANCE: [u64; 14] = [
    1,
    10,
    100,
    970,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    19_999_999,
    20_000_000,
    20_000_001,
    100_000_000,
    1_000_000_000,
];

/// i8257 mode bytes of tag `0xFn` (channel 2): write to memory, read from memory,
/// verify, write to memory with address decrement.
pub const DMA_MODES: [u8; 4] = [0x46, 0x4A, 0x42, 0x66];

/// Drive configurations selectable by the configuration byte.
pub fn drive_config(index: u8) -> DriveConfig {
    match index & 7 {
        0 => DriveConfig::Absent,
        1 => DriveConfig::Empty,
        2 => DriveConfig::Medium(Medium::blank(1_474_560, false)),
        3 => DriveConfig::Medium(Medium::blank(737_280, false)),
        4 => DriveConfig::Medium(Medium::blank(2_949_120, false)),
        5 => DriveConfig::Medium(Medium::blank(1_228_800, false)),
        6 => DriveConfig::Medium(patterned_360k()),
        _ => DriveConfig::Medium(Medium::blank(1_474_560, true)),
    }
}

/// A 360 KB image whose every sector holds different bytes, so that reading the wrong
/// sector, or a destination reading other data than its source, shows in the data.
/// Built once; models share it copy-on-write.
pub fn patterned_360k() -> Medium {
    static IMAGE: std::sync::OnceLock<Medium> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let image = (0..368_640u32)
                .map(|i| ((i / 512).wrapping_mul(37) ^ (i % 512)) as u8)
                .collect();
            Medium::from_image(image, false)
        })
        .clone()
}

/// The two drive configurations of a configuration byte (0: 1.44 MB in drive 0, no drive 1).
pub fn configs(b: u8) -> (DriveConfig, DriveConfig) {
    (drive_config(b.wrapping_add(2)), drive_config(b >> 3))
}

/// The configuration byte for (drive 0 index, drive 1 index) in [`drive_config`] terms.
pub fn config_byte(d0: u8, d1: u8) -> u8 {
    (d0.wrapping_sub(2) & 7) | ((d1 & 7) << 3)
}

struct Cursor<'a> {
    data: &'a [u8],
}

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.data.len() < N {
            self.data = &[];
            return None;
        }
        let (head, rest) = self.data.split_at(N);
        self.data = rest;
        head.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take::<2>().map(u16::from_le_bytes)
    }
}

/// Decodes the ops after the configuration byte; `push` receives each op.
pub fn decode_ops(data: &[u8], mut push: impl FnMut(Op)) {
    let mut c = Cursor { data };
    while let Some(t) = c.u8() {
        if !decode_op(t, &mut c, &mut push) {
            return;
        }
    }
}

/// Decodes the op(s) of tag `t`, operands from `c`, into `push`; false when the input
/// ends inside them (the op is dropped and decoding stops).
fn decode_op(t: u8, c: &mut Cursor<'_>, push: &mut impl FnMut(Op)) -> bool {
    let n = t & 15;
    let fdc_port = FDC_BASE + u16::from(n & 7);
    let op = match t >> 4 {
        0 => port_n(n, c)
            .zip(c.u8())
            .map(|(port, value)| Op::Out { port, value }),
        1 => port_n(n, c).map(|port| Op::In { port }),
        2 => c.u16().map(|value| Op::OutW {
            port: fdc_port,
            value,
        }),
        3 => Some(Op::InW { port: fdc_port }),
        4 => advance(n, c).map(|ns| Op::Advance { ns }),
        5 => Some(Op::Eject { drive: n & 1 }),
        6 => c.u8().map(|size| Op::Insert {
            drive: n & 1,
            size,
            read_only: n & 2 != 0,
        }),
        7 => match (c.take::<3>(), c.u16(), c.u8()) {
            (Some(a), Some(len), Some(seed)) => Some(Op::Fill {
                addr: u32::from_le_bytes([a[0], a[1], a[2], 0]),
                len: len & 0x7FF,
                seed,
            }),
            _ => None,
        },
        8 if n == 0 || n == 3 => Some(Op::Migrate),
        8 if n < 3 => return fifo_run(n, c, push),
        8..=11 => c.u8().map(|value| Op::Out { port: FIFO, value }),
        12 => return burst(n, c, push),
        13 => Some(Op::In { port: FIFO }),
        14 => Some(Op::In { port: MSR }),
        _ => return dma_program(n, c, push),
    };
    match op {
        Some(op) => {
            push(op);
            true
        }
        None => false,
    }
}

/// The port of tag `0x0n`/`0x1n`: `PORTS[n]`, or for n = 15 the next u16.
fn port_n(n: u8, c: &mut Cursor<'_>) -> Option<u16> {
    if n == 15 {
        c.u16()
    } else {
        Some(PORTS[n as usize])
    }
}

/// The step of tag `0x4n`: `ADVANCE[n]`, or the next u32 (n = 14) or u64 (n = 15).
fn advance(n: u8, c: &mut Cursor<'_>) -> Option<u64> {
    match n {
        14 => c.take::<4>().map(|b| u32::from_le_bytes(b) as u64),
        15 => c.take::<8>().map(u64::from_le_bytes),
        _ => Some(ADVANCE[n as usize]),
    }
}

/// Tags 0x81/0x82: a run of FIFO accesses. A PIO sector is 512 of them, and a guest that
/// keeps writing parameters (CVE-2015-3456) needs as many; byte by byte the fuzzer would
/// need an input of over a kilobyte to express either.
fn fifo_run(n: u8, c: &mut Cursor<'_>, push: &mut impl FnMut(Op)) -> bool {
    let Some(k) = c.u8() else {
        return false;
    };
    let count = 2 * (k as usize + 1);
    let op = if n == 1 {
        let Some(value) = c.u8() else {
            return false;
        };
        Op::Out { port: FIFO, value }
    } else {
        Op::In { port: FIFO }
    };
    for _ in 0..count {
        push(op.clone());
    }
    true
}

/// Tag `0xCn`: n + 1 FIFO writes (a command in one burst).
fn burst(n: u8, c: &mut Cursor<'_>, push: &mut impl FnMut(Op)) -> bool {
    let Some(bytes) = c.data.get(..=n as usize) else {
        return false;
    };
    c.data = &c.data[n as usize + 1..];
    for &value in bytes {
        push(Op::Out { port: FIFO, value });
    }
    true
}

/// Tag `0xFn`: channel 2 programmed (flip-flop, mode, address, page, count), then
/// unmasked unless n & 4.
fn dma_program(n: u8, c: &mut Cursor<'_>, push: &mut impl FnMut(Op)) -> bool {
    let Some([a0, a1, page, c0, c1]) = c.take::<5>() else {
        return false;
    };
    for (port, value) in [
        (i8257::CLEAR_FLIP_FLOP, 0),
        (i8257::MODE, DMA_MODES[(n & 3) as usize]),
        (i8257::ADDR2, a0),
        (i8257::ADDR2, a1),
        (i8257::PAGE2, page),
        (i8257::COUNT2, c0),
        (i8257::COUNT2, c1),
    ] {
        push(Op::Out { port, value });
    }
    if n & 4 == 0 {
        push(Op::Out {
            port: i8257::MASK,
            value: 0x02,
        });
    }
    true
}

/// The ops configuration bit 6 puts first: channel 2 in mode 0x46 (write to memory),
/// address 0, page 0, count 0x1FF (one sector per transfer: the model's guest memory
/// costs a map look-up per byte, so long transfers dominate the run time), unmasked.
pub const DMA_PRELUDE: [Op; 8] = [
    Op::Out {
        port: i8257::CLEAR_FLIP_FLOP,
        value: 0,
    },
    Op::Out {
        port: i8257::MODE,
        value: 0x46,
    },
    Op::Out {
        port: i8257::ADDR2,
        value: 0,
    },
    Op::Out {
        port: i8257::ADDR2,
        value: 0,
    },
    Op::Out {
        port: i8257::PAGE2,
        value: 0,
    },
    Op::Out {
        port: i8257::COUNT2,
        value: 0xFF,
    },
    Op::Out {
        port: i8257::COUNT2,
        value: 0x01,
    },
    Op::Out {
        port: i8257::MASK,
        value: 0x02,
    },
];

/// Decodes a whole input (configuration byte, then ops): the configuration byte and the
/// ops, [`DMA_PRELUDE`] included when bit 6 asks for it.
pub fn decode_input(data: &[u8], mut push: impl FnMut(Op)) -> Option<u8> {
    let (&cfg, rest) = data.split_first()?;
    if cfg & 0x40 != 0 {
        DMA_PRELUDE.iter().cloned().for_each(&mut push);
    }
    decode_ops(rest, push);
    Some(cfg)
}

/// Encodes ops in the format [`decode_ops`] reads (without the configuration byte).
/// `Fill` lengths above 0x7FF are cut; runs of FIFO writes become bursts.
pub fn encode(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        let run = ops[i..]
            .iter()
            .take(16)
            .take_while(|op| matches!(op, Op::Out { port: FIFO, .. }))
            .count();
        if run >= 2 {
            out.push(0xC0 | (run - 1) as u8);
            for op in &ops[i..i + run] {
                if let Op::Out { value, .. } = op {
                    out.push(*value);
                }
            }
            i += run;
            continue;
        }
        let op = &ops[i];
        i += 1;
        match *op {
            Op::Out { port: FIFO, value } => out.extend([0x90, value]),
            Op::Out { port, value } => match PORTS.iter().position(|&p| p == port) {
                Some(i) => out.extend([i as u8, value]),
                None => {
                    out.push(0x0F);
                    out.extend(port.to_le_bytes());
                    out.push(value);
                }
            },
            Op::In { port: FIFO } => out.push(0xD0),
            Op::In { port: MSR } => out.push(0xE0),
            Op::In { port } => match PORTS.iter().position(|&p| p == port) {
                Some(i) => out.push(0x10 | i as u8),
                None => {
                    out.push(0x1F);
                    out.extend(port.to_le_bytes());
                }
            },
            Op::OutW { port, value } if ports::in_fdc_window(port) => {
                out.push(0x20 | (port - FDC_BASE) as u8);
                out.extend(value.to_le_bytes());
            }
            Op::OutW { port, value } => {
                // Outside the FDC a word write is a byte write of the low byte.
                out.push(0x0F);
                out.extend(port.to_le_bytes());
                out.push(value as u8);
            }
            Op::InW { port } if ports::in_fdc_window(port) => {
                out.push(0x30 | (port - FDC_BASE) as u8)
            }
            Op::InW { .. } => {}
            Op::Advance { ns } => match ADVANCE.iter().position(|&a| a == ns) {
                Some(i) => out.push(0x40 | i as u8),
                None if ns <= u32::MAX as u64 => {
                    out.push(0x4E);
                    out.extend((ns as u32).to_le_bytes());
                }
                None => {
                    out.push(0x4F);
                    out.extend(ns.to_le_bytes());
                }
            },
            Op::Eject { drive } => out.push(0x50 | (drive & 1)),
            Op::Insert {
                drive,
                size,
                read_only,
            } => out.extend([0x60 | (drive & 1) | if read_only { 2 } else { 0 }, size]),
            Op::Fill { addr, len, seed } => {
                out.push(0x70);
                out.extend(&addr.to_le_bytes()[..3]);
                out.extend((len & 0x7FF).to_le_bytes());
                out.push(seed);
            }
            Op::Migrate => out.push(0x80),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let ops = vec![
            Op::Out {
                port: 0x3F5,
                value: 0xE6,
            },
            Op::Out {
                port: 0x3F2,
                value: 0x1C,
            },
            Op::Out {
                port: 0x1234,
                value: 7,
            },
            Op::In { port: 0x3F5 },
            Op::In { port: 0x3F4 },
            Op::In { port: 0x3F7 },
            Op::In { port: 0x80 },
            Op::OutW {
                port: 0x3F4,
                value: 0x0500,
            },
            Op::InW { port: 0x3F1 },
            Op::Advance { ns: 20_000_000 },
            Op::Advance { ns: 12345 },
            Op::Advance { ns: 1 << 40 },
            Op::Eject { drive: 1 },
            Op::Insert {
                drive: 0,
                size: 3,
                read_only: true,
            },
            Op::Fill {
                addr: 0x12345,
                len: 512,
                seed: 9,
            },
            Op::Migrate,
        ];
        let mut back = Vec::new();
        decode_ops(&encode(&ops), |op| back.push(op));
        assert_eq!(back, ops);
    }

    #[test]
    fn fifo_runs() {
        let mut ops = Vec::new();
        decode_ops(&[0x81, 0x02, 0x4A, 0x82, 0xFF, 0x83], |op| ops.push(op));
        let write = Op::Out {
            port: 0x3F5,
            value: 0x4A,
        };
        assert_eq!(ops.len(), 6 + 512 + 1);
        assert!(ops[..6].iter().all(|op| *op == write));
        assert!(ops[6..518].iter().all(|op| *op == Op::In { port: 0x3F5 }));
        assert_eq!(ops[518], Op::Migrate);
        // A run whose value byte is cut off is dropped with the rest of the input.
        let mut cut = Vec::new();
        decode_ops(&[0xE0, 0x81, 0x02], |op| cut.push(op));
        assert_eq!(cut, vec![Op::In { port: 0x3F4 }]);
    }

    #[test]
    fn config_byte_inverse() {
        for d0 in 0..8 {
            for d1 in 0..8 {
                let (a, b) = configs(config_byte(d0, d1));
                assert_eq!((a, b), (drive_config(d0), drive_config(d1)));
            }
        }
        assert_eq!(configs(0).0, drive_config(2));
    }
}
