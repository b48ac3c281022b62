//! Regression on stable: every target body over the committed seed corpus
//! (`fuzz/corpus/<target>/seed-*`) and over every input kept in `fuzz/regressions/<target>/`.
//! Plus the generator of the seed corpus from the recorded traces in `corpora/raw/`:
//! `FDC_FUZZ_REGEN=1 cargo test -p fdc-fuzz-targets --test corpus` rewrites the seeds; a
//! plain run checks the committed seeds are what the generator produces.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fdc::ops::Op;
use fdc::{wire, Fdc, PcFloppy};
use fdc_fuzz_targets::ops::{config_byte, configs, decode_ops, encode};
use fdc_trace::qemu_log::{parse_line, Parsed, Record};
use fdc_trace::{Event, TraceHeader, TraceWriter, WriteOptions};

/// A fuzz target: its name and its body.
type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 4] = [
    ("fdc_pio", fdc_fuzz_targets::fdc_pio),
    ("vmstate_load", fdc_fuzz_targets::vmstate_load),
    ("trace_decode", fdc_fuzz_targets::trace_decode),
    ("qemu_log_import", fdc_fuzz_targets::qemu_log_import),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "README.md")
    });
    v.sort();
    v
}

fn run_dir(name: &str, body: fn(&[u8]), dir: &Path) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let list = files(dir);
    for f in &list {
        let data = std::fs::read(f).unwrap();
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name} {}: {msg}", f.display()));
        }
    }
    (list.len(), failures)
}

