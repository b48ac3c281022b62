//! Properties that must hold after every operation of any sequence: no panic, no state in
//! which QEMU would abort, phase and MSR consistent, `fdc/phase` never needed (the claim
//! the fuzzers try to break), and lossless migration state codecs.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::ops::Op;
use fdc::{wire, DriveConfig, Fdc, FdcState, Medium, PcFloppy};
use proptest::prelude::*;

/// Ops biased towards what exercises the controller: FDC ports, valid opcodes with
/// plausible parameters, DMA programming, time, media changes.
fn op() -> impl Strategy<Value = Op> {
    let fdc_port = prop_oneof![
        Just(0x3F2u16),
        Just(0x3F4),
        Just(0x3F5),
        Just(0x3F5),
        Just(0x3F7),
        0x3F0u16..0x3F8
    ];
    let dma_port = prop_oneof![
        Just(0x04u16),
        Just(0x05),
        Just(0x09),
        Just(0x0A),
        Just(0x0B),
        Just(0x0C),
        Just(0x81)
    ];
    let opcode = prop_oneof![
        Just(0x06u8),
        Just(0xE6),
        Just(0x45),
        Just(0xC5),
        Just(0x16),
        Just(0x11),
        Just(0x19),
        Just(0x1D),
        Just(0x02),
        Just(0x0D),
        Just(0x4A),
        Just(0x07),
        Just(0x08),
        Just(0x03),
        Just(0x04),
        Just(0x0F),
        Just(0x8F),
        Just(0xCF),
        Just(0x0E),
        Just(0x10),
        Just(0x12),
        Just(0x13),
        Just(0x14),
        Just(0x94),
        Just(0x17),
        Just(0x18),
        Just(0x2E),
        Just(0x33),
        Just(0x4E),
        Just(0x8E),
        Just(0xCD),
        Just(0x0C),
        Just(0x09),
        any::<u8>()
    ];
    prop_oneof![
        4 => (fdc_port.clone(), any::<u8>()).prop_map(|(port, value)| Op::Out { port, value }),
        3 => opcode.prop_map(|value| Op::Out { port: 0x3F5, value }),
        4 => (0u8..20).prop_map(|value| Op::Out { port: 0x3F5, value }),
        1 => prop_oneof![Just(0x0Cu8), Just(0x08), Just(0x1C), Just(0x04), Just(0x0D)].prop_map(|value| Op::Out { port: 0x3F2, value }),
        6 => fdc_port.prop_map(|port| Op::In { port }),
        4 => Just(Op::In { port: 0x3F5 }),
        2 => (dma_port, any::<u8>()).prop_map(|(port, value)| Op::Out { port, value }),
        1 => prop_oneof![Just(0x46u8), Just(0x4A), Just(0x42), Just(0x02), Just(0x06)].prop_map(|value| Op::Out { port: 0x0B, value }),
        1 => (0x3F1u16..0x3F8, any::<u16>()).prop_map(|(port, value)| Op::OutW { port, value }),
        1 => (0x3F1u16..0x3F8).prop_map(|port| Op::InW { port }),
        1 => prop_oneof![Just(1u64), Just(1_000_000), Just(20_000_000), any::<u32>().prop_map(u64::from)].prop_map(|ns| Op::Advance { ns }),
        1 => (0u8..2).prop_map(|drive| Op::Eject { drive }),
        1 => (0u8..2, any::<u8>(), any::<bool>()).prop_map(|(drive, size, read_only)| Op::Insert { drive, size, read_only }),
        1 => Just(Op::Migrate),
    ]
}

fn check(pc: &PcFloppy, step: usize, op: &Op) -> Result<FdcState, TestCaseError> {
    let f = &pc.fdc;
    prop_assert_eq!(f.fault(), None, "step {} {:?}: QEMU would abort", step, op);
    prop_assert!(
        f.check_invariants().is_ok(),
        "step {} {:?}: {:?}",
        step,
        op,
        f.check_invariants()
    );
    prop_assert!(
        !f.phase_needed(),
        "step {} {:?}: fdc/phase needed: phase {:?} msr {:#04x}",
        step,
        op,
        f.phase(),
        f.msr()
    );
    prop_assert_eq!(f.irq(), f.sra() & 0x80 != 0);
    let state = f.state();
    let (decoded, _) =
        wire::decode(&wire::encode(&state)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&decoded, &state);
    let back = FdcState::from_msgpack(&state.to_msgpack())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, &state);
    Ok(state)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn no_op_sequence_breaks_the_model(ops in proptest::collection::vec(op(), 1..400), with_medium in any::<bool>(), second in any::<bool>()) {
        let d0 = if with_medium { DriveConfig::Medium(Medium::blank(1_474_560, false)) } else { DriveConfig::Empty };
        let d1 = if second { DriveConfig::Medium(Medium::blank(737_280, false)) } else { DriveConfig::Absent };
        let mut pc = PcFloppy::new(Fdc::new(d0, d1));
        for (step, op) in ops.iter().enumerate() {
            fdc::ops::apply(&mut pc, op).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let state = check(&pc, step, op)?;
            if *op == Op::Migrate {
                let f = &pc.fdc;
                let restored = Fdc::from_state(&state, f.destination_config(0), f.destination_config(1), f.now());
                prop_assert!(restored.is_ok(), "step {}: a reachable state was refused: {:?}", step, restored.err());
                if let Ok(restored) = restored {
                    prop_assert_eq!(restored.state(), state);
                    pc.fdc = restored;
                }
            }
        }
    }
}
