//! `qemu_log_import`: the whole QEMU-log importer over arbitrary inputs: a log, its
//! `LOG.events.jsonl` sidecar and its `NAME.migrations.jsonl`, merged by the importer's
//! pass (`fdc_trace::import::run_pass_reader`), written as a trace and read back.
//!
//! Input layout: `sidecar_len u16 LE`, `migrations_len u16 LE`, the sidecar's bytes, the
//! migrations' bytes, then the log (lengths are cut to what the input holds).
//!
//! Checked: no panic; every error names its file; the events handed out have
//! non-decreasing times, pass the format's limits and are counted exactly by the pass's
//! statistics; the recorded migrations are placed in order at event indices the trace
//! has, after exactly the `fdc_ioport` lines the file says; what was written reads back
//! event for event, header included.

use fdc_trace::import::{check_found, run_pass_reader, ImportError, PassInput};
use fdc_trace::migrations::parse_migrations;
use fdc_trace::sidecar::parse_sidecar;
use fdc_trace::{Clock, Event, TraceHeader, TraceReader, TraceWriter, WriteOptions};
use std::path::Path;

/// The file names errors must carry.
const LOG: &str = "fuzz.log";
const SIDECAR: &str = "fuzz.log.events.jsonl";
const MIGRATIONS: &str = "fuzz.migrations.jsonl";

fn split(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (head, rest) = data.split_at_checked(4)?;
    let a = usize::from(u16::from_le_bytes([head[0], head[1]])).min(rest.len());
    let (side, rest) = rest.split_at(a);
    let b = usize::from(u16::from_le_bytes([head[2], head[3]])).min(rest.len());
    let (migs, log) = rest.split_at(b);
    Some((side, migs, log))
}

fn assert_named(msg: &str, file: &str) {
    assert!(msg.contains(file), "error without its file {file}: {msg}");
}

/// Runs one `qemu_log_import` input.
pub fn run(data: &[u8]) {
    let Some((side, migs, log)) = split(data) else {
        return;
    };
    let sidecar = match parse_sidecar(&mut &side[..], Path::new(SIDECAR)) {
        Ok(s) => s,
        Err(e) => return assert_named(&e.to_string(), SIDECAR),
    };
    let migrations = match parse_migrations(&mut &migs[..], Path::new(MIGRATIONS)) {
        Ok(m) => m,
        Err(e) => return assert_named(&e.to_string(), MIGRATIONS),
    };
    let input = PassInput {
        sidecar: &sidecar,
        sidecar_path: Path::new(SIDECAR),
        migrations: &migrations,
        migrations_path: Path::new(MIGRATIONS),
    };
    let mut events: Vec<Event> = Vec::new();
    let mut fdc_lines = 0u64;
    let mut emit = |ev: Event| -> Result<(), ImportError> {
        if let Some(last) = events.last() {
            assert!(
                ev.time_ns() >= last.time_ns(),
                "time went backwards: {ev:?}"
            );
        }
        assert!(
            ev.validate().is_ok(),
            "event beyond the format's limits: {ev:?}"
        );
        if matches!(ev, Event::PortRead { .. } | Event::PortWrite { .. }) {
            fdc_lines += 1;
        }
        events.push(ev);
        Ok(())
    };
    let stats = match run_pass_reader(Path::new(LOG), &mut &log[..], input, &mut emit) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(
                [LOG, SIDECAR, MIGRATIONS].iter().any(|f| msg.contains(f)),
                "import error names no file: {msg}"
            );
            return;
        }
    };
    if let Err(e) = check_found(Path::new(LOG), &stats, input) {
        let msg = e.to_string();
        assert!(
            [LOG, SIDECAR, MIGRATIONS].iter().any(|f| msg.contains(f)),
            "refusal names no file: {msg}"
        );
    }
    assert_eq!(stats.events, events.len() as u64, "event count");
    assert_eq!(stats.reads + stats.writes, fdc_lines, "port event count");
    assert_eq!(
        stats.migrations.len(),
        migrations.len(),
        "migrations placed"
    );
    let mut before = 0u64;
    for (m, raw) in stats.migrations.iter().zip(&migrations) {
        assert!(m.index <= stats.events, "migration beyond the trace");
        let ports = events[..m.index as usize]
            .iter()
            .filter(|e| matches!(e, Event::PortRead { .. } | Event::PortWrite { .. }))
            .count() as u64;
        assert_eq!(
            ports, raw.fdc_events_before,
            "migration placed after other lines"
        );
        assert!(m.index >= before, "migrations out of order");
        before = m.index;
    }
    round_trip(&stats, &events);
}

/// Writes what the pass produced and reads it back.
fn round_trip(stats: &fdc_trace::import::PassStats, events: &[Event]) {
    let header = TraceHeader {
        clock: stats
            .origin
            .map_or(Clock::default(), |o| Clock::Host { origin_unix_ns: o }),
        migrations: stats.migrations.clone(),
        ..TraceHeader::default()
    };
    let mut w = match TraceWriter::new(Vec::new(), &header, WriteOptions::default()) {
        Ok(w) => w,
        Err(e) => {
            // The only header the writer refuses here is one over the size limit.
            assert!(e.to_string().contains("limit"), "writer refused: {e}");
            return;
        }
    };
    for e in events {
        if let Err(err) = w.write_event(e.clone()) {
            panic!("writer refused an event the importer made: {err} ({e:?})");
        }
    }
    let bytes = match w.finish() {
        Ok(b) => b,
        Err(e) => panic!("writer failed: {e}"),
    };
    let reader = match TraceReader::new(&bytes[..]) {
        Ok(r) => r,
        Err(e) => panic!("trace just written does not read: {e}"),
    };
    assert_eq!(reader.header(), &header, "header round trip");
    let mut n = 0usize;
    for (i, item) in reader.enumerate() {
        match item {
            Ok(ev) => assert_eq!(Some(&ev), events.get(i), "event {i} round trip"),
            Err(e) => panic!("event {i} does not read back: {e}"),
        }
        n += 1;
    }
    assert_eq!(n, events.len(), "events read back");
}
