//! `trace_decode`: arbitrary bytes into the trace reader and the QEMU-log importer's
//! parsers. Errors, never panics; memory stays bounded (libFuzzer's `-rss_limit_mb` and
//! `-malloc_limit_mb` enforce it in the campaign).
//!
//! Byte 0 selects (bits 0-1): 0 = `TraceReader` over the rest (and, if it reads cleanly,
//! a write/read round trip of what it read), 1 = QEMU log lines (`read_line_capped` +
//! `parse_line`, serial marks fed with the UART writes), 2 = sidecar lines, 3 = size names.

use fdc_trace::lines::read_line_capped;
use fdc_trace::qemu_log::{parse_line, Parsed, Record};
use fdc_trace::serial::SerialMarks;
use fdc_trace::sidecar::parse_sidecar_line;
use fdc_trace::{geometry, TraceReader, TraceWriter, WriteOptions};

/// Events read before the target stops (a tiny gzip input can expand to many).
pub const MAX_EVENTS: usize = 200_000;
/// Longest log line kept (the importer's cap is of the same order).
pub const LINE_CAP: usize = 4096;

fn lines(data: &[u8], mut f: impl FnMut(&str)) {
    let mut r = data;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_capped(&mut r, &mut buf, LINE_CAP) {
            Ok(Some(_)) => {
                assert!(
                    buf.len() <= LINE_CAP,
                    "read_line_capped kept {} bytes",
                    buf.len()
                );
                f(&String::from_utf8_lossy(&buf));
            }
            Ok(None) => return,
            Err(e) => panic!("reading from a slice cannot fail: {e}"),
        }
    }
}

/// Runs one `trace_decode` input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => {
            let reader = match TraceReader::new(rest) {
                Ok(r) => r,
                Err(e) => {
                    assert!(!e.to_string().is_empty(), "trace error without a message");
                    return;
                }
            };
            let header = reader.header().clone();
            let mut events = Vec::new();
            let mut clean = true;
            for item in reader.take(MAX_EVENTS) {
                match item {
                    Ok(ev) => {
                        let _ = ev.validate();
                        if events.len() < 10_000 {
                            events.push(ev);
                        } else {
                            clean = false;
                        }
                    }
                    Err(e) => {
                        assert!(!e.to_string().is_empty(), "trace error without a message");
                        clean = false;
                    }
                }
            }
            if clean && header.validate().is_ok() && events.iter().all(|e| e.validate().is_ok()) {
                // What the reader accepted, the writer writes and the reader reads back.
                let opts = WriteOptions {
                    gzip: mode & 4 != 0,
                    chunk_events: 1 + (mode >> 3) as usize,
                };
                let Ok(mut w) = TraceWriter::new(Vec::new(), &header, opts) else {
                    return;
                };
                for ev in &events {
                    if w.write_event(ev.clone()).is_err() {
                        return;
                    }
                }
                let bytes = w.finish().expect("finishing an in-memory trace failed");
                let back = TraceReader::new(&bytes[..]).expect("re-reading a written trace failed");
                assert_eq!(
                    back.header(),
                    &header,
                    "header changed in a write/read round trip"
                );
                let again: Vec<_> = back
                    .map(|e| e.expect("re-reading a written trace failed"))
                    .collect();
                assert_eq!(again, events, "events changed in a write/read round trip");
            }
        }
        1 => {
            let mut marks = SerialMarks::new();
            lines(rest, |line| {
                if let Ok(Parsed::Line(l)) = parse_line(line) {
                    if let Record::SerialWrite { addr, val } = l.record {
                        let _ = marks.feed(addr, val);
                    }
                }
            });
        }
        2 => lines(rest, |line| {
            if !line.trim().is_empty() {
                if let Err(e) = parse_sidecar_line(line) {
                    assert!(!e.0.is_empty(), "sidecar error without a message");
                }
            }
        }),
        _ => lines(rest, |line| {
            if let Some((size, Some(name))) = geometry::parse_size(line) {
                assert_eq!(
                    geometry::by_name(name).map(|f| f.size()),
                    Some(size),
                    "{name}"
                );
            }
            let _ = geometry::by_name(line);
        }),
    }
}