#[test]
fn targets_pass_over_corpus_and_regressions() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, body) in TARGETS {
        for sub in ["corpus", "regressions"] {
            let (n, f) = run_dir(name, body, &root().join("fuzz").join(sub).join(name));
            total += n;
            failures.extend(f);
        }
    }
    assert!(total > 0, "no corpus found under fuzz/");
    assert!(
        failures.is_empty(),
        "{} of {total} inputs fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ----------------------------------------------------------------------- seed generation

/// Drive configuration index (see `ops::drive_config`) of a recorded medium size.
fn size_index(size: &str, ro: bool) -> u8 {
    match (size, ro) {
        ("1440K", true) => 7,
        ("720K", _) => 3,
        ("2880K", _) => 4,
        ("1200K", _) => 5,
        ("360K", _) => 6,
        _ => 2,
    }
}

fn config_of(meta: &Path) -> u8 {
    let text = std::fs::read_to_string(meta).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut idx = [0u8, 0u8];
    idx[0] = 1;
    for d in v["drives"].as_array().into_iter().flatten() {
        let i = d["index"].as_u64().unwrap_or(0) as usize & 1;
        idx[i] = size_index(
            d["size"].as_str().unwrap_or(""),
            d["ro"].as_bool().unwrap_or(false),
        );
    }
    config_byte(idx[0], idx[1])
}

/// Port events of a QEMU log as ops, with time advances where the guest waited.
fn log_ops(log: &Path) -> Vec<Op> {
    let f = std::fs::File::open(log).unwrap();
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut ops = Vec::new();
    let mut last: Option<u64> = None;
    for line in r.lines() {
        let Ok(line) = line else { break };
        let Ok(Parsed::Line(l)) = parse_line(&line) else {
            continue;
        };
        let (port, write, val) = match l.record {
            Record::FdcRead { reg, val } => (0x3F0 + reg as u16, false, val),
            Record::FdcWrite { reg, val } => (0x3F0 + reg as u16, true, val),
            Record::SerialWrite { .. } => continue,
        };
        if let (Some(t), Some(p)) = (l.unix_ns, last) {
            let dt = t.saturating_sub(p);
            if dt >= 20_000_000 {
                ops.push(Op::Advance { ns: 20_000_001 });
            } else if dt >= 1_000_000 {
                ops.push(Op::Advance { ns: 1_000_000 });
            }
        }
        last = l.unix_ns.or(last);
        ops.push(if write {
            Op::Out { port, value: val }
        } else {
            Op::In { port }
        });
    }
    ops
}

/// DMA channel 2 programmed for one sector (512 bytes) at 0x10000 and unmasked (the
/// recordings do not contain the i8257 accesses; one sector keeps the seeds fast).
fn dma_preamble() -> Vec<u8> {
    vec![0xF0, 0x00, 0x00, 0x01, 0xFF, 0x01]
}

const CHUNK_OPS: usize = 1200;
const CHUNKS_PER_LOG: usize = 6;

fn fdc_pio_seeds() -> BTreeMap<String, Vec<u8>> {
    let raw = root().join("corpora/raw");
    let mut out = BTreeMap::new();
    for log in files(&raw)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".log.gz"))
    {
        let stem = log
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".log.gz")
            .to_string();
        let cfg = config_of(&raw.join(format!("{stem}.meta.json")));
        let ops = log_ops(&log);
        let chunks: Vec<&[Op]> = ops.chunks(CHUNK_OPS).collect();
        let step = chunks.len().div_ceil(CHUNKS_PER_LOG).max(1);
        for (i, chunk) in chunks.iter().enumerate().step_by(step) {
            let mut bytes = vec![cfg];
            bytes.extend(dma_preamble());
            bytes.extend(encode(chunk));
            // A migration in the middle of every seed exercises migrate-now from real states.
            if i % 2 == 0 {
                let mid = chunk.len() / 2;
                let mut with = vec![cfg];
                with.extend(dma_preamble());
                with.extend(encode(&chunk[..mid]));
                with.push(0x80);
                with.extend(encode(&chunk[mid..]));
                bytes = with;
            }
            out.insert(format!("seed-{stem}-{i:03}"), bytes);
        }
    }
    // Hand-written seeds: the command vocabulary in PIO mode and DMA mode.
    let specify_pio = [0x03u8, 0xDF, 0x03];
    let mut hand = vec![0u8];
    hand.extend([0x02, 0x0C]);
    for cmd in [
        &[0x08u8][..],
        &[0x10],
        &[0x0E],
        &[0x14],
        &[0x94],
        &[0x18],
        &[0x2E],
        &[0x07, 0x00],
        &[0x0F, 0x00, 0x05],
        &[0x4A, 0x00],
        &[0x04, 0x00],
        &[0x12, 0x80],
        &[0x13, 0x00, 0x10, 0x00],
        &[0x17, 0x00],
        &[0x0D, 0x00, 0x02, 0x12, 0x1B, 0x00],
        &[0x8F, 0x00, 0x02],
        &[0xCF, 0x00, 0x01],
        &[0x8E, 0x00, 0x00, 0x00, 0x00, 0xD0],
        &[0x33, 0x00],
    ] {
        for b in cmd {
            hand.extend([0x90, *b]);
        }
        hand.extend([0xE0, 0xD0, 0xD0, 0x40 | 10, 0xE0, 0xD0, 0xD0, 0xD0]);
    }
    out.insert("seed-hand-commands".into(), hand.clone());
    let mut pio = vec![0u8, 0x02, 0x1C];
    for b in specify_pio {
        pio.extend([0x90, b]);
    }
    for cmd in [
        [0xE6u8, 0, 0, 0, 1, 2, 18, 0x1B, 0xFF],
        [0xC5, 0, 0, 0, 1, 2, 1, 0x1B, 0xFF],
        [0x11, 0, 0, 0, 1, 2, 2, 0x1B, 0xFF],
    ] {
        for b in cmd {
            pio.extend([0x90, b]);
        }
        pio.extend(std::iter::repeat_n(0xD0, 40));
        pio.extend(std::iter::repeat_n([0x90, 0x55], 20).flatten());
        pio.extend([0x80, 0xE0, 0x12, 0x5A]);
    }
    out.insert("seed-hand-pio".into(), pio);
    // Whole sectors by PIO with FIFO runs, on the patterned 360 KB image (configuration
    // 0x04: drive 0 = drive_config(6)); 300 kb/s (CCR 1) as its geometry needs: READ
    // sector 1, WRITE sector 2 with a migration in the middle of the sector, READ sector 2
    // back; the end-of-run check then compares both diskettes. The WRITE has MT set: without
    // it QEMU's PIO write of the EOT sector stays in the execution phase with RQM clear
    // (`fdctrl_seek_to_next_sect` fails and `fdctrl_write_data` returns before
    // `fdctrl_stop_transfer`), which the model reproduces.
    let mut sectors = vec![0x04u8, 0x02, 0x1C, 0x07, 0x01];
    let command = |out: &mut Vec<u8>, bytes: &[u8]| {
        out.push(0xC0 | (bytes.len() as u8 - 1));
        out.extend(bytes);
    };
    command(&mut sectors, &specify_pio);
    let results = [0xD0u8; 7];
    command(&mut sectors, &[0x46, 0, 0, 0, 1, 2, 1, 0x1B, 0xFF]);
    sectors.extend([0x82, 0xFF]);
    sectors.extend(results);
    command(&mut sectors, &[0xC5, 0, 0, 0, 2, 2, 2, 0x1B, 0xFF]);
    // MT: sector 2 of head 0, then sectors 1-2 of head 1 (QEMU's data_len adds EOT
    // sectors for MT), 1536 bytes with the migration after the first 256.
    sectors.extend([0x81, 0x7F, 0xA5, 0x80, 0x81, 0xFF, 0x5A, 0x81, 0xFF, 0x3C]);
    sectors.extend([0x81, 0x7F, 0xC3]);
    sectors.extend(results);
    command(&mut sectors, &[0x46, 0, 0, 0, 2, 2, 2, 0x1B, 0xFF]);
    sectors.extend([0x82, 0xFF]);
    sectors.extend(results);
    out.insert("seed-hand-pio-sectors".into(), sectors);
    let mut dma = vec![0u8];
    dma.extend(dma_preamble());
    dma.extend([0x70, 0x00, 0x00, 0x01, 0x00, 0x04, 0x07]);
    for cmd in [
        [0xE6u8, 0, 0, 0, 1, 2, 18, 0x1B, 0xFF],
        [0xC5, 0, 1, 0, 3, 2, 4, 0x1B, 0xFF],
        [0xF1, 0, 0, 0, 1, 2, 1, 0x1B, 0xFF],
    ] {
        for b in cmd {
            dma.extend([0x90, b]);
        }
        dma.extend([0xE0, 0x80, 0xD0, 0xD0, 0xD0, 0xD0, 0xD0, 0xD0, 0xD0]);
    }
    out.insert("seed-hand-dma".into(), dma);
    out
}

