//! QEMU's own wire format of the `fdc` section payload (what sits between the section
//! header and its footer in a migration stream), so a state can be compared byte for byte
//! with what real QEMU writes, and QEMU streams can be loaded.
//!
//! Fields are big-endian; a subsection record is `0x05, name length, name, be32 version`
//! followed by its fields. Loading follows QEMU's `vmstate_subsection_load`: while the next
//! byte is 0x05 and the name starts with the parent's name it is a subsection of that
//! parent (any order, repeats load again); an unknown name is an error; a version whose
//! low byte is not 1 is an error; a name without the parent's prefix ends the list.

use thiserror::Error;

use crate::controller::FIFO_LEN;
use crate::migration::{FdcState, FdriveState, Subsection};

const SUBSECTION_MARKER: u8 = 0x05;

/// A wire-format decoding failure, with the byte offset where it happened.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// The payload ends inside a field.
    #[error("stream ends at offset {offset} while reading {what}")]
    Truncated {
        /// Where.
        offset: usize,
        /// The field.
        what: &'static str,
    },
    /// A subsection name QEMU 7.2 does not know under its parent.
    #[error("unknown subsection '{name}' at offset {offset}")]
    UnknownSubsection {
        /// Where its record starts.
        offset: usize,
        /// Its name.
        name: String,
    },
    /// A subsection version whose low byte is not 1.
    #[error("subsection '{name}' at offset {offset} has version {version}, only 1 is known")]
    BadVersion {
        /// Where its record starts.
        offset: usize,
        /// Its name.
        name: String,
        /// The version.
        version: u32,
    },
    /// Bytes after the section (with [`decode`]).
    #[error("{0} trailing bytes after the fdc section")]
    Trailing(usize),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(WireError::Truncated {
                offset: self.pos,
                what,
            });
        };
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.bytes(1, what)?[0])
    }
    fn be32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn be64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn peek(&self, at: usize) -> Option<u8> {
        self.buf.get(self.pos + at).copied()
    }

    /// The next subsection name under `parent`, consumed with its version, or `None` when
    /// the list of `parent`'s subsections ends here.
    fn subsection(&mut self, parent: &str) -> Result<Option<Subsection>, WireError> {
        if self.peek(0) != Some(SUBSECTION_MARKER) {
            return Ok(None);
        }
        let Some(len) = self.peek(1) else {
            return Ok(None);
        };
        let len = len as usize;
        if len < parent.len() + 1 {
            return Ok(None);
        }
        let start = self.pos + 2;
        let Some(name) = self.buf.get(start..start + len) else {
            return Ok(None);
        };
        if !name.starts_with(parent.as_bytes()) {
            return Ok(None);
        }
        let offset = self.pos;
        let name = String::from_utf8_lossy(name).into_owned();
        let sub = Subsection::from_name(&name)
            .filter(|s| s.name().starts_with(parent))
            .ok_or_else(|| WireError::UnknownSubsection {
                offset,
                name: name.clone(),
            })?;
        self.pos = start + len;
        let version = self.be32("subsection version")?;
        if version & 0xFF != 1 {
            return Err(WireError::BadVersion {
                offset,
                name,
                version,
            });
        }
        Ok(Some(sub))
    }
}

/// Decodes an `fdc` section payload. Returns the state and the subsection names in stream
/// order (a repeated subsection appears twice; the later value wins, as in QEMU).
pub fn decode(payload: &[u8]) -> Result<(FdcState, Vec<Subsection>), WireError> {
    let (state, order, used) = decode_prefix(payload)?;
    if used != payload.len() {
        return Err(WireError::Trailing(payload.len() - used));
    }
    Ok((state, order))
}

