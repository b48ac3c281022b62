//! `vmstate_load`: migration streams into both state loaders.
//!
//! Input: byte 0 = mode (bits 0-1) and drive configuration (bits 2-7, as `fdc_pio`'s
//! configuration byte).
//! - modes 0 and 1 (raw): bytes 1-2 = stream length L (u16 LE); the stream (bytes 3..3+L)
//!   goes to QEMU's wire decoder (mode 0) or the MessagePack decoder (mode 1); the rest is
//!   an op sequence in the `fdc_pio` format run on each loaded model.
//! - modes 2 and 3 (structure-aware): an `FdcState` built from the input with
//!   `arbitrary`, encoded (wire format for mode 2, MessagePack for mode 3), mutated by up to
//!   8 byte xors from the input, decoded and loaded; the rest of the input is the op
//!   sequence.
//!
//! Checked: no panic; every rejection has a non-empty reason; decode(encode(s)) == s for
//! both codecs; the strict loader accepts only what the unchecked one accepts, with the
//! same model; a strictly accepted state survives the ops with no QEMU abort (`fault`),
//! phase/MSR invariants, IRQ == SRA.INTPEND, `fdc/phase` not needed, and every state it
//! reaches is accepted again by the strict loader; an unchecked load survives the ops
//! without panicking (it may record a fault: that is the QEMU abort it models).

use arbitrary::{Result as AResult, Unstructured};
use fdc::ops::Op;
use fdc::{wire, Fdc, FdcState, FdriveState, PcFloppy, FIFO_LEN};

use crate::ops::{configs, decode_ops};
use crate::pio::{check, in_clock_domain, migrate};

fn reason<E: std::fmt::Display>(e: E, what: &str) {
    let text = e.to_string();
    assert!(
        !text.trim().is_empty(),
        "{what}: a rejection without a reason"
    );
}

fn opt<'a, T>(
    u: &mut Unstructured<'a>,
    f: impl FnOnce(&mut Unstructured<'a>) -> AResult<T>,
) -> AResult<Option<T>> {
    Ok(if u.arbitrary::<bool>()? {
        Some(f(u)?)
    } else {
        None
    })
}

fn small_or_any(u: &mut Unstructured<'_>, small: u32) -> AResult<u32> {
    Ok(if u.ratio(3, 4)? {
        u.int_in_range(0..=small)?
    } else {
        u.arbitrary()?
    })
}

fn drive(u: &mut Unstructured<'_>) -> AResult<FdriveState> {
    Ok(FdriveState {
        head: if u.ratio(7, 8)? {
            u.int_in_range(0..=1)?
        } else {
            u.arbitrary()?
        },
        track: u.arbitrary()?,
        sect: u.arbitrary()?,
        media_changed: opt(u, |u| {
            Ok(if u.ratio(7, 8)? {
                u.int_in_range(0..=1)?
            } else {
                u.arbitrary()?
            })
        })?,
        media_rate: opt(u, |u| {
            Ok(if u.ratio(7, 8)? {
                u.int_in_range(0..=3)?
            } else {
                u.arbitrary()?
            })
        })?,
        perpendicular: opt(u, |u| u.arbitrary())?,
    })
}

/// A state whose fields favour the values the controller uses (MSR patterns of each phase,
/// small FIFO counters, valid opcodes in `fifo[0]`) while any value stays possible.
pub fn arbitrary_state(u: &mut Unstructured<'_>) -> AResult<FdcState> {
    let mut fifo = [0u8; FIFO_LEN];
    let n = u.int_in_range(0..=16)?;
    for b in fifo.iter_mut().take(n) {
        *b = u.arbitrary()?;
    }
    let msrs = [
        0x80u8, 0x90, 0xD0, 0x10, 0xB0, 0xF0, 0x30, 0x00, 0x20, 0xA0, 0x50,
    ];
    Ok(FdcState {
        sra: u.arbitrary()?,
        srb: u.arbitrary()?,
        dor_vmstate: *u.choose(&[0x0C, 0x0D, 0x1C, 0x2D, 0x08, 0x04, 0x00, 0x3C])?
            ^ u.arbitrary::<u8>()? & 0xC3,
        tdr: u.arbitrary()?,
        dsr: if u.ratio(3, 4)? {
            u.int_in_range(0..=3)?
        } else {
            u.arbitrary()?
        },
        msr: if u.ratio(7, 8)? {
            *u.choose(&msrs)?
        } else {
            u.arbitrary()?
        },
        status0: u.arbitrary()?,
        status1: u.arbitrary()?,
        status2: u.arbitrary()?,
        fifo,
        data_pos: small_or_any(u, 520)?,
        data_len: small_or_any(u, 520)?,
        data_state: if u.ratio(7, 8)? {
            u.int_in_range(0..=3)?
        } else {
            u.arbitrary()?
        },
        data_dir: if u.ratio(7, 8)? {
            u.int_in_range(0..=5)?
        } else {
            u.arbitrary()?
        },
        eot: u.arbitrary()?,
        timer0: u.arbitrary()?,
        timer1: u.arbitrary()?,
        precomp_trk: u.arbitrary()?,
        config: u.arbitrary()?,
        lock: u.arbitrary()?,
        pwrd: u.arbitrary()?,
        num_floppies: if u.ratio(15, 16)? { 2 } else { u.arbitrary()? },
        drives: [drive(u)?, drive(u)?],
        reset_sensei: opt(u, |u| {
            Ok(if u.ratio(7, 8)? {
                u.int_in_range(0..=4)?
            } else {
                u.arbitrary()?
            })
        })?,
        result_timer: opt(u, |u| {
            Ok(*u.choose(&[
                -1i64,
                0,
                20_000_000,
                1_000_000_000,
                1_020_000_000,
                -2,
                i64::MAX,
                i64::MIN,
            ])?)
        })?,
        phase: opt(u, |u| {
            Ok(if u.ratio(7, 8)? {
                u.int_in_range(0..=3)?
            } else {
                u.arbitrary()?
            })
        })?,
    })
}

