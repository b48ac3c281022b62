//! `migration_stream`: the whole-stream parser and editor (`fdc_oracle::stream`).
//!
//! Input: byte 0 selects the mode (bits 0-1) and the built stream's shape (bit 2: no
//! `timer`/`dma`/`pckbd` sections; bit 3: one ram page instead of none; bit 4: no footers).
//! - mode 0: bytes 1.. are a migration stream, parsed as is;
//! - mode 1: bytes 1.. are an `fdc` section payload, put into a built stream (consistent
//!   vmdesc when it decodes exactly, otherwise spliced into one built for a fresh state);
//! - mode 2: bytes 1.. replace the vmdesc JSON of a built stream (length prefix fixed up);
//! - mode 3: a built stream (state chosen by byte 1) with xor mutations: from byte 2 on,
//!   (u16 LE offset, xor byte) triples.
//!
//! Checked on every input: no panic; an error names an offset inside the input and has a
//! message. On a stream that parses: the parsed pieces write it back identically; the
//! show listings render; every fdc subsection record drops (giving exactly the state
//! without it) and adds back (giving the original state), byte-identically when the stream
//! is in QEMU's own form; a field edit changes the field (in QEMU's own form: a hostile
//! vmdesc may give any field the name `msr`); every subsection of every other
//! device section drops or is refused with a typed error; the editor never reports an
//! internal error (an edited stream that does not parse back).

use fdc::destination::without;
use fdc::{wire, DriveConfig, Fdc, FdcState, Medium, Subsection};
use fdc_oracle::stream::{
    self, apply, build, fdc as fdc_stream, show, BuildOptions, Edit, EditError, MigrationStream,
    SectionRef,
};

fn options(b: u8) -> BuildOptions {
    BuildOptions {
        pages: u16::from(b & 0x08 != 0),
        zero_pages: 1,
        extra_devices: b & 0x04 == 0,
        footers: b & 0x10 == 0,
        ..Default::default()
    }
}

/// A few states to build streams from (fresh, after reset, every subsection).
pub fn states() -> Vec<FdcState> {
    let fresh = Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Empty,
    )
    .state();
    let mut reset = fresh.clone();
    reset.reset_sensei = Some(4);
    reset.sra = 0xc0;
    let mut all = reset.clone();
    all.drives[0].media_changed = Some(0);
    all.drives[1].perpendicular = Some(3);
    all.result_timer = Some(20_000_960);
    all.phase = Some(2);
    all.msr = 0x10;
    vec![fresh, reset, all]
}

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let opts = options(head);
    let base = &states()[0];
    match head & 3 {
        0 => check(rest),
        1 => {
            let bytes = match wire::decode(rest) {
                Ok((state, _)) => build(&state, &opts),
                Err(_) => {
                    let b = build(base, &opts);
                    let Ok(s) = MigrationStream::parse(&b) else {
                        panic!("a built stream does not parse")
                    };
                    let Some((_, body)) = s.fdc() else {
                        panic!("a built stream has no fdc")
                    };
                    let range = body.payload.clone();
                    let mut b = b.clone();
                    b.splice(range, rest.iter().copied());
                    b
                }
            };
            check(&bytes);
        }
        2 => {
            let b = build(base, &opts);
            let Ok(s) = MigrationStream::parse(&b) else {
                panic!("a built stream does not parse")
            };
            let Some(v) = &s.vmdesc else {
                panic!("a built stream has no vmdesc")
            };
            let mut out = b[..v.offset + 1].to_vec();
            out.extend_from_slice(&(rest.len() as u32).to_be_bytes());
            out.extend_from_slice(rest);
            check(&out);
        }
        _ => {
            let Some((&which, muts)) = rest.split_first() else {
                return;
            };
            let list = states();
            let mut b = build(&list[usize::from(which) % list.len()], &opts);
            for m in muts.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([m[0], m[1]])) % b.len().max(1);
                b[at] ^= m[2];
            }
            check(&b);
        }
    }
}

fn no_internal<T>(r: &Result<T, EditError>, what: &str) {
    if let Err(EditError::Internal(e)) = r {
        panic!("{what}: internal editor error: {e}");
    }
    if let Err(e) = r {
        assert!(!e.to_string().trim().is_empty(), "{what}: empty error");
    }
}

/// Whether the fdc section is exactly as QEMU writes it (vmdesc text, record order,
/// versions), so
/// drop-then-add must give back the same bytes.
fn canonical(s: &MigrationStream<'_>) -> bool {
    let Some((sec, body)) = s.fdc() else {
        return false;
    };
    let Some(v) = &s.vmdesc else { return false };
    let Some(dev) = v
        .devices()
        .iter()
        .find(|d| d.get("name").and_then(|n| n.as_str()) == Some("fdc"))
    else {
        return false;
    };
    let text = s
        .bytes
        .get(v.json_start + dev.span.start..v.json_start + dev.span.end)
        .unwrap_or_default();
    let order: Vec<(usize, usize)> = body
        .subsections
        .iter()
        .map(|r| (r.drive.unwrap_or(2), fdc_stream::layout(r.kind).order))
        .collect();
    text == fdc_stream::vmdesc_json(&body.state, sec.instance_id).as_bytes()
        && order.windows(2).all(|w| w[0] < w[1])
        && body.subsections.iter().all(|r| r.version == 1)
}