/// Like [`decode`] but stops where QEMU's loader would stop and reports how many bytes
/// it consumed (the section footer would follow).
pub fn decode_prefix(payload: &[u8]) -> Result<(FdcState, Vec<Subsection>, usize), WireError> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let mut order = Vec::new();
    let u = |r: &mut Reader<'_>, w| r.u8(w);
    let sra = u(&mut r, "sra")?;
    let srb = u(&mut r, "srb")?;
    let dor_vmstate = u(&mut r, "dor")?;
    let tdr = u(&mut r, "tdr")?;
    let dsr = u(&mut r, "dsr")?;
    let msr = u(&mut r, "msr")?;
    let status0 = u(&mut r, "status0")?;
    let status1 = u(&mut r, "status1")?;
    let status2 = u(&mut r, "status2")?;
    let mut fifo = [0u8; FIFO_LEN];
    fifo.copy_from_slice(r.bytes(FIFO_LEN, "fifo")?);
    let data_pos = r.be32("data_pos")?;
    let data_len = r.be32("data_len")?;
    let data_state = u(&mut r, "data_state")?;
    let data_dir = u(&mut r, "data_dir")?;
    let eot = u(&mut r, "eot")?;
    let timer0 = u(&mut r, "timer0")?;
    let timer1 = u(&mut r, "timer1")?;
    let precomp_trk = u(&mut r, "precomp_trk")?;
    let config = u(&mut r, "config")?;
    let lock = u(&mut r, "lock")?;
    let pwrd = u(&mut r, "pwrd")?;
    let num_floppies = u(&mut r, "num_floppies")?;
    let mut drives = [FdriveState::default(); 2];
    for d in drives.iter_mut() {
        d.head = r.u8("fdrive head")?;
        d.track = r.u8("fdrive track")?;
        d.sect = r.u8("fdrive sect")?;
        while let Some(sub) = r.subsection("fdrive")? {
            order.push(sub);
            let v = r.u8("fdrive subsection field")?;
            match sub {
                Subsection::MediaChanged => d.media_changed = Some(v),
                Subsection::MediaRate => d.media_rate = Some(v),
                _ => d.perpendicular = Some(v),
            }
        }
    }
    let mut state = FdcState {
        sra,
        srb,
        dor_vmstate,
        tdr,
        dsr,
        msr,
        status0,
        status1,
        status2,
        fifo,
        data_pos,
        data_len,
        data_state,
        data_dir,
        eot,
        timer0,
        timer1,
        precomp_trk,
        config,
        lock,
        pwrd,
        num_floppies,
        drives,
        reset_sensei: None,
        result_timer: None,
        phase: None,
    };
    while let Some(sub) = r.subsection("fdc")? {
        order.push(sub);
        match sub {
            Subsection::ResetSensei => state.reset_sensei = Some(r.be32("reset_sensei")? as i32),
            Subsection::ResultTimer => state.result_timer = Some(r.be64("result_timer")? as i64),
            _ => state.phase = Some(r.u8("phase")?),
        }
    }
    Ok((state, order, r.pos))
}

