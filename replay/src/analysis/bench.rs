//! `fdc-replay bench`: generates a synthetic driver-like trace and measures
//! decode + replay + analysis throughput on one thread and on all threads, peak memory,
//! and (with `--oracle`) the speed of real QEMU on the same kind of trace.
//!
//! The generated trace is a loop of driver-like command sequences (reset and its four
//! SENSE INTERRUPTs, SPECIFY, SEEK + SENSE INTERRUPT, READ and WRITE through DMA, READ ID
//! with its 20 ms wait, DUMPREG, polls of MSR and DIR, stage markers, idle gaps), with
//! MSR polled before every FIFO byte. Its recorded read values are the model's own, so
//! `check` passes on it; its provenance is `driver-model`.
//!
//! # Measured (2025-11-26, 2-core AMD EPYC VM shared with fuzzers and QEMU runs: load
//! average 7-8, so wall times understate what an idle machine does; "CPU s" is the
//! process's own CPU time)
//!
//! 10 M events, gzip body (the format's default, 30.6 MB):
//!
//! | run | wall s | events/s | CPU s | events per CPU s | peak RSS MB |
//! |---|--:|--:|--:|--:|--:|
//! | decode only, 1 thread | 0.355 | 28.2 M | 0.346 | 28.9 M | 6.9 |
//! | decode+replay+analysis, 1 thread | 1.048 | 9.5 M | 0.939 | 10.7 M | 7.9 |
//! | decode+replay+analysis, 2 threads | 0.858 | 11.7 M | 0.805 | 12.4 M | 16.7 |
//!
//! 10 M events, uncompressed body (76 MB):
//!
//! | run | wall s | events/s | CPU s | events per CPU s | peak RSS MB |
//! |---|--:|--:|--:|--:|--:|
//! | decode only, 1 thread | 0.122 | 82.2 M | 0.121 | 82.3 M | 6.6 |
//! | decode+replay+analysis, 1 thread | 0.655 | 15.3 M | 0.628 | 15.9 M | 9.6 |
//! | decode+replay+analysis, 2 threads | 0.661 | 15.1 M | 0.630 | 15.9 M | 17.2 |
//!
//! Thread CPU time by part (gzip, 1 thread): reading + inflating 0.26 s (sequential),
//! decoding + replay + analysis 0.65 s (parallel), in-order resolution 0.03 s
//! (sequential), so on two idle cores the pipeline allows up to 2x; with two threads
//! 2-5 % of the events were replayed twice (speculation that had to be redone). The
//! machine gave the 2-thread runs about one core, so the measured speed-up (1.2x gzip,
//! 1.0x plain) says little. Real QEMU through the oracle (qtest `outb`/`inb`): 14 100
//! events/s, about 900 times slower than the model on one thread.
//!
//! # Memory with an embedded image (`--image-bytes`)
//!
//! The parallel replay keeps a model checkpoint every 256 events. The medium's content is
//! a copy-on-write tree of sectors (`fdc::media::Medium`), so a checkpoint costs the
//! sectors written since the previous one, not a medium. Measured 2026-12-02 (same
//! machine, busy), `report` peak RSS, the figure `bench --image-bytes N` prints:
//!
//! | trace | before (one medium copy per checkpoint written to) | after |
//! |---|--:|--:|
//! | 300 k events, 1.44 MB image, 1 / 2 threads | 316 / 735 MB | 10.6 / 25 MB |
//! | 10 k events, 64 MiB image, 1 / 2 threads | 2,057 / 2,058 MB (5.5 s) | 140 / 140 MB (0.4 s) |
//! | 1 M events (about 6,000 WRITE DATA), 64 MiB image, -j 1 / 2 / 8 | allocation fails | 143 / 143 / 143 MB |
//!
//! The 140 MB are the image twice while the model is built from the header's copy (which
//! is then dropped) plus the tree's per-sector overhead.
//! Measure with a trace generated beforehand (`bench --image-bytes N --trace F`, then
//! `bench --reuse --trace F`): right after generating, the generator's freed memory is
//! still resident and adds its own ~70 MB to the figures.
//!
//! Where the time goes (perf, gzip, 1 thread): inflate 24 %, the replay loop and
//! accounting 19 %, chunk decoding 10 %, and the model's DMA data path about 27 %, most
//! of it in `fdc::media::Medium::write_sector` (10 %: a byte-by-byte zero check of
//! every 512-byte sector written to a blank medium) and sector copies/fills.

