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
    #[error("stream ends at offset {offset} while reading {what}")]
    Truncated { offset: usize, what: &'static str },
    #[error("unknown subsection '{name}' at offset {offset}")]
    UnknownSubsection { offset: usize, name: String },
    #[error("subsection '{name}' at offset {offset} has version {version}, only 1 is known")]
    BadVersion {
        offset: usize,
        name: String,
        version: u32,
    },
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
    let u = |r: &mut Reader, w| r.u8(w);
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
