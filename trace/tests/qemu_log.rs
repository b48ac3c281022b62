//! Parsing QEMU trace-log lines in every prefix style QEMU has used.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

use fdc_trace::qemu_log::{parse_line, LogLine, Parsed, Record};
use fdc_trace::sidecar::{parse_sidecar_line, SidecarKind};
use fdc_trace::MediaChange;

fn line(s: &str) -> LogLine {
    match parse_line(s) {
        Ok(Parsed::Line(l)) => l,
        other => panic!("{s:?} gave {other:?}"),
    }
}

#[test]
fn no_prefix() {
    assert_eq!(
        line("fdc_ioport_read read reg 0x04 val 0x80"),
        LogLine {
            unix_ns: None,
            record: Record::FdcRead { reg: 4, val: 0x80 }
        }
    );
    assert_eq!(
        line("fdc_ioport_write write reg 0x02 val 0x08\r"),
        LogLine {
            unix_ns: None,
            record: Record::FdcWrite { reg: 2, val: 0x08 }
        }
    );
}

#[test]
fn pid_at_seconds_prefix() {
    assert_eq!(
        line("2486@1795642276.003149:fdc_ioport_write write reg 0x02 val 0x08"),
        LogLine {
            unix_ns: Some(1_795_642_276_003_149_000),
            record: Record::FdcWrite { reg: 2, val: 8 }
        }
    );
    assert_eq!(
        line("6120@1795646550.358567:fdc_ioport_read read reg 0x04 val 0xd0"),
        LogLine {
            unix_ns: Some(1_795_646_550_358_567_000),
            record: Record::FdcRead { reg: 4, val: 0xd0 }
        }
    );
}

#[test]
fn iso_prefix() {
    // 2026-11-25T22:38:20Z is 1795646300 s after the epoch.
    assert_eq!(
        line("2026-11-25T22:38:20.123456Z fdc_ioport_write write reg 0x02 val 0x08"),
        LogLine {
            unix_ns: Some(1_795_646_300_123_456_000),
            record: Record::FdcWrite { reg: 2, val: 8 }
        }
    );
    // ISO and pid@ together: the trace backend's own time wins.
    assert_eq!(
        line("2026-11-25T22:38:20.123456Z 2486@1795642276.003149:fdc_ioport_read read reg 0x05 val 0x00"),
        LogLine { unix_ns: Some(1_795_642_276_003_149_000), record: Record::FdcRead { reg: 5, val: 0 } }
    );
    // Program/thread prefix as newer QEMUs print on log messages, and a zone offset.
    assert_eq!(
        line("2026-11-25T23:38:20.5+01:00 qemu-system-x86_64(2486:CPU 0/TCG): fdc_ioport_read read reg 0x07 val 0x80"),
        LogLine { unix_ns: Some(1_795_646_300_500_000_000), record: Record::FdcRead { reg: 7, val: 0x80 } }
    );
    assert_eq!(
        line("[guest1] qemu-system-x86_64: fdc_ioport_read read reg 0x07 val 0x80").record,
        Record::FdcRead { reg: 7, val: 0x80 }
    );
}

#[test]
fn serial_lines() {
    assert_eq!(
        line("2277@1795646673.144033:serial_write write addr 0x00 val 0x4d"),
        LogLine {
            unix_ns: Some(1_795_646_673_144_033_000),
            record: Record::SerialWrite { addr: 0, val: 0x4d }
        }
    );
    assert_eq!(
        line("serial_ioport_write write addr 0x03 val 0x83").record,
        Record::SerialWrite { addr: 3, val: 0x83 }
    );
}

#[test]
fn unrelated_lines_are_skipped() {
    for s in [
        "",
        "   ",
        "2026-11-25T22:42:35.099073Z qemu-system-x86_64: terminating on signal 15 from pid 6116 (timeout)",
        "qemu-system-x86_64: warning: host doesn't support requested feature",
        "2486@1795642276.003149:fdctrl_tc_pulse tc pulse: 1",
        "2486@1795642276.003149:serial_read read addr 0x05 val 0x60",
        "2486@1795642276.003149:ide_ioport_write IDE PIO wr @ 0x1f6 (Device/Head) val 0xa0; bus 0x55 IDE-device 0x0",
        "SeaBIOS (version 1.16.2-debian-1.16.2-1)",
    ] {
        assert_eq!(parse_line(s), Ok(Parsed::Unrelated), "{s:?}");
    }
    // Mentions the event but in no shape we know: skipped, yet flagged for the summary.
    assert_eq!(
        parse_line("garbage fdc_ioport_write write reg 0x02 val 0x08"),
        Ok(Parsed::Suspicious)
    );
    assert_eq!(
        parse_line("fdc_ioport_readx read reg 0x04 val 0x80"),
        Ok(Parsed::Suspicious)
    );
}

