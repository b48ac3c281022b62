//! The migration-stream parser and editor on streams built from scratch (no QEMU needed):
//! parse/write identity, drop/add round trips, field edits, generic device sections, the
//! vmdesc kept consistent, and typed errors with offsets on hostile input.

use fdc::{wire, DriveConfig, Fdc, FdcState, Medium, Subsection};
use fdc_replay::oracle::stream::{
    self, apply, apply_all, build, drop_fdc_subsection, fdc as fdc_stream, set_fdc_state, show,
    BuildOptions, Edit, EditError, MigrationStream, SectionKind, SectionRef, StreamError,
};

fn fresh_state() -> FdcState {
    Fdc::new(
        DriveConfig::Medium(Medium::blank(1_474_560, false)),
        DriveConfig::Absent,
    )
    .state()
}

/// A state carrying all six subsections (values QEMU could send).
fn full_state() -> FdcState {
    let mut s = fresh_state();
    s.drives[0].media_changed = Some(0);
    s.drives[0].perpendicular = Some(1);
    s.drives[1].perpendicular = Some(2);
    s.reset_sensei = Some(4);
    s.result_timer = Some(20_001_000);
    s.phase = Some(2);
    s.msr = 0x10;
    s
}

fn parse(b: &[u8]) -> MigrationStream<'_> {
    MigrationStream::parse(b).unwrap_or_else(|e| panic!("parse: {e}"))
}

fn fdc_json_text(s: &MigrationStream<'_>) -> String {
    let v = s.vmdesc.as_ref().unwrap();
    let dev = v
        .devices()
        .iter()
        .find(|d| d.get("name").and_then(|n| n.as_str()) == Some("fdc"))
        .unwrap();
    let at = v.json_start;
    String::from_utf8(s.bytes[at + dev.span.start..at + dev.span.end].to_vec()).unwrap()
}

#[test]
fn built_stream_parses_and_writes_back_identically() {
    for (state, opts) in [
        (fresh_state(), BuildOptions::default()),
        (full_state(), BuildOptions::default()),
        (
            fresh_state(),
            BuildOptions {
                extra_devices: false,
                footers: false,
                pages: 0,
                zero_pages: 5,
                ..Default::default()
            },
        ),
    ] {
        let bytes = build(&state, &opts);
        let s = parse(&bytes);
        assert!(s.issues.is_empty(), "{:?}", s.issues);
        assert_eq!(s.to_bytes().as_deref(), Some(&bytes[..]));
        assert_eq!(apply_all(&bytes, &[]).unwrap(), bytes);
        assert_eq!(s.machine(), Some("pc-i440fx-7.2"));
        assert_eq!(s.page_size, 4096);
        let (sec, body) = s.fdc().unwrap();
        assert_eq!(body.state, state);
        assert!(body.vmdesc_consistent);
        assert_eq!(sec.kind, SectionKind::Full);
        assert_eq!(&bytes[body.payload.clone()], &wire::encode(&state)[..]);
        let kinds: Vec<_> = s.sections.iter().map(|x| x.kind).collect();
        assert_eq!(
            &kinds[..3],
            [SectionKind::Start, SectionKind::Part, SectionKind::End]
        );
        let ram = s.ram_totals();
        assert_eq!(ram.pages, u64::from(opts.pages));
        assert_eq!(ram.zero_pages, u64::from(opts.zero_pages));
        assert_eq!(ram.blocks.len(), 1);
        assert_eq!(fdc_json_text(&s), fdc_stream::vmdesc_json(&state, 0));
        let found = stream::find_fdc_section(&bytes).unwrap();
        assert_eq!(found.payload, body.payload);
        assert_eq!(found.subsections.len(), body.subsections.len());
    }
}

