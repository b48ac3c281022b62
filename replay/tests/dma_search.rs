//! The DMA byte-count search of the replay (`service_dma`): it picks exactly what trying
//! every candidate count on its own copy of the model picks (the whole transfer, then 1,
//! 2, ... 256 sectors), for results that match the whole transfer, a shortened count, or
//! nothing; and a search that finds nothing on a 64 MiB medium changes the medium as the
//! whole transfer does and nothing else.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::{DriveConfig, Fdc, Medium, UnboundedChannel};
use fdc_replay::analysis::{service_dma, CountedChannel, Ev, EvKind, ReplayModel};

/// The reference: one model copy per candidate.
fn reference(f: &Fdc, want: [u8; 7]) -> (Option<u32>, Fdc) {
    let ok = |f: &Fdc| f.phase() == Some(fdc::Phase::Result) && f.fifo()[..7] == want;
    let mut whole = f.clone();
    whole.dma_transfer(&mut UnboundedChannel);
    if ok(&whole) {
        return (None, whole);
    }
    for k in 1..=f.data_len().div_ceil(512).min(256) {
        let mut c = f.clone();
        c.dma_transfer(&mut CountedChannel(k * 512));
        if ok(&c) {
            return (Some(k * 512), c);
        }
    }
    (None, whole)
}

fn result_reads(bytes: [u8; 7]) -> Vec<Ev> {
    bytes
        .iter()
        .map(|&value| Ev {
            t: 1_000_000,
            kind: EvKind::Read { offset: 5, value },
        })
        .collect()
}

fn pending(image: &[u8], cmd: &[u8; 9]) -> Fdc {
    let mut f = Fdc::new(
        DriveConfig::Medium(Medium::from_bytes(image, false)),
        DriveConfig::Absent,
    );
    f.write(2, 0x08);
    f.write(2, 0x1c);
    for _ in 0..4 {
        f.write(5, 0x08);
        f.read(5);
        f.read(5);
    }
    let rate = f.drive(0).media_rate();
    f.write(4, rate);
    for &b in cmd {
        f.write(5, b);
    }
    assert!(f.dreq(), "{cmd:02x?}");
    // What `service_dma` does first (the reference must start from the same state).
    f.take_dreq_asserted();
    f
}

#[test]
fn one_pass_search_picks_what_a_copy_per_candidate_picks() {
    let image: Vec<u8> = (0..1_474_560usize).map(|i| (i >> 9) as u8 | 1).collect();
    let cmds: [[u8; 9]; 4] = [
        [0xe6, 0, 3, 0, 1, 2, 18, 0x1b, 0xff],
        [0xc5, 4, 9, 1, 17, 2, 18, 0x1b, 0xff],
        [0x45, 0, 2, 0, 3, 2, 10, 0x1b, 0xff],
        [0xe6, 0, 79, 1, 18, 2, 18, 0x1b, 0xff],
    ];
    let mut kinds = [0u32; 3];
    for cmd in &cmds {
        let start = pending(&image, cmd);
        // Results to look for: the whole transfer's, each shortened count's, and junk.
        let mut wants = vec![[0xaa; 7]];
        let mut w = start.clone();
        w.dma_transfer(&mut UnboundedChannel);
        wants.push(w.fifo()[..7].try_into().unwrap());
        for k in 1..=start.data_len().div_ceil(512) {
            let mut c = start.clone();
            c.dma_transfer(&mut CountedChannel(k * 512));
            wants.push(c.fifo()[..7].try_into().unwrap());
        }
        for want in wants {
            let (count, ref_fdc) = reference(&start, want);
            let mut m = ReplayModel::new(start.clone());
            service_dma(&mut m, &result_reads(want));
            assert!(m.fdc == ref_fdc, "{cmd:02x?} {want:02x?}: state differs");
            let stats = m.dma;
            match count {
                Some(n) => {
                    assert_eq!(m.last_dma.unwrap().len, n);
                    assert_eq!(stats.shortened, 1);
                    kinds[1] += 1;
                }
                None if stats.whole == 1 => kinds[0] += 1,
                None => {
                    assert_eq!(stats.no_match, 1, "{cmd:02x?} {want:02x?}");
                    kinds[2] += 1;
                }
            }
        }
    }
    assert!(
        kinds.iter().all(|&k| k > 0),
        "every outcome exercised: {kinds:?}"
    );
}

/// A WRITE DATA whose result bytes match no count, on a 64 MiB medium: the search
/// leaves the whole transfer's state, and the medium shares all but the written sectors
/// with the one it started from (no copy of the medium per candidate).
#[test]
fn no_match_on_a_64_mib_medium_shares_the_medium() {
    let image: Vec<u8> = (0..64usize << 20).map(|i| (i >> 9) as u8 | 1).collect();
    let start = pending(&image, &[0xc5, 0, 5, 0, 1, 2, 36, 0x1b, 0xff]);
    let before = start.drive(0).medium().unwrap().stored_bytes();
    let mut m = ReplayModel::new(start.clone());
    service_dma(&mut m, &result_reads([0xaa; 7]));
    assert_eq!(m.dma.no_match, 1);
    let mut whole = start.clone();
    whole.dma_transfer(&mut UnboundedChannel);
    assert!(m.fdc == whole);
    // 72 sectors of zeros written: they now take no room, the rest is shared.
    let after = m.fdc.drive(0).medium().unwrap().stored_bytes();
    assert_eq!(before - after, 72 * 512, "{before} {after}");
}
