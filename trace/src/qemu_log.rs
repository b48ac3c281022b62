//! Parsing of QEMU trace-log lines (the `log` trace backend, `-trace fdc_*`).
//!
//! QEMU has printed trace events with several prefixes over the years; all of these are
//! accepted, in any combination:
//!
//! * none: `fdc_ioport_write write reg 0x02 val 0x08` (no `-msg timestamp=on`);
//! * `PID@SECONDS.MICROS:` glued to the event name, e.g.
//!   `2486@1795642276.003149:fdc_ioport_write write reg 0x02 val 0x08`
//!   (QEMU up to 10.0 with `-msg timestamp=on`);
//! * an ISO-8601 UTC timestamp and a space, e.g.
//!   `2026-11-25T22:38:20.123456Z fdc_ioport_write ...` (the `-msg timestamp=on` prefix;
//!   offsets such as `+01:00` are accepted too);
//! * a program prefix such as `qemu-system-x86_64:` or `qemu-system-x86_64(2486:CPU 0/TCG):`
//!   and a bracketed `[name]`, which newer QEMUs put on log messages.
//!
//! When a line carries both an ISO timestamp and a `PID@SECONDS` one, the latter wins: it
//! is the trace backend's own clock reading. Both are host wall-clock times.
//!
//! Lines whose event is not one we use (other trace events, QEMU messages, guest output)
//! are unrelated and skipped. A line naming `fdc_ioport_read`/`fdc_ioport_write` (or
//! `serial_write`) whose arguments do not parse is an error: silently dropping a port
//! access would make the replay wrong.

/// A trace event this importer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// `fdc_ioport_read read reg 0xRR val 0xVV`
    FdcRead {
        /// Register offset.
        reg: u8,
        /// Value.
        val: u8,
    },
    /// `fdc_ioport_write write reg 0xRR val 0xVV`
    FdcWrite {
        /// Register offset.
        reg: u8,
        /// Value.
        val: u8,
    },
    /// `serial_write write addr 0xAA val 0xVV` (`serial_ioport_write` in older QEMUs):
    /// a guest write to a 16550 UART register.
    SerialWrite {
        /// UART register offset.
        addr: u8,
        /// Value.
        val: u8,
    },
}

/// A parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine {
    /// Host time of the event in nanoseconds since the Unix epoch, when the line has one.
    pub unix_ns: Option<u64>,
    /// The event.
    pub record: Record,
}

/// What a line turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// An event we use.
    Line(LogLine),
    /// Anything else.
    Unrelated,
    /// Unrelated by the rules above, yet the text mentions `fdc_ioport_`: reported in the
    /// summary so that a log format we do not know does not go unnoticed.
    Suspicious,
}

pub use crate::lines::LineError;

/// Parses one line of a QEMU log (without its line terminator; a trailing `\r` is
/// ignored).
pub fn parse_line(line: &str) -> Result<Parsed, LineError> {
    let mut rest = line.trim_end_matches(['\r', '\n']).trim_start();
    let mut iso: Option<u64> = None;
    let mut pid_time: Option<u64> = None;
    // A handful of prefix pieces at most; the bound keeps odd lines cheap.
    for _ in 0..8 {
        if iso.is_none() {
            if let Some((t, r)) = parse_iso_prefix(rest) {
                iso = Some(t);
                rest = r.trim_start();
                continue;
            }
        }
        if pid_time.is_none() {
            if let Some((t, r)) = parse_pid_time(rest) {
                pid_time = Some(t);
                rest = r.trim_start();
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('[') {
            if let Some(end) = r.find(']') {
                rest = r[end + 1..].trim_start();
                continue;
            }
        }
        if let Some(r) = skip_program(rest) {
            rest = r.trim_start();
            continue;
        }
        break;
    }
    let (name, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let record = match name {
        "fdc_ioport_read" => {
            let (reg, val) = parse_args(name, args, "read", "reg")?;
            Record::FdcRead {
                reg: check_reg(reg)?,
                val: check_val(val)?,
            }
        }
        "fdc_ioport_write" => {
            let (reg, val) = parse_args(name, args, "write", "reg")?;
            Record::FdcWrite {
                reg: check_reg(reg)?,
                val: check_val(val)?,
            }
        }
        "serial_write" | "serial_ioport_write" => {
            let (addr, val) = parse_args(name, args, "write", "addr")?;
            let addr = u8::try_from(addr)
                .ok()
                .filter(|a| *a <= 7)
                .ok_or_else(|| LineError(format!("{name}: addr {addr:#x} is out of range 0..7")))?;
            Record::SerialWrite {
                addr,
                val: check_val(val)?,
            }
        }
        _ => {
            return Ok(if line.contains("fdc_ioport_") {
                Parsed::Suspicious
            } else {
                Parsed::Unrelated
            });
        }
    };
    Ok(Parsed::Line(LogLine {
        unix_ns: pid_time.or(iso),
        record,
    }))
}

fn check_reg(reg: u32) -> Result<u8, LineError> {
    u8::try_from(reg)
        .ok()
        .filter(|r| *r <= 7)
        .ok_or_else(|| LineError(format!("reg {reg:#x} is out of range 0..7")))
}

fn check_val(val: u32) -> Result<u8, LineError> {
    u8::try_from(val).map_err(|_| LineError(format!("val {val:#x} is out of range 0..0xff")))
}

/// Parses `DIR KEY 0xNN val 0xNN` exactly.
fn parse_args(name: &str, args: &str, dir: &str, key: &str) -> Result<(u32, u32), LineError> {
    let bad = || {
        LineError(format!(
            "malformed {name} line: expected `{name} {dir} {key} 0xNN val 0xNN`, found `{name}{}`",
            args.trim_end()
        ))
    };
    let mut it = args.split_whitespace();
    let (Some(d), Some(k), Some(a), Some(v), Some(b), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return Err(bad());
    };
    if d != dir || k != key || v != "val" {
        return Err(bad());
    }
    let a = parse_hex(a).ok_or_else(|| {
        LineError(format!(
            "malformed {name} line: bad {key} `{a}` (expected 0xNN)"
        ))
    })?;
    let b = parse_hex(b).ok_or_else(|| {
        LineError(format!(
            "malformed {name} line: bad val `{b}` (expected 0xNN)"
        ))
    })?;
    Ok((a, b))
}

/// `0x` followed by 1 to 8 hex digits.
fn parse_hex(s: &str) -> Option<u32> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if h.is_empty() || h.len() > 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(h, 16).ok()
}

/// `PID@SECONDS.FRACTION:` → (unix ns, rest after the colon).
fn parse_pid_time(s: &str) -> Option<(u64, &str)> {
    let at = s.find('@')?;
    let pid = &s[..at];
    if pid.is_empty() || pid.len() > 10 || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let after = &s[at + 1..];
    let colon = after.find(':')?;
    let ts = &after[..colon];
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let ns = seconds_to_ns(secs, frac)?;
    Some((ns, &after[colon + 1..]))
}

/// Seconds and a decimal fraction (0 to 9 digits) → nanoseconds.
fn seconds_to_ns(secs: &str, frac: &str) -> Option<u64> {
    if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let s: u64 = secs.parse().ok()?;
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        f *= 10;
    }
    s.checked_mul(1_000_000_000)?.checked_add(f)
}

/// A program-name prefix: `name:` or `name(anything without parentheses):`, followed by
/// whitespace. The name is letters, digits and `_-./`.
fn skip_program(s: &str) -> Option<&str> {
    let name_len = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        .count();
    if name_len == 0 {
        return None;
    }
    let mut rest = &s[name_len..];
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')')?;
        if r[..close].contains('(') {
            return None;
        }
        rest = &r[close + 1..];
    }
    let rest = rest.strip_prefix(':')?;
    if rest.is_empty() || rest.starts_with(char::is_whitespace) {
        Some(rest)
    } else {
        None
    }
}