#[test]
fn every_subsection_drops_and_adds_back_byte_identically() {
    let state = full_state();
    let bytes = build(&state, &BuildOptions::default());
    let s = parse(&bytes);
    let (_, body) = s.fdc().unwrap();
    for rec in &body.subsections {
        let dropped = drop_fdc_subsection(&bytes, rec.kind, rec.drive).unwrap();
        let d = parse(&dropped);
        let (_, db) = d.fdc().unwrap();
        assert_eq!(db.subsections.len(), body.subsections.len() - 1);
        // The vmdesc matches exactly what QEMU writes for the state without it.
        assert_eq!(fdc_json_text(&d), fdc_stream::vmdesc_json(&db.state, 0));
        let back = stream::add_fdc_subsection(&dropped, rec.kind, rec.value, rec.drive).unwrap();
        assert_eq!(
            back, bytes,
            "drop+add of {} drive {:?}",
            rec.name, rec.drive
        );
    }
    // All drives at once.
    let dropped = drop_fdc_subsection(&bytes, Subsection::Perpendicular, None).unwrap();
    let d = parse(&dropped);
    assert!(d
        .fdc()
        .unwrap()
        .1
        .state
        .drives
        .iter()
        .all(|x| x.perpendicular.is_none()));
    // Dropping everything, then adding all back in another order, gives the original.
    let mut cur = bytes.clone();
    for sub in Subsection::ALL {
        cur = drop_fdc_subsection(&cur, sub, None).unwrap();
    }
    let bare = parse(&cur);
    assert!(bare.fdc().unwrap().1.subsections.is_empty());
    assert!(!fdc_json_text(&bare).contains("subsections"));
    let mut order: Vec<_> = body.subsections.clone();
    order.reverse();
    for rec in order {
        cur = stream::add_fdc_subsection(&cur, rec.kind, rec.value, rec.drive).unwrap();
    }
    assert_eq!(cur, bytes);
}

#[test]
fn set_fdc_state_rewrites_fields_and_subsections() {
    let a = fresh_state();
    let b = full_state();
    let bytes = build(&a, &BuildOptions::default());
    let to_b = set_fdc_state(&bytes, &b).unwrap();
    assert_eq!(to_b, build(&b, &BuildOptions::default()));
    let back = set_fdc_state(&to_b, &a).unwrap();
    assert_eq!(back, bytes);
}

