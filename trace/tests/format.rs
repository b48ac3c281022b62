//! The trace format: round trips, version refusal, and damaged input.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc_trace::format::{MAGIC, MAX_CHUNK_EVENTS, PREAMBLE_LEN};
use fdc_trace::*;
use proptest::prelude::*;

fn sample_header() -> TraceHeader {
    TraceHeader {
        guest: Some("FreeDOS".into()),
        guest_version: Some("1.3".into()),
        workload: Some("format and copy".into()),
        provenance: Provenance {
            kind: ProvenanceKind::DriverModel,
            recorder: Some("qemu-system-x86_64 -trace fdc_*".into()),
            packages: vec![PackageVersion {
                name: "qemu-system-x86".into(),
                version: "7.2".into(),
            }],
        },
        qemu_version: Some("7.2.22".into()),
        drives: vec![
            Drive {
                unit: 0,
                drive_type: DriveType::Auto,
                medium: Some(Medium {
                    format: Some("1.44M".into()),
                    size: 1_474_560,
                    read_only: true,
                    digest: None,
                    embedded: false,
                    image: None,
                }),
            },
            Drive {
                unit: 1,
                drive_type: DriveType::Fd120,
                medium: None,
            },
        ],
        clock: Clock::Host {
            origin_unix_ns: 1_795_642_276_003_149_000,
        },
        source: Some("t.log".into()),
        notes: vec!["a note".into()],
    }
}

/// A deterministic mix of all event kinds with non-decreasing times.
fn events(n: usize) -> Vec<Event> {
    let mut t = 0u64;
    let mut x: u32 = 12345;
    (0..n)
        .map(|i| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            t += u64::from(x >> 20) % 5000;
            match i % 50 {
                7 => Event::Stage {
                    t_ns: t,
                    label: format!("stage {i}"),
                },
                13 => Event::Media {
                    t_ns: t,
                    drive: 1,
                    change: MediaChange::Eject,
                },
                14 => Event::Media {
                    t_ns: t,
                    drive: 1,
                    change: MediaChange::Insert {
                        size: 737_280,
                        read_only: i % 2 == 0,
                    },
                },
                k if k % 2 == 0 => Event::PortRead {
                    t_ns: t,
                    offset: (x % 8) as u8,
                    value: (x >> 8) as u8,
                },
                _ => Event::PortWrite {
                    t_ns: t,
                    offset: (x % 8) as u8,
                    value: (x >> 16) as u8,
                },
            }
        })
        .collect()
}

fn write_trace(header: &TraceHeader, evs: &[Event], opts: WriteOptions) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), header, opts).expect("writer");
    for e in evs {
        w.write_event(e.clone()).expect("write_event");
    }
    w.finish().expect("finish")
}

#[test]
fn round_trip_many_chunks_plain_and_gzip() {
    let evs = events(200_000);
    assert!(evs.len() > 3 * MAX_CHUNK_EVENTS);
    for gzip in [false, true] {
        let bytes = write_trace(
            &sample_header(),
            &evs,
            WriteOptions {
                gzip,
                chunk_events: MAX_CHUNK_EVENTS,
            },
        );
        let (h, back) = read_all_from(&bytes[..]).expect("read back");
        assert_eq!(h, sample_header());
        assert_eq!(back.len(), evs.len());
        assert!(back == evs, "events differ (gzip={gzip})");
        // The streaming reader yields the same events one by one.
        let r = TraceReader::new(&bytes[..]).unwrap();
        assert_eq!(r.is_compressed(), gzip);
        let mut n = 0;
        for (got, want) in r.zip(&evs) {
            assert_eq!(&got.unwrap(), want);
            n += 1;
        }
        assert_eq!(n, evs.len());
    }
}

