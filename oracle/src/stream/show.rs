//! What `fdc-replay stream show` prints: a text listing and a stable JSON document.
//!
//! # JSON (`"format": "fdc-replay-stream/1"`)
//!
//! ```text
//! {
//!   "format": "fdc-replay-stream/1",
//!   "file": "state.bin",            // as given on the command line (null from the library)
//!   "size": 715152,                 // bytes
//!   "version": 3,                   // QEMU_VM_FILE_VERSION
//!   "machine": "pc-i440fx-7.2",     // configuration section (null without one)
//!   "page_size": 4096,
//!   "sections": [                   // every record in stream order
//!     {"kind": "header", "offset": 0, "size": 8},
//!     {"kind": "configuration", "offset": 8, "size": 18, "machine": "...", "subsections": []},
//!     {"kind": "start"|"part"|"end"|"full", "offset": N, "size": N, "section_id": N,
//!      "name": "ram", "instance_id": 0, "version": 4 (null for part/end),
//!      "payload": {"offset": N, "size": N}, "footer": N or null,
//!      "ram": {RAM}                                         // ram sections only
//!      "subsections": [{"name", "path", "offset", "size"}], // device sections only
//!      "vmdesc_consistent": true},                          // device sections only
//!     {"kind": "eof", "offset": N, "size": 1},
//!     {"kind": "vmdesc", "offset": N, "size": N, "json_offset": N, "json_size": N,
//!      "devices": N}
//!   ],
//!   "ram": {RAM},                   // all ram parts added up
//!   "fdc": null or {
//!     "section_id": N, "instance_id": N, "offset": N,
//!     "payload": {"offset": N, "size": N},
//!     "vmdesc_consistent": true,
//!     "sent": ["fdrive/media_rate", ...],   // distinct names, in stream order
//!     "subsections": [{"name", "drive": 0|1|null, "offset", "size", "version", "value"}],
//!     "state": {"sra": N, "srb": N, "dor_vmstate": N, "tdr": N, "dsr": N, "msr": N,
//!               "status0": N, "status1": N, "status2": N, "fifo": "HEX (512 bytes)",
//!               "data_pos": N, "data_len": N, "data_state": N, "data_dir": N, "eot": N,
//!               "timer0": N, "timer1": N, "precomp_trk": N, "config": N, "lock": N,
//!               "pwrd": N, "num_floppies": N,
//!               "drives": [{"head", "track", "sect", "media_changed", "media_rate",
//!                           "perpendicular"}],      // subsection fields null when absent
//!               "reset_sensei": N|null, "result_timer": N|null, "phase": N|null},
//!     "reconstructed_phase": N        // reconstruct_phase(msr): what post_load derives
//!   },
//!   "issues": [{"offset": N, "message": "..."}]
//! }
//! RAM = {"records": N, "pages": N, "zero_pages": N, "compressed_pages": N,
//!        "xbzrle_pages": N, "page_bytes": N, "blocks": [{"name": "pc.ram", "length": N}]}
//! ```
//!
//! Fields are only ever added to this format, never renamed or removed; a change of
//! meaning bumps the version in `format`.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::fdc::FdcBody;
use super::parse::{MigrationStream, Section, SectionBody};
use super::ram::RamStats;
use super::vmdesc;

/// Identifier of the JSON format.
pub const SHOW_FORMAT: &str = "fdc-replay-stream/1";

fn ram_json(r: &RamStats) -> Value {
    json!({
        "records": r.records,
        "pages": r.pages,
        "zero_pages": r.zero_pages,
        "compressed_pages": r.compressed_pages,
        "xbzrle_pages": r.xbzrle_pages,
        "page_bytes": r.page_bytes,
        "blocks": r.blocks.iter().map(|b| json!({"name": b.name, "length": b.length})).collect::<Vec<_>>(),
    })
}