use super::{apply, Ev, EvKind, ReplayError};
use crate::rng::Rng;
use fdc_trace::{
    Drive, DriveType, Event, Medium, Provenance, ProvenanceKind, TraceHeader, TraceWriter,
    WriteOptions,
};
use std::path::Path;

const DOR: u8 = 2;
const MSR: u8 = 4;
const FIFO: u8 = 5;
const DIR: u8 = 7;

/// Builds driver-like events, running the model to know what each read returns.
struct Gen {
    fdc: super::ReplayModel,
    /// The data rate drive 0's medium needs (DSR bits 0-1), programmed after each reset.
    rate: u8,
    t: u64,
    rng: Rng,
    out: Vec<Event>,
}

impl Gen {
    fn step(&mut self) -> u64 {
        self.t += 500 + self.rng.below(2500);
        self.t
    }
    fn push(&mut self, kind: EvKind) {
        let t = self.step();
        let ev = Ev { t, kind };
        let got = apply(&mut self.fdc, &ev, &[]).ok().flatten();
        self.out.push(match kind {
            EvKind::Read { offset, .. } => Event::PortRead {
                t_ns: t,
                offset,
                value: got.unwrap_or(0xff),
            },
            EvKind::Write { offset, value } => Event::PortWrite {
                t_ns: t,
                offset,
                value,
            },
            _ => return,
        });
    }
    fn read(&mut self, offset: u8) {
        self.push(EvKind::Read { offset, value: 0 });
    }
    fn write(&mut self, offset: u8, value: u8) {
        self.push(EvKind::Write { offset, value });
    }
    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.read(MSR);
            self.write(FIFO, b);
        }
    }
    fn results(&mut self) {
        // Read result bytes while MSR says RQM|DIO.
        for _ in 0..16 {
            self.read(MSR);
            if self.fdc.fdc.msr() & 0xc0 != 0xc0 {
                break;
            }
            self.read(FIFO);
        }
    }
    fn sense(&mut self) {
        self.send(&[0x08]);
        self.results();
    }
    fn gap(&mut self, ns: u64) {
        self.t += ns;
    }
    fn stage(&mut self, label: &str) {
        let t = self.step();
        self.out.push(Event::Stage {
            t_ns: t,
            label: label.to_string(),
        });
    }

    fn iteration(&mut self, i: u64) {
        if i.is_multiple_of(256) {
            let stages = ["probe", "read", "write", "seek", "idle"];
            self.stage(stages[((i / 256) % stages.len() as u64) as usize]);
            self.write(DOR, 0x08);
            self.write(DOR, 0x0c);
            for _ in 0..4 {
                self.sense();
            }
            if self.rate != 0 {
                self.write(MSR, self.rate); // DSR: the medium's data rate
            }
            self.send(&[0x03, 0xaf, 0x02]); // SPECIFY, DMA
        }
        let track = self.rng.below(80) as u8;
        let head = self.rng.below(2) as u8;
        let sector = 1 + self.rng.below(18) as u8;
        match self.rng.below(100) {
            0..=44 => {
                self.write(DOR, 0x1c);
                self.send(&[0xe6, head << 2, track, head, sector, 2, sector, 0x1b, 0xff]);
                self.results();
            }
            45..=59 => {
                self.write(DOR, 0x1c);
                self.send(&[0xc5, head << 2, track, head, sector, 2, sector, 0x1b, 0xff]);
                self.results();
            }
            60..=79 => {
                self.send(&[0x0f, head << 2, track]);
                let d = 1_000_000 + self.rng.below(3_000_000);
                self.gap(d);
                self.read(MSR);
                self.sense();
            }
            80..=87 => {
                self.send(&[0x4a, head << 2]);
                // Poll MSR until the READ ID result is there (20 ms later).
                for _ in 0..3 {
                    self.gap(7_000_000);
                    self.read(MSR);
                }
                self.results();
            }
            88..=91 => {
                self.send(&[0x0e]); // DUMPREG
                self.results();
            }
            _ => {
                self.read(DIR);
                self.read(MSR);
                let d = 10_000_000 + self.rng.below(90_000_000);
                self.gap(d);
            }
        }
    }
}

