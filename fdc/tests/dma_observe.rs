//! `Fdc::dma_transfer_observing`: every state it shows is exactly the state a channel
//! whose terminal count comes at that byte count leaves (checked against
//! `dma_transfer` with such a channel), for READ, WRITE, VERIFY and SCAN commands,
//! single- and multi-track, ending inside and at the end of the track.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc::{DmaChannel, DriveConfig, Fdc, Medium};

/// A channel of `len` bytes over a patterned memory (what READs write is discarded).
struct Counted(u32);

impl DmaChannel for Counted {
    fn transfer_len(&self) -> u32 {
        self.0
    }
    fn write_memory(&mut self, _pos: u32, _data: &mut [u8]) {}
    fn read_memory(&mut self, pos: u32, buf: &mut [u8]) -> bool {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (pos as usize + i) as u8 ^ 0x5a;
        }
        true
    }
}

fn image() -> Vec<u8> {
    (0..1_474_560usize)
        .map(|i| (i / 512) as u8 ^ (i as u8))
        .collect()
}

/// A controller with DMA requested for `cmd` (9 bytes), on a 1.44 MB patterned medium.
fn pending(cmd: &[u8; 9]) -> Fdc {
    let mut f = Fdc::new(
        DriveConfig::Medium(Medium::from_image(image(), false)),
        DriveConfig::Absent,
    );
    f.write(2, 0x08);
    f.write(2, 0x1c);
    for _ in 0..4 {
        f.write(5, 0x08);
        f.read(5);
        f.read(5);
    }
    for &b in cmd {
        f.write(5, b);
    }
    f
}

#[test]
fn observed_states_equal_counted_transfers() {
    let cmds: [[u8; 9]; 6] = [
        [0xe6, 0, 3, 0, 1, 2, 18, 0x1b, 0xff], // READ MT, from sector 1
        [0x46, 4, 7, 1, 5, 2, 18, 0x1b, 0xff], // READ head 1, from sector 5
        [0xc5, 0, 9, 0, 17, 2, 18, 0x1b, 0xff], // WRITE MT, across heads
        [0x45, 0, 2, 0, 3, 2, 10, 0x1b, 0xff], // WRITE, EOT 10
        [0xf1, 0, 4, 0, 1, 2, 18, 0x1b, 0xff], // SCAN EQUAL (stops on a match or not)
        [0xe6, 0, 79, 1, 18, 2, 18, 0x1b, 0xff], // READ MT at the last sector
    ];
    let mut shown_total = 0;
    for cmd in &cmds {
        let start = pending(cmd);
        assert!(start.dreq(), "{cmd:02x?}: no DMA request");
        let mut shown: Vec<(u32, Fdc)> = Vec::new();
        let mut whole = start.clone();
        let moved = whole.dma_transfer_observing(&mut Counted(u32::MAX), &mut |n, f| {
            shown.push((n, f.clone()));
            true
        });
        let mut plain = start.clone();
        assert_eq!(plain.dma_transfer(&mut Counted(u32::MAX)), moved);
        assert!(plain == whole, "{cmd:02x?}: observing changed the transfer");
        for (n, f) in &shown {
            let mut counted = start.clone();
            counted.dma_transfer(&mut Counted(*n));
            assert!(counted == *f, "{cmd:02x?}: state at {n} bytes differs");
            assert_eq!(counted.fifo()[..7], f.fifo()[..7]);
            assert_eq!(counted.state(), f.state());
        }
        let counts: Vec<u32> = shown.iter().map(|s| s.0).collect();
        let want: Vec<u32> = (1..).map(|k| k * 512).take_while(|&n| n < moved).collect();
        if cmd[0] & 0x1f != 0x11 {
            assert_eq!(counts, want, "{cmd:02x?}: every boundary before the end");
        }
        shown_total += shown.len();
    }
    assert!(shown_total > 40, "{shown_total}");
}

#[test]
fn observer_can_stop_early() {
    let start = pending(&[0xe6, 0, 3, 0, 1, 2, 18, 0x1b, 0xff]);
    let mut seen = 0;
    let mut f = start.clone();
    f.dma_transfer_observing(&mut Counted(u32::MAX), &mut |_, _| {
        seen += 1;
        seen < 3
    });
    assert_eq!(seen, 3);
    let mut plain = start;
    plain.dma_transfer(&mut Counted(u32::MAX));
    assert!(plain == f);
}