#[test]
fn malformed_fdc_lines_are_errors() {
    for (s, needle) in [
        ("fdc_ioport_write write reg 0xzz val", "malformed"),
        ("fdc_ioport_write write reg 0x02 val 0xzz", "bad val"),
        ("fdc_ioport_write write reg 0x02", "malformed"),
        ("fdc_ioport_write read reg 0x02 val 0x08", "malformed"),
        (
            "fdc_ioport_read read reg 0x08 val 0x00",
            "out of range 0..7",
        ),
        (
            "fdc_ioport_read read reg 0x04 val 0x100",
            "out of range 0..0xff",
        ),
        ("fdc_ioport_read read reg 0x04 val 0x80 extra", "malformed"),
        ("1@2.3:fdc_ioport_read", "malformed"),
        ("serial_write write addr 0x00 val", "malformed"),
    ] {
        match parse_line(s) {
            Err(e) => assert!(e.to_string().contains(needle), "{s:?}: {e}"),
            other => panic!("{s:?} gave {other:?}"),
        }
    }
}

#[test]
fn sidecar_lines() {
    assert_eq!(
        parse_sidecar_line(r#"{"t": 1795642276.5, "marker": "copy"}"#),
        Ok((
            1_795_642_276_500_000_000,
            SidecarKind::Marker("copy".into())
        ))
    );
    assert_eq!(
        parse_sidecar_line(r#"{"t": 1795642276.000001, "media": {"drive": 0, "action": "eject"}}"#),
        Ok((
            1_795_642_276_000_001_000,
            SidecarKind::Media {
                drive: 0,
                change: MediaChange::Eject
            }
        ))
    );
    assert_eq!(
        parse_sidecar_line(
            r#"{"t": 1, "media": {"drive": 1, "action": "insert", "size": "720K", "ro": true}}"#
        ),
        Ok((
            1_000_000_000,
            SidecarKind::Media {
                drive: 1,
                change: MediaChange::Insert {
                    size: 737_280,
                    read_only: true
                }
            }
        ))
    );
    assert_eq!(
        parse_sidecar_line(
            r#"{"t": 1, "media": {"drive": 0, "action": "insert", "size": 368640}}"#
        ),
        Ok((
            1_000_000_000,
            SidecarKind::Media {
                drive: 0,
                change: MediaChange::Insert {
                    size: 368_640,
                    read_only: false
                }
            }
        ))
    );
    // Fields a recorder adds (e.g. the digest of an inserted image) are ignored.
    assert!(parse_sidecar_line(r#"{"t": 1, "media": {"drive": 0, "action": "insert", "size": "720K", "image_sha256": "ab"}}"#).is_ok());
    assert!(parse_sidecar_line(r#"{"t": 1, "marker": "x", "colour": "red"}"#).is_ok());
    for bad in [
        r#"{"t": 1}"#,
        r#"{"t": -1, "marker": "x"}"#,
        r#"{"t": 20000000000, "marker": "x"}"#,
        r#"{"marker": "x"}"#,
        r#"{"t": 1, "marker": "x", "media": {"drive": 0, "action": "eject"}}"#,
        r#"{"t": 1, "media": {"drive": 0, "action": "insert"}}"#,
        r#"{"t": 1, "media": {"drive": 0, "action": "insert", "size": "9.99M"}}"#,
        r#"{"t": 1, "media": {"drive": 2, "action": "eject"}}"#,
        r#"{"t": 1, "media": {"drive": 0, "action": "shake"}}"#,
        "not json",
    ] {
        assert!(parse_sidecar_line(bad).is_err(), "{bad}");
    }
}