/// Loads one decoded state every way and runs the ops on each result.
pub fn load_and_run(state: &FdcState, cfg: u8, now: u64, ops: &[Op]) {
    // Codec round trips.
    let (again, _) =
        wire::decode(&wire::encode(state)).expect("wire: decode(encode(state)) failed");
    assert_eq!(&again, state, "wire: decode(encode(state)) != state");
    let again =
        FdcState::from_msgpack(&state.to_msgpack()).expect("msgpack: decode(encode(state)) failed");
    assert_eq!(&again, state, "msgpack: decode(encode(state)) != state");

    let (d0, d1) = configs(cfg);
    let strict = Fdc::from_state(state, d0.clone(), d1.clone(), now);
    let unchecked = Fdc::from_state_unchecked(state, d0.clone(), d1.clone(), now);
    if let Err(e) = &strict {
        reason(e, "from_state");
    }
    if let Err(e) = &unchecked {
        reason(e, "from_state_unchecked");
    }
    match (&strict, &unchecked) {
        (Ok(s), Ok(u)) => assert_eq!(s, u, "strict and unchecked loads of the same state differ"),
        (Ok(_), Err(e)) => panic!("strict loader accepted a state the unchecked one refuses: {e}"),
        _ => {}
    }
    if let Ok(f) = strict {
        let mut pc = PcFloppy::new(f);
        check(&pc.fdc, "loaded", 0, &Op::Migrate);
        for (step, op) in ops.iter().enumerate() {
            let step = step + 1;
            if *op == Op::Migrate {
                pc = migrate(&pc, step);
                continue;
            }
            let op = &in_clock_domain(op.clone(), &pc.fdc);
            crate::ops::apply(&mut pc, op);
            check(&pc.fdc, "loaded", step, op);
        }
    }
    if let Ok(f) = unchecked {
        let mut pc = PcFloppy::new(f);
        let _ = pc.fdc.state();
        for op in ops {
            crate::ops::apply(&mut pc, op);
            let _ = pc.fdc.state();
            if pc.fdc.fault().is_some() {
                // The model plays dead from here, as QEMU would have aborted.
                break;
            }
        }
    }
}

fn ops_of(data: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    decode_ops(data, |op| {
        if ops.len() < 4096 {
            ops.push(op)
        }
    });
    ops
}

fn decode_any(stream: &[u8], msgpack: bool) -> Option<FdcState> {
    if msgpack {
        match FdcState::from_msgpack(stream) {
            Ok(s) => Some(s),
            Err(e) => {
                reason(e, "msgpack decode");
                None
            }
        }
    } else {
        match wire::decode(stream) {
            Ok((s, _)) => Some(s),
            Err(e) => {
                reason(e, "wire decode");
                None
            }
        }
    }
}

/// Runs one `vmstate_load` input.
pub fn run(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let mode = head & 3;
    let cfg = head >> 2;
    let now = if cfg & 0x20 != 0 { 1_000_000_000 } else { 0 };
    if mode < 2 {
        if rest.len() < 2 {
            return;
        }
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let body = &rest[2..];
        let (stream, ops) = body.split_at(len.min(body.len()));
        if let Some(state) = decode_any(stream, mode == 1) {
            load_and_run(&state, cfg, now, &ops_of(ops));
        }
        // The prefix decoder must agree with the full one.
        if mode == 0 {
            if let Ok((s, _, used)) = wire::decode_prefix(stream) {
                assert!(
                    used <= stream.len(),
                    "decode_prefix consumed {used} of {} bytes",
                    stream.len()
                );
                let full =
                    wire::decode(&stream[..used]).expect("decode of decode_prefix's bytes failed");
                assert_eq!(full.0, s, "decode_prefix and decode disagree");
            }
        }
        return;
    }
    let mut u = Unstructured::new(rest);
    let Ok(state) = arbitrary_state(&mut u) else {
        return;
    };
    let msgpack = mode == 3;
    let mut bytes = if msgpack {
        state.to_msgpack()
    } else {
        wire::encode(&state)
    };
    let mutations = u.int_in_range(0..=8u8).unwrap_or(0);
    for _ in 0..mutations {
        let (Ok(pos), Ok(x)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
            break;
        };
        if !bytes.is_empty() {
            let i = pos as usize % bytes.len();
            bytes[i] ^= x;
        }
    }
    if u.ratio(1, 8).unwrap_or(false) {
        let cut = u.arbitrary::<u16>().unwrap_or(0) as usize % (bytes.len() + 1);
        bytes.truncate(cut);
    }
    let ops = ops_of(u.take_rest());
    if let Some(decoded) = decode_any(&bytes, msgpack) {
        if mutations == 0
            && bytes.len()
                == if msgpack {
                    state.to_msgpack().len()
                } else {
                    wire::encode(&state).len()
                }
        {
            assert_eq!(
                decoded, state,
                "an unmutated encoding decoded to another state"
            );
        }
        load_and_run(&decoded, cfg, now, &ops);
    }
}