/// vmstate_load seeds: states reached by the fdc_pio seeds, wire-encoded (mode 0) and
/// MessagePack-encoded (mode 1), each followed by a few ops.
fn vmstate_seeds(pio: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let tail = encode(&[
        Op::In { port: 0x3F4 },
        Op::In { port: 0x3F5 },
        Op::Out {
            port: 0x3F5,
            value: 0x08,
        },
        Op::In { port: 0x3F5 },
        Op::In { port: 0x3F5 },
        Op::Advance { ns: 20_000_001 },
        Op::In { port: 0x3F5 },
    ]);
    for (name, input) in pio
        .iter()
        .filter(|(n, _)| n.contains("hand") || n.ends_with("-000"))
    {
        let cfg = input[0];
        let (d0, d1) = configs(cfg);
        let mut pc = PcFloppy::new(Fdc::new(d0, d1));
        let mut ops = Vec::new();
        decode_ops(&input[1..], |op| ops.push(op));
        let mut taken = 0;
        for (i, op) in ops.iter().enumerate() {
            fdc_fuzz_targets::ops::apply(&mut pc, op);
            if i % 97 == 13 && taken < 3 {
                taken += 1;
                let state = pc.fdc.state();
                for (mode, stream) in [(0u8, wire::encode(&state)), (1, state.to_msgpack())] {
                    let mut b = vec![mode | (cfg << 2)];
                    b.extend((stream.len() as u16).to_le_bytes());
                    b.extend(stream);
                    b.extend(&tail);
                    out.insert(
                        format!("seed-{}-{i}-m{mode}", name.trim_start_matches("seed-")),
                        b,
                    );
                }
            }
        }
    }
    // Structure-aware mode: a few inputs of plain bytes.
    for (i, m) in [2u8, 3].iter().enumerate() {
        let mut b = vec![*m];
        b.extend((0..200u32).map(|x| (x * 37 + i as u32) as u8));
        out.insert(format!("seed-structured-{m}"), b);
    }
    out
}