/// An ISO-8601 timestamp `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM|±HHMM)` at the start of
/// `s`, followed by whitespace or a colon (or the end). Returns unix ns and the rest.
pub fn parse_iso_prefix(s: &str) -> Option<(u64, &str)> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = digits(0, 4)?;
    if b.get(4) != Some(&b'-') {
        return None;
    }
    let month = digits(5, 2)?;
    if b.get(7) != Some(&b'-') {
        return None;
    }
    let day = digits(8, 2)?;
    if !matches!(b.get(10), Some(b'T') | Some(b't') | Some(b' ')) {
        return None;
    }
    let hour = digits(11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let min = digits(14, 2)?;
    if b.get(16) != Some(&b':') {
        return None;
    }
    let sec = digits(17, 2)?;
    let mut i = 19;
    let mut frac = "";
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        let start = i + 1;
        let n = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        frac = &s[start..start + n];
        i = start + n;
    }
    let mut offset_secs: i64 = 0;
    match b.get(i) {
        Some(b'Z') | Some(b'z') => i += 1,
        Some(&c @ (b'+' | b'-')) => {
            let oh = digits(i + 1, 2)?;
            let (om, len) = if b.get(i + 3) == Some(&b':') {
                (digits(i + 4, 2)?, 6)
            } else {
                (digits(i + 3, 2)?, 5)
            };
            if oh > 23 || om > 59 {
                return None;
            }
            offset_secs = i64::from(oh * 3600 + om * 60);
            if c == b'-' {
                offset_secs = -offset_secs;
            }
            i += len;
        }
        _ => {} // no zone: taken as UTC, as QEMU prints UTC
    }
    let rest = &s[i..];
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace) || rest.starts_with(':')) {
        return None;
    }
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    let ns = seconds_to_ns(&secs.to_string(), frac)?;
    Some((ns, rest))
}

// `is_multiple_of` is newer than the workspace's minimum Rust version.
#[allow(clippy::manual_is_multiple_of)]
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_epoch() {
        assert_eq!(
            parse_iso_prefix("1970-01-01T00:00:00Z x").map(|p| p.0),
            Some(0)
        );
        assert_eq!(
            parse_iso_prefix("2000-03-01T00:00:01.5Z").map(|p| p.0),
            Some(951_868_801_500_000_000)
        );
        assert_eq!(
            parse_iso_prefix("2000-03-01T01:00:01.5+01:00").map(|p| p.0),
            Some(951_868_801_500_000_000)
        );
        assert_eq!(parse_iso_prefix("2000-02-30T00:00:00Z"), None);
        assert_eq!(parse_iso_prefix("2000-02-03T00:00:00Zabc"), None);
    }

    #[test]
    fn program_prefix() {
        assert_eq!(skip_program("qemu-system-x86_64: x"), Some(" x"));
        assert_eq!(
            skip_program("qemu-system-x86_64(12:CPU 0/TCG): x"),
            Some(" x")
        );
        assert_eq!(skip_program("fdc_ioport_write write"), None);
        assert_eq!(skip_program("a:b"), None);
    }
}