/// The checks on one stream.
pub fn check(bytes: &[u8]) {
    let s = match MigrationStream::parse(bytes) {
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let Some(o) = e.offset() {
                assert!(o <= bytes.len(), "error offset {o} beyond {}", bytes.len());
            }
            let _ = stream::find_fdc_section(bytes);
            return;
        }
        Ok(s) => s,
    };
    assert_eq!(s.to_bytes().as_deref(), Some(bytes), "pieces do not tile");
    let _ = show::to_text(&s, "input");
    let j = show::to_json(&s, None);
    assert!(serde_json::to_string(&j).is_ok());
    if let Some((_, body)) = s.fdc() {
        let found = stream::find_fdc_section(bytes).map(|f| f.payload);
        assert_eq!(found.ok(), Some(body.payload.clone()));
        if body.vmdesc_consistent {
            check_fdc_edits(bytes, &s);
        }
    }
    for sec in &s.sections {
        let Some(dev) = sec.device() else { continue };
        if dev.fdc.is_some() {
            continue;
        }
        let mut names = sec.subsection_names();
        names.dedup();
        for name in names.into_iter().take(4) {
            let r = apply(
                bytes,
                &Edit::Drop {
                    section: SectionRef {
                        name: sec.name.clone(),
                        instance: Some(sec.instance_id),
                    },
                    name: name.clone(),
                    drive: None,
                },
            );
            no_internal(&r, &format!("drop {name} from {}", sec.name));
        }
    }
}

fn check_fdc_edits(bytes: &[u8], s: &MigrationStream<'_>) {
    let Some((_, body)) = s.fdc() else { return };
    let state = body.state.clone();
    let canon = canonical(s);
    for rec in &body.subsections {
        let dropped = stream::drop_fdc_subsection(bytes, rec.kind, rec.drive);
        no_internal(&dropped, "drop");
        let Ok(dropped) = dropped else {
            assert!(!canon, "a canonical stream refuses to drop {}", rec.name);
            continue;
        };
        let d = MigrationStream::parse(&dropped).map_err(|e| e.to_string());
        let Ok(d) = d else {
            panic!("the dropped stream does not parse: {d:?}")
        };
        let Some((_, db)) = d.fdc() else {
            panic!("the dropped stream lost its fdc section")
        };
        assert_eq!(
            db.state,
            without(&state, rec.kind, rec.drive),
            "drop {}",
            rec.name
        );
        // The value the state held (the last record of that kind in that parent wins).
        let value = body
            .subsections
            .iter()
            .rfind(|r| r.kind == rec.kind && r.drive == rec.drive)
            .map_or(rec.value, |r| r.value);
        let back = stream::add_fdc_subsection(&dropped, rec.kind, value, rec.drive);
        no_internal(&back, "add back");
        match back {
            Ok(back) => {
                let b = MigrationStream::parse(&back).map_err(|e| e.to_string());
                let Ok(b) = b else {
                    panic!("the re-added stream does not parse: {b:?}")
                };
                let st = b.fdc().map(|(_, x)| x.state.clone());
                assert_eq!(st.as_ref(), Some(&state), "add back {}", rec.name);
                if canon {
                    assert!(
                        back == bytes,
                        "drop+add of {} is not the identity",
                        rec.name
                    );
                }
            }
            Err(e) => assert!(
                !canon,
                "a canonical stream refuses to add {}: {e}",
                rec.name
            ),
        }
    }
    let set = apply(
        bytes,
        &Edit::Set {
            section: SectionRef::default(),
            path: "msr".into(),
            value: "0x5a".into(),
        },
    );
    no_internal(&set, "set msr");
    // Paths name the vmdesc's fields: only in QEMU's own description is `msr` the MSR.
    match set {
        Ok(out) if canon => {
            let msr = MigrationStream::parse(&out)
                .ok()
                .and_then(|p| p.fdc().map(|(_, b)| b.state.msr));
            assert_eq!(msr, Some(0x5a));
        }
        Ok(_) => {}
        Err(_) => assert!(!canon, "a canonical stream refuses `set msr`"),
    }
    if canon {
        let mut other = state.clone();
        other.phase = Some(3);
        other.drives[1].media_changed = Some(0);
        other.reset_sensei = None;
        other = without(&other, Subsection::Perpendicular, None);
        let r = stream::set_fdc_state(bytes, &other);
        no_internal(&r, "set_fdc_state");
        let Ok(out) = r else {
            panic!("set_fdc_state refused a canonical stream")
        };
        let st = MigrationStream::parse(&out)
            .ok()
            .and_then(|p| p.fdc().map(|(_, b)| b.state.clone()));
        assert_eq!(st.as_ref(), Some(&other));
    }
}