fn section_json(s: &Section) -> Value {
    let mut v = json!({
        "kind": s.kind.as_str(),
        "offset": s.offset,
        "size": s.end - s.offset,
        "section_id": s.section_id,
        "name": s.name,
        "instance_id": s.instance_id,
        "version": s.version,
        "payload": {"offset": s.payload.start, "size": s.payload.len()},
        "footer": s.footer,
    });
    match &s.body {
        SectionBody::Ram(r) => v["ram"] = ram_json(r),
        SectionBody::Device(d) => {
            let subs: Vec<Value> = match (&d.root, &d.fdc) {
                (Some(root), _) => vmdesc::subsections_of(root)
                    .into_iter()
                    .map(|h| {
                        json!({"name": h.node.name, "path": h.path,
                               "offset": h.node.range.start, "size": h.node.range.len()})
                    })
                    .collect(),
                (None, Some(f)) => f
                    .subsections
                    .iter()
                    .map(|x| {
                        json!({"name": x.name, "path": match x.drive {
                                Some(d) => format!("state.drives[{d}]"),
                                None => "state".into() },
                               "offset": x.range.start, "size": x.range.len()})
                    })
                    .collect(),
                (None, None) => Vec::new(),
            };
            v["subsections"] = Value::Array(subs);
            v["vmdesc_consistent"] = json!(d.root.is_some());
        }
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .fold(String::with_capacity(2 * b.len()), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// The decoded fdc section as JSON (the `fdc` member of [`to_json`]).
pub fn fdc_json(sec: &Section, f: &FdcBody) -> Value {
    let st = &f.state;
    let mut sent: Vec<&str> = Vec::new();
    for s in &f.subsections {
        if !sent.contains(&s.name.as_str()) {
            sent.push(&s.name);
        }
    }
    json!({
        "section_id": sec.section_id,
        "instance_id": sec.instance_id,
        "offset": sec.offset,
        "payload": {"offset": f.payload.start, "size": f.payload.len()},
        "vmdesc_consistent": f.vmdesc_consistent,
        "sent": sent,
        "subsections": f.subsections.iter().map(|s| json!({
            "name": s.name, "drive": s.drive, "offset": s.range.start,
            "size": s.range.len(), "version": s.version, "value": s.value})).collect::<Vec<_>>(),
        "state": {
            "sra": st.sra, "srb": st.srb, "dor_vmstate": st.dor_vmstate, "tdr": st.tdr,
            "dsr": st.dsr, "msr": st.msr, "status0": st.status0, "status1": st.status1,
            "status2": st.status2, "fifo": hex(&st.fifo), "data_pos": st.data_pos,
            "data_len": st.data_len, "data_state": st.data_state, "data_dir": st.data_dir,
            "eot": st.eot, "timer0": st.timer0, "timer1": st.timer1,
            "precomp_trk": st.precomp_trk, "config": st.config, "lock": st.lock,
            "pwrd": st.pwrd, "num_floppies": st.num_floppies,
            "drives": st.drives.iter().map(|d| json!({
                "head": d.head, "track": d.track, "sect": d.sect,
                "media_changed": d.media_changed, "media_rate": d.media_rate,
                "perpendicular": d.perpendicular})).collect::<Vec<_>>(),
            "reset_sensei": st.reset_sensei, "result_timer": st.result_timer,
            "phase": st.phase,
        },
        "reconstructed_phase": fdc::reconstruct_phase(st.msr) as u8,
    })
}

/// The whole stream as the documented JSON document.
pub fn to_json(s: &MigrationStream<'_>, file: Option<&str>) -> Value {
    let mut sections = vec![json!({"kind": "header", "offset": 0, "size": 8})];
    if let Some(c) = &s.configuration {
        sections.push(json!({"kind": "configuration", "offset": c.offset,
            "size": c.range.len(), "machine": c.machine, "subsections": c.subsections}));
    }
    sections.extend(s.sections.iter().map(section_json));
    sections.push(json!({"kind": "eof", "offset": s.eof_offset, "size": 1}));
    if let Some(v) = &s.vmdesc {
        sections.push(json!({"kind": "vmdesc", "offset": v.offset,
            "size": 5 + v.json_len(), "json_offset": v.json_start, "json_size": v.json_len(),
            "devices": v.devices().len()}));
    }
    json!({
        "format": SHOW_FORMAT,
        "file": file,
        "size": s.bytes.len(),
        "version": super::QEMU_VM_FILE_VERSION,
        "machine": s.machine(),
        "page_size": s.page_size,
        "sections": sections,
        "ram": ram_json(&s.ram_totals()),
        "fdc": s.fdc().map(|(sec, f)| fdc_json(sec, f)),
        "issues": s.issues.iter().map(|i| json!({"offset": i.offset, "message": i.message})).collect::<Vec<_>>(),
    })
}

fn bytes_h(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// The text listing.
pub fn to_text(s: &MigrationStream<'_>, file: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{file}: {} bytes, QEMU migration stream v3, machine {}, page size {}",
        s.bytes.len(),
        s.machine().unwrap_or("(no configuration section)"),
        s.page_size
    );
    let _ = writeln!(o, "{:>10} {:>9}  what", "offset", "size");
    let line = |o: &mut String, off: usize, size: usize, what: String| {
        let _ = writeln!(o, "{off:>10} {size:>9}  {what}");
    };
    line(&mut o, 0, 8, "header QEVM v3".into());
    if let Some(c) = &s.configuration {
        let subs = if c.subsections.is_empty() {
            String::new()
        } else {
            format!(" [{}]", c.subsections.join(", "))
        };
        line(
            &mut o,
            c.offset,
            c.range.len(),
            format!("configuration {}{subs}", c.machine),
        );
    }
    for sec in &s.sections {
        let head = format!(
            "{:<5} id {:<3} {} ({}){}",
            sec.kind.as_str(),
            sec.section_id,
            sec.name,
            sec.instance_id,
            sec.version.map(|v| format!(" v{v}")).unwrap_or_default()
        );
        let detail = section_detail(sec);
        line(&mut o, sec.offset, sec.end - sec.offset, head + &detail);
    }
    line(&mut o, s.eof_offset, 1, "eof".into());
    if let Some(v) = &s.vmdesc {
        line(
            &mut o,
            v.offset,
            5 + v.json_len(),
            format!(
                "vmdesc: {} bytes of JSON describing {} device sections",
                v.json_len(),
                v.devices().len()
            ),
        );
    }
    let t = s.ram_totals();
    let ram_total: u64 = t.blocks.iter().map(|b| b.length).sum();
    let _ = writeln!(
        o,
        "ram: {} of RAM in {} blocks; {} pages sent ({}), {} zero pages",
        bytes_h(ram_total),
        t.blocks.len(),
        t.pages,
        bytes_h(t.page_bytes),
        t.zero_pages
    );
    fdc_text(&mut o, s);
    for i in &s.issues {
        let _ = writeln!(o, "issue at offset {}: {}", i.offset, i.message);
    }
    o
}

/// What a section holds, for its listing line.
fn section_detail(sec: &Section) -> String {
    match &sec.body {
        SectionBody::Ram(r) => {
            let mut d = format!(
                ": {} pages ({}), {} zero pages",
                r.pages,
                bytes_h(r.page_bytes),
                r.zero_pages
            );
            if r.compressed_pages + r.xbzrle_pages > 0 {
                let _ = write!(
                    d,
                    ", {} compressed, {} xbzrle",
                    r.compressed_pages, r.xbzrle_pages
                );
            }
            if !r.blocks.is_empty() {
                let list: Vec<String> = r
                    .blocks
                    .iter()
                    .map(|b| format!("{} {}", b.name, bytes_h(b.length)))
                    .collect();
                let _ = write!(d, "; blocks: {}", list.join(", "));
            }
            d
        }
        SectionBody::Device(_) => {
            let names = sec.subsection_names();
            let mut d = String::new();
            if !names.is_empty() {
                let _ = write!(d, ": {}", names.join(", "));
            }
            if sec.device().is_some_and(|d| d.root.is_none()) {
                d.push_str("  (vmdesc inconsistent)");
            }
            d
        }
    }
}

/// The fdc section's subsections and fields.
fn fdc_text(o: &mut String, s: &MigrationStream<'_>) {
    if let Some((sec, f)) = s.fdc() {
        let st = &f.state;
        let _ = writeln!(
            o,
            "fdc: section id {}, instance {}, payload {}..{} ({} bytes){}",
            sec.section_id,
            sec.instance_id,
            f.payload.start,
            f.payload.end,
            f.payload.len(),
            if f.vmdesc_consistent {
                ""
            } else {
                ", vmdesc INCONSISTENT"
            }
        );
        if f.subsections.is_empty() {
            let _ = writeln!(o, "  no subsections");
        }
        for x in &f.subsections {
            let who = x
                .drive
                .map_or("controller".to_string(), |d| format!("drive {d}"));
            let _ = writeln!(
                o,
                "  {:<22} {:<10} at {} ({} bytes) = {}",
                x.name,
                who,
                x.range.start,
                x.range.len(),
                x.value
            );
        }
        let _ = writeln!(
            o,
            "  sra={:#04x} srb={:#04x} dor_vmstate={:#04x} tdr={:#04x} dsr={:#04x} msr={:#04x} (reconstructs phase {})",
            st.sra, st.srb, st.dor_vmstate, st.tdr, st.dsr, st.msr,
            fdc::reconstruct_phase(st.msr) as u8
        );
        let _ = writeln!(
            o,
            "  status0={:#04x} status1={:#04x} status2={:#04x} data_pos={} data_len={} data_state={:#04x} data_dir={} eot={}",
            st.status0, st.status1, st.status2, st.data_pos, st.data_len, st.data_state, st.data_dir, st.eot
        );
        let _ = writeln!(
            o,
            "  timer0={:#04x} timer1={:#04x} precomp_trk={} config={:#04x} lock={} pwrd={} num_floppies={} fifo[0..8]={}",
            st.timer0, st.timer1, st.precomp_trk, st.config, st.lock, st.pwrd, st.num_floppies,
            hex(&st.fifo[..8])
        );
        let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        for (i, d) in st.drives.iter().enumerate() {
            let _ = writeln!(
                o,
                "  drives[{i}]: head={} track={} sect={} media_changed={} media_rate={} perpendicular={}",
                d.head,
                d.track,
                d.sect,
                opt(d.media_changed.map(i64::from)),
                opt(d.media_rate.map(i64::from)),
                opt(d.perpendicular.map(i64::from))
            );
        }
        let _ = writeln!(
            o,
            "  reset_sensei={} result_timer={} phase={}",
            opt(st.reset_sensei.map(i64::from)),
            opt(st.result_timer),
            opt(st.phase.map(i64::from))
        );
    } else {
        let _ = writeln!(o, "fdc: no fdc section");
    }
}