/// The header of generated traces: drive 0 holds a blank 1.44 MB medium.
pub fn synthetic_header() -> TraceHeader {
    synthetic_header_with(None)
}

/// A deterministic image of `bytes` bytes with no zero sector (so that every WRITE DATA of
/// zeros changes it): byte `i` is a mix of its sector number and its offset, never 0.
pub fn pattern_image(bytes: usize) -> Vec<u8> {
    (0..bytes)
        .map(|i| {
            let s = (i / 512) as u32;
            (s.wrapping_mul(0x9e37_79b9) >> 24) as u8 ^ (i as u8) | 1
        })
        .collect()
}

/// The header of generated traces; with `image`, drive 0's medium is that image, embedded
/// in the trace (its size picks the geometry as QEMU's `pick_geometry` does).
pub fn synthetic_header_with(image: Option<Vec<u8>>) -> TraceHeader {
    let (format, size) = match &image {
        Some(img) => (None, img.len() as u64),
        None => (Some("1.44M".into()), 1_474_560),
    };
    TraceHeader {
        guest: Some("synthetic".into()),
        workload: Some("bench: driver-like command loop".into()),
        provenance: Provenance {
            kind: ProvenanceKind::DriverModel,
            recorder: Some("fdc-replay bench".into()),
            packages: vec![],
        },
        drives: vec![Drive {
            unit: 0,
            drive_type: DriveType::Auto,
            medium: Some(Medium {
                format,
                size,
                image,
                ..Medium::default()
            }),
        }],
        ..TraceHeader::default()
    }
}

/// Writes a generated trace of exactly `events` events to `path`.
pub fn generate(path: &Path, events: u64, seed: u64, gzip: bool) -> Result<(), ReplayError> {
    generate_with(
        path,
        events,
        seed,
        WriteOptions {
            gzip,
            ..WriteOptions::default()
        },
    )
}

/// [`generate`] with explicit writer options (e.g. small chunks for tests).
pub fn generate_with(
    path: &Path,
    events: u64,
    seed: u64,
    opts: WriteOptions,
) -> Result<(), ReplayError> {
    generate_counted(path, events, seed, opts, None)
}

/// [`generate_with`], calling `on_event` after every event written (a progress display).
pub fn generate_counted(
    path: &Path,
    events: u64,
    seed: u64,
    opts: WriteOptions,
    on_event: Option<Box<dyn FnMut() + Send>>,
) -> Result<(), ReplayError> {
    generate_header(path, &synthetic_header(), events, seed, opts, on_event)
}

/// [`generate_counted`] for a given header (e.g. [`synthetic_header_with`] an image).
pub fn generate_header(
    path: &Path,
    header: &TraceHeader,
    events: u64,
    seed: u64,
    opts: WriteOptions,
    on_event: Option<Box<dyn FnMut() + Send>>,
) -> Result<(), ReplayError> {
    let fdc = super::ReplayModel::from_header(header, path)?;
    let mut w = TraceWriter::create(path, header, opts)?;
    if let Some(f) = on_event {
        w.on_event(f);
    }
    let rate = fdc.fdc.drive(0).media_rate();
    let mut g = Gen {
        rate,
        fdc,
        t: 0,
        rng: Rng::new(seed),
        out: Vec::with_capacity(256),
    };
    let mut written = 0u64;
    let mut i = 0u64;
    while written < events {
        g.iteration(i);
        i += 1;
        for ev in g.out.drain(..) {
            if written == events {
                break;
            }
            w.write_event(ev)?;
            written += 1;
        }
    }
    w.finish()?;
    Ok(())
}

/// Peak resident set size (VmHWM) in kB.
pub fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS counter (Linux: `echo 5 > /proc/self/clear_refs`).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time (user + system) of the whole process so far, in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage for the call to fill.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
