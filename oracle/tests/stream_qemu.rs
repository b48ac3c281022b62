//! The stream parser and editor on streams real QEMU 7.2 wrote: every byte attributed
//! (parse then write back is the identity), the fdc section's vmdesc entry exactly as
//! `oracle::stream::fdc::vmdesc_json` predicts it (so the layouts `stream add` writes are
//! QEMU's), and drop-then-add of every subsection record gives back the original bytes.
//! Set FDC_SKIP_QEMU=1 to skip; without QEMU (and without that variable) these fail.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod common;
use common::*;

use fdc::Machine;
use fdc::Subsection;
use fdc_oracle::stream::{
    self, add_fdc_subsection, drop_fdc_subsection, fdc as fdc_stream, show, MigrationStream,
    SectionKind,
};
use fdc_oracle::{DriveSpec, Migration, Oracle, OracleConfig};

fn check(label: &str, m: &Migration) {
    let bytes = &m.stream;
    let s = MigrationStream::parse(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert!(s.issues.is_empty(), "{label}: {:?}", s.issues);
    assert_eq!(s.to_bytes().as_deref(), Some(&bytes[..]), "{label}");
    assert_eq!(s.machine(), Some("pc-i440fx-7.2"));
    let kinds: Vec<SectionKind> = s.sections.iter().map(|x| x.kind).collect();
    assert_eq!(kinds[0], SectionKind::Start);
    assert!(kinds.contains(&SectionKind::End));
    let ram = s.ram_totals();
    assert_eq!(
        ram.blocks
            .iter()
            .find(|b| b.name == "pc.ram")
            .map(|b| b.length),
        Some(16 << 20),
        "{label}: -m 16"
    );
    let (sec, body) = s.fdc().unwrap();
    assert_eq!(body.payload, m.section.payload);
    assert_eq!(sec.offset, m.section.header_offset);
    assert_eq!(&bytes[body.payload.clone()], &m.fdc_section[..]);
    // The vmdesc entry is exactly what QEMU writes for this state.
    let v = s.vmdesc.as_ref().unwrap();
    let dev = &v.devices()[sec_index(&s)];
    let text =
        std::str::from_utf8(&bytes[v.json_start + dev.span.start..v.json_start + dev.span.end])
            .unwrap();
    assert_eq!(text, fdc_stream::vmdesc_json(&body.state, 0), "{label}");
    // Drop and add back every record.
    for rec in &body.subsections {
        let dropped = drop_fdc_subsection(bytes, rec.kind, rec.drive).unwrap();
        let back = add_fdc_subsection(&dropped, rec.kind, rec.value, rec.drive).unwrap();
        assert!(
            back == *bytes,
            "{label}: {} drive {:?}",
            rec.name,
            rec.drive
        );
    }
    let j = show::to_json(&s, None);
    let mut sent: Vec<&String> = Vec::new();
    for n in &m.subsections {
        if !sent.contains(&n) {
            sent.push(n);
        }
    }
    assert_eq!(j["fdc"]["sent"], serde_json::json!(sent), "{label}");
    eprintln!(
        "{label}: {} bytes, {} sections, {} ram pages + {} zero pages, vmdesc {} bytes, fdc [{}]",
        bytes.len(),
        s.sections.len(),
        ram.pages,
        ram.zero_pages,
        v.json_len(),
        m.subsections.join(", ")
    );
}

fn sec_index(s: &MigrationStream<'_>) -> usize {
    s.sections
        .iter()
        .filter(|x| x.kind == SectionKind::Full)
        .position(|x| x.name == "fdc")
        .unwrap()
}

#[test]
#[cfg_attr(fdc_skip_qemu, ignore = "FDC_SKIP_QEMU=1: needs real QEMU")]
fn real_streams_with_every_subsection_parse_and_round_trip() {
    if skip("a real-QEMU stream test") {
        return;
    }
    let cfg = OracleConfig::with_drives([DriveSpec::Blank, DriveSpec::Empty]);
    let mut o = Oracle::start(cfg).unwrap();
    let fresh = o.migrate().unwrap();
    check("fresh", &fresh);
    o.advance_ns(1_000).unwrap();
    o.outb(DOR, 0x08).unwrap();
    o.outb(DOR, 0x0c).unwrap();
    let m = o.migrate().unwrap();
    assert!(m.has("fdc/reset_sensei"));
    check("after reset", &m);
    o.advance_ns(1_000).unwrap();
    for _ in 0..4 {
        o.outb(FIFO, 0x08).unwrap();
        o.inb(FIFO).unwrap();
        o.inb(FIFO).unwrap();
    }
    for b in [0x0f, 0x00, 0x03, 0x12, 0x81, 0x4a, 0x00] {
        o.outb(FIFO, b).unwrap();
    }
    let m = o.migrate().unwrap();
    for s in [
        "fdrive/media_changed",
        "fdrive/perpendicular",
        "fdc/result_timer",
    ] {
        assert!(m.has(s), "{s}: {:?}", m.subsections);
    }
    check("seek, perpendicular, READ ID", &m);
    // The stream carries what the model predicts (the parsed state decodes as wire does).
    let parsed = MigrationStream::parse(&m.stream).unwrap();
    let state = &parsed.fdc().unwrap().1.state;
    assert_eq!(state.drives[0].perpendicular, Some(1));
    assert!(state.result_timer.is_some());
    // An fdc/phase added to a real stream is laid out as QEMU would lay it out.
    let with_phase = add_fdc_subsection(&m.stream, Subsection::Phase, 2, None).unwrap();
    let p = MigrationStream::parse(&with_phase).unwrap();
    let body = &p.fdc().unwrap().1;
    assert_eq!(body.state.phase, Some(2));
    assert_eq!(
        stream::set_fdc_state(&with_phase, &state.clone()).unwrap(),
        m.stream
    );
}