fn trace_seeds() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let events = vec![
        Event::PortWrite {
            t_ns: 0,
            offset: 2,
            value: 0x0C,
        },
        Event::PortRead {
            t_ns: 10,
            offset: 4,
            value: 0x80,
        },
        Event::Stage {
            t_ns: 20,
            label: "boot".into(),
        },
        Event::PortWrite {
            t_ns: 30,
            offset: 5,
            value: 0x08,
        },
        Event::PortRead {
            t_ns: 40,
            offset: 5,
            value: 0xC0,
        },
    ];
    for gzip in [false, true] {
        let mut w = TraceWriter::new(
            Vec::new(),
            &TraceHeader::default(),
            WriteOptions {
                gzip,
                chunk_events: 2,
            },
        )
        .unwrap();
        for e in &events {
            w.write_event(e.clone()).unwrap();
        }
        let mut b = vec![if gzip { 4 } else { 0 }];
        b.extend(w.finish().unwrap());
        out.insert(format!("seed-trace-gzip{}", gzip as u8), b);
    }
    let raw = root().join("corpora/raw");
    for (i, log) in ["linux-probe.log.gz", "seabios-int13.log.gz"]
        .iter()
        .enumerate()
    {
        let f = std::fs::File::open(raw.join(log)).unwrap();
        let r = BufReader::new(flate2::read::GzDecoder::new(f));
        let mut b = vec![1u8];
        for line in r.lines().take(120) {
            b.extend(line.unwrap().bytes());
            b.push(b'\n');
        }
        out.insert(format!("seed-qemu-log-{i}"), b);
    }
    for (i, side) in [
        "linux-mediachange.log.events.jsonl",
        "linux-probe.log.events.jsonl",
    ]
    .iter()
    .enumerate()
    {
        let mut b = vec![2u8];
        b.extend(std::fs::read(raw.join(side)).unwrap());
        out.insert(format!("seed-sidecar-{i}"), b);
    }
    out.insert(
        "seed-sizes".into(),
        b"\x031.44M\n720K\n2880KB\n1474560\n360k\n1.2MB\nfoo\n".to_vec(),
    );
    out
}

/// One `qemu_log_import` input: the sidecar and migrations lengths, then the three parts.
fn import_input(side: &[u8], migs: &[u8], log: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend((side.len() as u16).to_le_bytes());
    b.extend((migs.len() as u16).to_le_bytes());
    b.extend(side);
    b.extend(migs);
    b.extend(log);
    b
}

/// Seeds of `qemu_log_import`: for recordings with migrations, the log up to a little
/// after its first migrations, with the sidecar lines and the migration records of that
/// span (a record's `fdc_state.fifo` cut to its first bytes would not parse, so records
/// are kept whole); plus a recording without migrations and a media-change sidecar.
fn import_seeds() -> BTreeMap<String, Vec<u8>> {
    let raw = root().join("corpora/raw");
    let mut out = BTreeMap::new();
    let read_log = |name: &str, lines: usize| -> (Vec<u8>, f64, u64) {
        let f = std::fs::File::open(raw.join(format!("{name}.log.gz"))).unwrap();
        let r = BufReader::new(flate2::read::GzDecoder::new(f));
        let (mut b, mut last_t, mut fdc) = (Vec::new(), 0.0, 0u64);
        for line in r.lines().take(lines) {
            let line = line.unwrap();
            if let Some(t) = line
                .split(['@', ':'])
                .nth(1)
                .and_then(|t| t.parse::<f64>().ok())
            {
                last_t = t;
            }
            fdc += u64::from(line.contains(":fdc_ioport_"));
            b.extend(line.bytes());
            b.push(b'\n');
        }
        (b, last_t, fdc)
    };
    for (name, lines, migs) in [
        ("linux-fdcprog", 400, 3),
        ("linux-rawcmd-hold", 700, 2),
        ("linux-geom-720", 300, 2),
    ] {
        let (log, last_t, fdc) = read_log(name, lines);
        let side: Vec<u8> = std::fs::read_to_string(raw.join(format!("{name}.log.events.jsonl")))
            .unwrap()
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["t"]
                    .as_f64()
                    .unwrap()
                    <= last_t
            })
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        let recs: Vec<String> =
            std::fs::read_to_string(raw.join(format!("{name}.migrations.jsonl")))
                .unwrap()
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["fdc_events_before"]
                        .as_u64()
                        .unwrap()
                        <= fdc
                })
                .take(migs)
                .map(|l| format!("{l}\n"))
                .collect();
        out.insert(
            format!("seed-{name}"),
            import_input(&side, recs.concat().as_bytes(), &log),
        );
    }
    let (log, _, _) = read_log("linux-probe", 200);
    out.insert("seed-linux-probe".into(), import_input(b"", b"", &log));
    let side = std::fs::read(raw.join("linux-mediachange.log.events.jsonl")).unwrap();
    out.insert("seed-sidecar-only".into(), import_input(&side, b"", b""));
    out
}