#[test]
fn gzip_is_smaller_and_flagged() {
    let evs = events(20_000);
    let plain = write_trace(
        &sample_header(),
        &evs,
        WriteOptions {
            gzip: false,
            ..Default::default()
        },
    );
    let gz = write_trace(
        &sample_header(),
        &evs,
        WriteOptions {
            gzip: true,
            ..Default::default()
        },
    );
    assert_eq!(&gz[..8], MAGIC);
    assert_eq!(gz[10] & 1, 1);
    assert_eq!(plain[10] & 1, 0);
    assert!(gz.len() < plain.len(), "{} vs {}", gz.len(), plain.len());
}

#[test]
fn file_round_trip_with_embedded_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.fdctrace");
    let mut h = sample_header();
    let image: Vec<u8> = (0..737_280u32).map(|i| (i * 31 % 251) as u8).collect();
    h.drives[1].medium = Some(Medium {
        size: image.len() as u64,
        image: Some(image.clone()),
        ..Default::default()
    });
    let evs = events(1000);
    let mut w = TraceWriter::create(&path, &h, WriteOptions::default()).unwrap();
    for e in &evs {
        w.write_event(e.clone()).unwrap();
    }
    w.finish().unwrap();
    let (back, got) = read_all(&path).unwrap();
    assert_eq!(got, evs);
    let m = back.drives[1].medium.as_ref().unwrap();
    assert!(m.embedded);
    assert_eq!(m.digest, Some(ImageDigest::of(&image)));
    assert_eq!(m.image.as_deref(), Some(&image[..]));
}

#[test]
fn small_chunks_and_empty_trace() {
    let evs = events(1000);
    let bytes = write_trace(
        &sample_header(),
        &evs,
        WriteOptions {
            gzip: false,
            chunk_events: 7,
        },
    );
    assert_eq!(read_all_from(&bytes[..]).unwrap().1, evs);
    let bytes = write_trace(&sample_header(), &[], WriteOptions::default());
    assert!(read_all_from(&bytes[..]).unwrap().1.is_empty());
}

#[test]
fn writer_refuses_bad_events() {
    let mut w = TraceWriter::new(Vec::new(), &sample_header(), WriteOptions::default()).unwrap();
    w.write_event(Event::PortRead {
        t_ns: 10,
        offset: 4,
        value: 0x80,
    })
    .unwrap();
    let e = w
        .write_event(Event::PortRead {
            t_ns: 9,
            offset: 4,
            value: 0x80,
        })
        .unwrap_err();
    assert!(e.to_string().contains("must not decrease"), "{e}");
    let e = w
        .write_event(Event::PortWrite {
            t_ns: 10,
            offset: 8,
            value: 0,
        })
        .unwrap_err();
    assert!(e.to_string().contains("port offset 8"), "{e}");
    let e = w
        .write_event(Event::Stage {
            t_ns: 10,
            label: "x".repeat(5000),
        })
        .unwrap_err();
    assert!(e.to_string().contains("label"), "{e}");
}

#[test]
fn unknown_future_version_is_refused() {
    let mut bytes = write_trace(&sample_header(), &events(10), WriteOptions::default());
    bytes[8..10].copy_from_slice(&2u16.to_le_bytes());
    let err = TraceReader::new(&bytes[..]).err().expect("must refuse");
    assert!(err.is_unsupported_version());
    let msg = err.to_string();
    assert!(msg.contains("version 2 is not supported"), "{msg}");
    assert!(msg.contains("reads version 1"), "{msg}");

    // And from a file: the message names it.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("future.fdctrace");
    std::fs::write(&p, &bytes).unwrap();
    let msg = read_all(&p).unwrap_err().to_string();
    assert!(msg.starts_with(&p.display().to_string()), "{msg}");
}