fn put_subsection(out: &mut Vec<u8>, sub: Subsection) {
    out.push(SUBSECTION_MARKER);
    out.push(sub.name().len() as u8);
    out.extend_from_slice(sub.name().as_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
}

/// The subsections `s` carries, in the order QEMU writes them (each drive's `fdrive/*`,
/// then the `fdc/*` ones, each in declaration order): the order of [`encode`].
pub fn subsection_order(s: &FdcState) -> Vec<Subsection> {
    let mut order = Vec::new();
    for d in &s.drives {
        for (sub, present) in [
            (Subsection::MediaChanged, d.media_changed.is_some()),
            (Subsection::MediaRate, d.media_rate.is_some()),
            (Subsection::Perpendicular, d.perpendicular.is_some()),
        ] {
            if present {
                order.push(sub);
            }
        }
    }
    for (sub, present) in [
        (Subsection::ResetSensei, s.reset_sensei.is_some()),
        (Subsection::ResultTimer, s.result_timer.is_some()),
        (Subsection::Phase, s.phase.is_some()),
    ] {
        if present {
            order.push(sub);
        }
    }
    order
}

/// Encodes a state as QEMU writes the `fdc` section payload (subsections in QEMU's
/// declaration order, see [`subsection_order`]).
pub fn encode(s: &FdcState) -> Vec<u8> {
    let mut out = Vec::with_capacity(600);
    out.extend_from_slice(&[
        s.sra,
        s.srb,
        s.dor_vmstate,
        s.tdr,
        s.dsr,
        s.msr,
        s.status0,
        s.status1,
        s.status2,
    ]);
    out.extend_from_slice(&s.fifo);
    out.extend_from_slice(&s.data_pos.to_be_bytes());
    out.extend_from_slice(&s.data_len.to_be_bytes());
    out.extend_from_slice(&[
        s.data_state,
        s.data_dir,
        s.eot,
        s.timer0,
        s.timer1,
        s.precomp_trk,
        s.config,
        s.lock,
        s.pwrd,
        s.num_floppies,
    ]);
    for d in &s.drives {
        out.extend_from_slice(&[d.head, d.track, d.sect]);
        for (sub, v) in [
            (Subsection::MediaChanged, d.media_changed),
            (Subsection::MediaRate, d.media_rate),
            (Subsection::Perpendicular, d.perpendicular),
        ] {
            if let Some(v) = v {
                put_subsection(&mut out, sub);
                out.push(v);
            }
        }
    }
    if let Some(v) = s.reset_sensei {
        put_subsection(&mut out, Subsection::ResetSensei);
        out.extend_from_slice(&v.to_be_bytes());
    }
    if let Some(v) = s.result_timer {
        put_subsection(&mut out, Subsection::ResultTimer);
        out.extend_from_slice(&v.to_be_bytes());
    }
    if let Some(v) = s.phase {
        put_subsection(&mut out, Subsection::Phase);
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DriveConfig, Fdc, Medium};

    fn base_state() -> FdcState {
        Fdc::new(
            DriveConfig::Medium(Medium::blank(1_474_560, false)),
            DriveConfig::Absent,
        )
        .state()
    }

    #[test]
    fn payload_layout_matches_qemu() {
        let mut s = base_state();
        s.drives[0].media_rate = None;
        s.drives[1].media_rate = None;
        // 9 u8 + 512 FIFO + 2 u32 + 10 u8 + 2 drives x 3 u8 = 545 bytes without subsections.
        assert_eq!(encode(&s).len(), 545);
        let with = base_state();
        let bytes = encode(&with);
        // Each media_rate record: 0x05, len 17, "fdrive/media_rate", be32 1, u8 value.
        assert_eq!(bytes.len(), 545 + 2 * (1 + 1 + 17 + 4 + 1));
        let rec = &bytes[9 + 512 + 8 + 10 + 3..][..24];
        assert_eq!(rec[0], 0x05);
        assert_eq!(rec[1], 17);
        assert_eq!(&rec[2..19], b"fdrive/media_rate");
        assert_eq!(&rec[19..23], &[0, 0, 0, 1]);
        assert_eq!(rec[23], 0);
        // Big-endian data_len: a fresh controller is in the command phase with data_len 1.
        assert_eq!(&bytes[9 + 512 + 4..9 + 512 + 8], &[0, 0, 0, 1]);
    }

    #[test]
    fn subsections_round_trip_in_declaration_order() {
        let mut s = base_state();
        s.drives[0].media_changed = Some(0);
        s.drives[1].perpendicular = Some(3);
        s.reset_sensei = Some(4);
        s.result_timer = Some(20_000_960);
        s.phase = Some(2);
        let bytes = encode(&s);
        let (back, order) = decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(
            order,
            vec![
                Subsection::MediaChanged,
                Subsection::MediaRate,
                Subsection::MediaRate,
                Subsection::Perpendicular,
                Subsection::ResetSensei,
                Subsection::ResultTimer,
                Subsection::Phase
            ]
        );
        assert_eq!(FdcState::from_msgpack(&s.to_msgpack()).unwrap(), s);
    }

    fn record(name: &str, version: u32, fields: &[u8]) -> Vec<u8> {
        let mut v = vec![0x05, name.len() as u8];
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&version.to_be_bytes());
        v.extend_from_slice(fields);
        v
    }

    #[test]
    fn loader_rules_of_vmstate_subsection_load() {
        let mut s = base_state();
        s.drives = Default::default();
        let plain = encode(&s);
        // Unknown subsection name under the right prefix: an error.
        let mut bad = plain.clone();
        bad.extend(record("fdc/bogus", 1, &[0]));
        assert!(matches!(
            decode(&bad),
            Err(WireError::UnknownSubsection { .. })
        ));
        // Version other than 1: an error (only the low byte counts).
        let mut v2 = plain.clone();
        v2.extend(record("fdc/phase", 2, &[1]));
        assert!(matches!(decode(&v2), Err(WireError::BadVersion { .. })));
        let mut v257 = plain.clone();
        v257.extend(record("fdc/phase", 257, &[1]));
        assert_eq!(decode(&v257).unwrap().0.phase, Some(1));
        // A repeated subsection loads again: the last value wins.
        let mut rep = plain.clone();
        rep.extend(record("fdc/reset_sensei", 1, &[0, 0, 0, 3]));
        rep.extend(record("fdc/reset_sensei", 1, &[0, 0, 0, 2]));
        assert_eq!(decode(&rep).unwrap().0.reset_sensei, Some(2));
        // A name without the parent's prefix ends the list (the section footer follows).
        let mut foot = plain.clone();
        foot.extend(record("timer", 1, &[]));
        let (_, _, used) = decode_prefix(&foot).unwrap();
        assert_eq!(used, plain.len());
        // Truncation inside the fixed fields is an error naming the offset, never a panic.
        // (Later cuts can be valid: QEMU peeks for a record and, not finding a whole name,
        // reads the bytes as the next drive's fields; decode mirrors that.)
        let full = encode(&base_state());
        for cut in 0..542 {
            assert!(decode(&full[..cut]).is_err(), "cut at {cut}");
        }
        for cut in 542..full.len() {
            let _ = decode(&full[..cut]);
        }
    }

    #[test]
    fn subsection_order_is_the_order_encode_writes() {
        let mut s = base_state();
        s.drives[1].media_changed = Some(0);
        s.drives[0].perpendicular = Some(1);
        s.result_timer = Some(5);
        s.phase = Some(3);
        assert_eq!(subsection_order(&s), decode(&encode(&s)).unwrap().1);
    }
}