#[test]
fn seed_corpus_is_generated_from_the_recordings() {
    let pio = fdc_pio_seeds();
    let sets = [
        ("fdc_pio", pio.clone()),
        ("vmstate_load", vmstate_seeds(&pio)),
        ("trace_decode", trace_seeds()),
        ("qemu_log_import", import_seeds()),
    ];
    let regen = std::env::var_os("FDC_FUZZ_REGEN").is_some();
    for (target, seeds) in sets {
        let dir = root().join("fuzz/corpus").join(target);
        if regen {
            std::fs::create_dir_all(&dir).unwrap();
            for f in files(&dir).into_iter().filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("seed-")
            }) {
                std::fs::remove_file(f).unwrap();
            }
            for (name, bytes) in &seeds {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        } else {
            for (name, bytes) in &seeds {
                let got = std::fs::read(dir.join(name))
                    .unwrap_or_else(|_| panic!("{target}/{name} missing: run FDC_FUZZ_REGEN=1 cargo test -p fdc-fuzz-targets --test corpus"));
                assert_eq!(
                    &got, bytes,
                    "{target}/{name} is stale: regenerate the seeds"
                );
            }
        }
    }
}

/// VENOM's state (command phase, RQM, `data_pos` past the FIFO) is reachable only through
/// an unchecked load: the strict loader refuses it, the unchecked one faults on the next
/// FIFO write (a `bug-venom` build panics there). Kept as a vmstate_load regression input.
#[test]
fn venom_state_only_through_an_unchecked_load() {
    let (d0, d1) = configs(0);
    let mut state = Fdc::new(d0.clone(), d1.clone()).state();
    state.msr = 0x90;
    state.data_pos = 600;
    state.data_len = 1000;
    assert!(Fdc::from_state(&state, d0.clone(), d1.clone(), 0).is_err());
    let mut pc = PcFloppy::new(Fdc::from_state_unchecked(&state, d0, d1, 0).unwrap());
    if !cfg!(feature = "bug-venom") {
        fdc_fuzz_targets::ops::apply(
            &mut pc,
            &Op::Out {
                port: 0x3F5,
                value: 0x42,
            },
        );
        assert_eq!(pc.fdc.fault(), Some(fdc::Fault::CommandOverrun));
    }
    let stream = wire::encode(&state);
    let mut input = vec![0u8];
    input.extend((stream.len() as u16).to_le_bytes());
    input.extend(stream);
    input.extend(encode(&[Op::Out {
        port: 0x3F5,
        value: 0x42,
    }]));
    let path = root().join("fuzz/regressions/vmstate_load/venom-unchecked-command-overrun");
    if std::env::var_os("FDC_FUZZ_REGEN").is_some() {
        std::fs::write(&path, &input).unwrap();
    } else {
        assert_eq!(
            std::fs::read(&path).unwrap(),
            input,
            "regenerate with FDC_FUZZ_REGEN=1"
        );
    }
}