#[test]
fn not_a_trace() {
    let err = read_all_from(&b"hello world, not a trace"[..]).unwrap_err();
    assert!(err.to_string().contains("not an fdc-replay trace"), "{err}");
    let err = read_all_from(&b""[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the file is empty (0 bytes), not an fdc-replay trace"
    );
}

#[test]
fn every_truncation_is_an_error() {
    for gzip in [false, true] {
        let bytes = write_trace(
            &sample_header(),
            &events(300),
            WriteOptions {
                gzip,
                chunk_events: 50,
            },
        );
        for len in 0..bytes.len() {
            let r = read_all_from(&bytes[..len]);
            assert!(
                r.is_err(),
                "gzip={gzip}: truncation to {len} of {} bytes was accepted",
                bytes.len()
            );
        }
        // Trailing garbage is refused too: after the end block, or after the gzip member
        // (named with its offset in the file).
        let mut more = bytes.clone();
        more.push(0);
        let msg = read_all_from(&more[..]).unwrap_err().to_string();
        if gzip {
            assert_eq!(
                msg,
                format!(
                    "at byte {}: corrupt trace: data after the end of the gzip stream",
                    bytes.len()
                )
            );
        } else {
            assert!(msg.contains("data after the end block"), "{msg}");
        }
    }
}

#[test]
fn truncated_gzip_names_the_file_offset() {
    let bytes = write_trace(
        &sample_header(),
        &events(300),
        WriteOptions {
            gzip: true,
            chunk_events: 50,
        },
    );
    let cut = bytes.len() - 20;
    let msg = read_all_from(&bytes[..cut]).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "at byte {cut}: truncated trace: the file ends inside the gzip stream (the file is cut short)"
        )
    );
    // A damaged gzip trailer (its CRC-32 is the 8th to 5th bytes from the end).
    let mut bad = bytes.clone();
    let at = bad.len() - 8;
    bad[at] ^= 0xff;
    let msg = read_all_from(&bad[..]).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "at byte {}: corrupt trace: the gzip stream is damaged (corrupt gzip stream does not have a matching checksum)",
            bad.len()
        )
    );
}

#[test]
fn truncation_error_names_offset() {
    let bytes = write_trace(
        &sample_header(),
        &events(300),
        WriteOptions {
            gzip: false,
            chunk_events: 50,
        },
    );
    let cut = bytes.len() - 20;
    let msg = read_all_from(&bytes[..cut]).unwrap_err().to_string();
    assert!(msg.contains("at byte"), "{msg}");
    assert!(msg.contains("truncated") || msg.contains("ends"), "{msg}");
}

#[test]
fn corruption_is_detected_by_checksum() {
    let bytes = write_trace(
        &sample_header(),
        &events(300),
        WriteOptions {
            gzip: false,
            chunk_events: 50,
        },
    );
    let mut bad = bytes.clone();
    let i = bad.len() / 2;
    bad[i] ^= 0x40;
    let msg = read_all_from(&bad[..]).unwrap_err().to_string();
    assert!(msg.contains("at byte"), "{msg}");
}

#[test]
fn hostile_lengths_are_capped() {
    // A header block claiming 4 GiB: refused without allocating it.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.push(b'H');
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let msg = read_all_from(&bytes[..]).unwrap_err().to_string();
    assert!(msg.contains("limit"), "{msg}");
    assert!(msg.contains(&format!("at byte {PREAMBLE_LEN}")), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_all_from(&data[..]);
        // With a valid preamble, the block parser sees the random rest.
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&[1, 0, (data.first().copied().unwrap_or(0) & 1), 0]);
        with_magic.extend_from_slice(&data);
        let _ = read_all_from(&with_magic[..]);
    }

    #[test]
    fn mutated_traces_never_panic(
        gzip in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let bytes = write_trace(&sample_header(), &events(200), WriteOptions { gzip, chunk_events: 40 });
        let mut m = bytes.clone();
        for (i, x) in &flips {
            let k = i.index(m.len());
            m[k] ^= *x;
        }
        m.truncate(cut.index(m.len() + 1));
        let r = read_all_from(&m[..]);
        if m.len() < bytes.len() {
            prop_assert!(r.is_err());
        }
        if m == bytes {
            prop_assert!(r.is_ok());
        }
    }
}