#[test]
fn field_edits_change_only_their_bytes() {
    let bytes = build(&full_state(), &BuildOptions::default());
    let s = parse(&bytes);
    let payload = s.fdc().unwrap().1.payload.clone();
    let set = |path: &str, value: &str| {
        apply(
            &bytes,
            &Edit::Set {
                section: SectionRef::default(),
                path: path.into(),
                value: value.into(),
            },
        )
    };
    let diff = |out: &[u8]| -> Vec<(usize, u8)> {
        assert_eq!(out.len(), bytes.len());
        (0..out.len())
            .filter(|&i| out[i] != bytes[i])
            .map(|i| (i, out[i]))
            .collect()
    };
    let p = payload.start;
    assert_eq!(diff(&set("msr", "0xd0").unwrap()), [(p + 5, 0xd0)]);
    assert_eq!(diff(&set("state.msr", "208").unwrap()), [(p + 5, 0xd0)]);
    assert_eq!(diff(&set("fifo[3]", "7").unwrap()), [(p + 9 + 3, 7)]);
    assert_eq!(
        diff(&set("data_len", "0x0102").unwrap()),
        [(p + 9 + 512 + 6, 1), (p + 9 + 512 + 7, 2)]
    );
    let out = set("drives[1].track", "5").unwrap();
    assert_eq!(parse(&out).fdc().unwrap().1.state.drives[1].track, 5);
    let out = set("reset_sensei", "-2").unwrap();
    assert_eq!(parse(&out).fdc().unwrap().1.state.reset_sensei, Some(-2));
    let out = set("drives[0].media_changed", "1").unwrap();
    assert_eq!(
        parse(&out).fdc().unwrap().1.state.drives[0].media_changed,
        Some(1)
    );
    let out = set("fdc/result_timer.result_timer", "-1").unwrap();
    assert_eq!(parse(&out).fdc().unwrap().1.state.result_timer, Some(-1));
    let out = set("fifo", &format!("hex:{}", "ab".repeat(512))).unwrap();
    assert!(parse(&out)
        .fdc()
        .unwrap()
        .1
        .state
        .fifo
        .iter()
        .all(|&b| b == 0xab));
    // Errors.
    assert!(matches!(set("msr", "256"), Err(EditError::BadValue { .. })));
    assert!(matches!(set("nope", "1"), Err(EditError::NoField { .. })));
    assert!(matches!(
        set("drives[2].track", "1"),
        Err(EditError::NoField { .. })
    ));
    assert!(matches!(
        set("drives[0]", "1"),
        Err(EditError::NoField { .. })
    ));
    let fresh = build(&fresh_state(), &BuildOptions::default());
    let err = apply(
        &fresh,
        &Edit::Set {
            section: SectionRef::default(),
            path: "reset_sensei".into(),
            value: "1".into(),
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("fdc/reset_sensei"), "{err}");
}

#[test]
fn generic_device_sections_are_walked_and_edited() {
    let bytes = build(&fresh_state(), &BuildOptions::default());
    let s = parse(&bytes);
    let pckbd = s.device_section("pckbd", Some(0)).unwrap();
    assert_eq!(pckbd.subsection_names(), ["pckbd/extended_state"]);
    let dma = s.device_section("dma", None).unwrap();
    let sec = |name: &str| SectionRef {
        name: name.into(),
        instance: None,
    };
    // Element 2 of the compressed struct array `regs`.
    let out = apply(
        &bytes,
        &Edit::Set {
            section: sec("dma"),
            path: "regs[2].mode".into(),
            value: "0x99".into(),
        },
    )
    .unwrap();
    let at = dma.payload.start + 7 + 2 * 17 + 12;
    assert_eq!((bytes[at], out[at]), (0x42, 0x99));
    // A field of a subsection, through the implicit `kbd` struct.
    let out = apply(
        &bytes,
        &Edit::Set {
            section: sec("pckbd"),
            path: "obdata".into(),
            value: "0x55".into(),
        },
    )
    .unwrap();
    assert_eq!(out.len(), bytes.len());
    // Dropping a generic subsection keeps the vmdesc consistent.
    let out = apply(
        &bytes,
        &Edit::Drop {
            section: sec("pckbd"),
            name: "pckbd/extended_state".into(),
            drive: None,
        },
    )
    .unwrap();
    let d = parse(&out);
    assert!(d
        .device_section("pckbd", None)
        .unwrap()
        .subsection_names()
        .is_empty());
    let json = String::from_utf8_lossy(&out[d.vmdesc.as_ref().unwrap().json_start..]).into_owned();
    assert!(json.contains("\"pending_tmp\", \"type\": \"uint8\", \"size\": 1}]}, \"size\": 4}"));
    assert!(!json.contains("extended_state"));
    // No layout to add it back; unknown sections and drives are refused.
    let add = |section: SectionRef, name: &str, drive| {
        apply(
            &out,
            &Edit::Add {
                section,
                name: name.into(),
                value: "0".into(),
                drive,
            },
        )
    };
    assert!(matches!(
        add(sec("pckbd"), "pckbd/extended_state", None),
        Err(EditError::UnknownLayout { .. })
    ));
    assert!(matches!(
        add(sec("nope"), "x", None),
        Err(EditError::NoSection(_))
    ));
    assert!(matches!(
        add(SectionRef::default(), "fdc/phase", Some(0)),
        Err(EditError::BadDrive(_))
    ));
    assert!(matches!(
        add(SectionRef::default(), "fdrive/media_rate", Some(2)),
        Err(EditError::BadDrive(_))
    ));
    assert!(matches!(
        add(SectionRef::default(), "fdrive/media_rate", None),
        Err(EditError::AlreadyPresent { .. })
    ));
    assert!(matches!(
        add(SectionRef::default(), "fdc/bogus", None),
        Err(EditError::UnknownLayout { .. })
    ));
}

#[test]
fn spliced_fdc_payload_is_located_but_not_edited() {
    // A payload swapped in without updating the vmdesc (what a hand-made stream does):
    // QEMU's loader ignores the vmdesc, so the parser tolerates it for the fdc section.
    let bytes = build(&fresh_state(), &BuildOptions::default());
    let s = parse(&bytes);
    let range = s.fdc().unwrap().1.payload.clone();
    let mut spliced = bytes.clone();
    spliced.splice(range, wire::encode(&full_state()));
    let p = parse(&spliced);
    assert_eq!(p.issues.len(), 1, "{:?}", p.issues);
    let (_, body) = p.fdc().unwrap();
    assert!(!body.vmdesc_consistent);
    assert_eq!(body.state, full_state());
    assert_eq!(
        stream::find_fdc_section(&spliced)
            .unwrap()
            .subsections
            .len(),
        8
    );
    let err = drop_fdc_subsection(&spliced, Subsection::Phase, None).unwrap_err();
    assert!(matches!(err, EditError::InconsistentVmdesc { .. }), "{err}");
    let j = show::to_json(&p, None);
    assert_eq!(j["fdc"]["vmdesc_consistent"], false);
    assert_eq!(j["issues"].as_array().unwrap().len(), 1);
}

#[test]
fn show_json_has_the_documented_members() {
    let bytes = build(&full_state(), &BuildOptions::default());
    let s = parse(&bytes);
    let j = show::to_json(&s, Some("x.bin"));
    assert_eq!(j["format"], show::SHOW_FORMAT);
    assert_eq!(j["size"], bytes.len());
    assert_eq!(j["machine"], "pc-i440fx-7.2");
    assert_eq!(
        j["fdc"]["sent"],
        serde_json::json!([
            "fdrive/media_changed",
            "fdrive/media_rate",
            "fdrive/perpendicular",
            "fdc/reset_sensei",
            "fdc/result_timer",
            "fdc/phase"
        ])
    );
    assert_eq!(j["fdc"]["subsections"].as_array().unwrap().len(), 8);
    assert_eq!(j["fdc"]["state"]["drives"][1]["perpendicular"], 2);
    assert_eq!(j["fdc"]["state"]["phase"], 2);
    assert_eq!(j["fdc"]["state"]["fifo"].as_str().unwrap().len(), 1024);
    let secs = j["sections"].as_array().unwrap();
    let mut at = 0;
    for sec in secs {
        assert_eq!(sec["offset"], at, "{sec}");
        at += sec["size"].as_u64().unwrap();
    }
    assert_eq!(at, bytes.len() as u64);
    let text = show::to_text(&s, "x.bin");
    assert!(text.contains("fdc/result_timer"), "{text}");
    assert!(text.contains("vmdesc"), "{text}");
}

/// xorshift, so the hostile inputs are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn hostile_streams_give_typed_errors_never_panics() {
    let bytes = build(
        &full_state(),
        &BuildOptions {
            pages: 1,
            zero_pages: 1,
            ..Default::default()
        },
    );
    // Every truncation.
    for n in 0..bytes.len() {
        let e = MigrationStream::parse(&bytes[..n]).err();
        assert!(e.is_some(), "truncated at {n} parses");
        if let Some(off) = e.and_then(|e| e.offset()) {
            assert!(off <= n, "offset {off} beyond {n}");
        }
    }
    // Random byte changes: no panic, errors carry offsets inside the input.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % b.len();
            b[i] = rng.next() as u8;
        }
        if let Err(e) = MigrationStream::parse(&b) {
            assert!(e.offset().is_none_or(|o| o <= b.len()), "{e}");
            let _ = e.to_string();
        } else {
            let _ = drop_fdc_subsection(&b, Subsection::MediaRate, None);
        }
    }
    // Specific errors with their offsets.
    assert_eq!(
        MigrationStream::parse(b"QEVX\0\0\0\x03\0").unwrap_err(),
        StreamError::BadMagic
    );
    assert_eq!(
        MigrationStream::parse(b"QEVM\0\0\0\x02\0").unwrap_err(),
        StreamError::BadVersion(2)
    );
    let s = parse(&bytes);
    let fdc_sec = s.fdc().unwrap().0.clone();
    let mut b = bytes.clone();
    b[fdc_sec.offset] = 0x09;
    assert!(matches!(
        MigrationStream::parse(&b),
        Err(StreamError::Malformed { offset, .. }) if offset == fdc_sec.offset
    ));
    let mut b = bytes.clone();
    let footer = fdc_sec.footer.unwrap();
    b[footer + 4] ^= 1;
    assert!(matches!(
        MigrationStream::parse(&b),
        Err(StreamError::Malformed { offset, .. }) if offset == footer
    ));
    // An unknown fdc subsection name (same length as a known one).
    let sub = &s.fdc().unwrap().1.subsections[0];
    let mut b = bytes.clone();
    b[sub.range.start + 2 + 7] = b'X';
    let e = MigrationStream::parse(&b).unwrap_err();
    assert!(
        matches!(e, StreamError::Fdc { offset, .. } if offset == sub.range.start),
        "{e}"
    );
    // A ram record with unknown flags.
    let part = &s.sections[1];
    let mut b = bytes.clone();
    b[part.payload.start + 7] = 0x01;
    assert!(matches!(
        MigrationStream::parse(&b),
        Err(StreamError::Ram { offset, .. }) if offset == part.payload.start
    ));
    // A huge announced length is an error, not an allocation.
    let mut b = bytes[..8].to_vec();
    b.extend_from_slice(&[0x07, 0xff, 0xff, 0xff, 0xff, b'p']);
    assert!(matches!(
        MigrationStream::parse(&b),
        Err(StreamError::Truncated { offset: 8, .. })
    ));
    // Garbage after EOF (an fdc-only stream: the fdc walks without a vmdesc).
    let fdc_only = build(
        &full_state(),
        &BuildOptions {
            extra_devices: false,
            ..Default::default()
        },
    );
    let eof = parse(&fdc_only).eof_offset;
    let mut b = fdc_only[..eof + 1].to_vec();
    assert_eq!(
        parse(&b).issues.len(),
        1,
        "no vmdesc to check the fdc against"
    );
    b.extend_from_slice(b"junk");
    assert!(matches!(
        MigrationStream::parse(&b),
        Err(StreamError::Vmdesc { offset, .. }) if offset == eof + 1
    ));
    let eof = s.eof_offset;
    // A device section without a vmdesc.
    let mut b = bytes.clone();
    b.truncate(eof + 1);
    assert!(matches!(
        MigrationStream::parse(&b),
        Err(StreamError::NoVmdesc { .. })
    ));
}
