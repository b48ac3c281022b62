//! The `fdc` section: walked with the controller's own layout (`fdc::wire`, what
//! `vmstate_load_state` does with QEMU 7.2's `vmstate_isa_fdc` / `vmstate_fdc` /
//! `vmstate_fdrive`) and cross-checked against its vmdesc description, plus the layouts
//! of its six subsections so the editor can add them.
//!
//! QEMU's loader never reads the vmdesc, so an `fdc` section whose description disagrees
//! with its bytes (e.g. a payload spliced in by hand) still loads on a destination; the
//! parse then records an [`Issue`](super::Issue) instead of failing, and the editor refuses
//! to edit that section.

use std::ops::Range;

use fdc::{wire, FdcState, Subsection};

use super::error::StreamError;
use super::json::Json;
use super::parse::{DeviceBody, Issue};
use super::reader::Reader;
use super::vmdesc::{self, StructNode, Vmdesc};
use super::QEMU_VM_SUBSECTION;

/// Only version of the `fdc` description QEMU 7.2 accepts.
pub const FDC_SECTION_VERSION: u32 = 2;
/// Bytes of the controller's fixed fields before the first drive: 9 u8, the 512-byte
/// FIFO, data_pos and data_len (u32 each), 10 u8 ending with num_floppies.
pub const FDC_HEAD_BYTES: usize = 9 + 512 + 4 + 4 + 10;
/// Bytes of one drive's fixed fields (head, track, sect).
pub const FDRIVE_BYTES: usize = 3;

/// The decoded `fdc` section.
#[derive(Debug, Clone, PartialEq)]
pub struct FdcBody {
    /// The payload (after the section header, before the footer).
    pub payload: Range<usize>,
    /// The controller state, as `fdc::wire::decode` reads it.
    pub state: FdcState,
    /// Subsection records in stream order.
    pub subsections: Vec<FdcSubsection>,
    /// Whether the vmdesc description matches the bytes (see the module docs).
    pub vmdesc_consistent: bool,
}

/// One subsection record of the `fdc` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdcSubsection {
    /// Which one.
    pub kind: Subsection,
    /// Its name as in the stream.
    pub name: String,
    /// The drive (0 or 1) for the `fdrive/*` ones.
    pub drive: Option<usize>,
    /// Its bytes, marker to value.
    pub range: Range<usize>,
    /// Its value, sign-extended (`reset_sensei` is an i32, `result_timer` an i64).
    pub value: i64,
}

/// Where a subsection sits and how QEMU 7.2 lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubsectionLayout {
    /// Which one.
    pub kind: Subsection,
    /// Its only field.
    pub field: &'static str,
    /// QEMU's type name of that field in the vmdesc.
    pub ty: &'static str,
    /// Its size in bytes.
    pub size: usize,
    /// True for the `fdrive/*` ones (children of a drive), false for `fdc/*`.
    pub per_drive: bool,
    /// Position in its parent's `subsections` declaration (QEMU sends them in this order).
    pub order: usize,
}

/// The layout of `sub` (`vmstate_fdrive_media_changed`, `..._media_rate`,
/// `..._perpendicular`, `vmstate_fdc_reset_sensei`, `..._result_timer`, `..._phase`).
pub fn layout(sub: Subsection) -> SubsectionLayout {
    let l = |field, ty, size, per_drive, order| SubsectionLayout {
        kind: sub,
        field,
        ty,
        size,
        per_drive,
        order,
    };
    match sub {
        Subsection::MediaChanged => l("media_changed", "uint8", 1, true, 0),
        Subsection::MediaRate => l("media_rate", "uint8", 1, true, 1),
        Subsection::Perpendicular => l("perpendicular", "uint8", 1, true, 2),
        Subsection::ResetSensei => l("reset_sensei", "int32", 4, false, 0),
        Subsection::ResultTimer => l("result_timer", "timer", 8, false, 1),
        Subsection::Phase => l("phase", "uint8", 1, false, 2),
    }
}

impl SubsectionLayout {
    /// The record QEMU writes for this subsection with `value`.
    pub fn record(&self, value: i64) -> Vec<u8> {
        let name = self.kind.name();
        let mut out = vec![QEMU_VM_SUBSECTION, name.len() as u8];
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&1u32.to_be_bytes());
        let be = value.to_be_bytes();
        out.extend_from_slice(&be[8 - self.size..]);
        out
    }

    /// Its description object as QEMU's `JSONWriter` writes it in the vmdesc.
    pub fn vmdesc_json(&self) -> String {
        format!(
            "{{\"vmsd_name\": {}, \"version\": 1, \"fields\": [{{\"name\": {}, \"type\": {}, \"size\": {}}}]}}",
            super::json::quote(self.kind.name()),
            super::json::quote(self.field),
            super::json::quote(self.ty),
            self.size
        )
    }

    /// Checks `value` fits the field and returns it as stored (`uint8`: 0..=255; `int32`:
    /// any i32, or 0..=0xffffffff as its bit pattern; `timer`: any i64).
    pub fn check_value(&self, value: i128) -> Result<i64, String> {
        let (lo, hi): (i128, i128) = match self.size {
            1 => (0, 0xff),
            4 => (i128::from(i32::MIN), i128::from(u32::MAX)),
            _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
        };
        if value < lo || value > hi {
            return Err(format!("{} holds {lo}..={hi}", self.ty));
        }
        Ok(match self.size {
            4 => i64::from(value as u32 as i32),
            _ => value as i64,
        })
    }
}

/// Walks the `fdc` section payload at `r` (its header already read).
pub(crate) fn walk(
    r: &mut Reader<'_>,
    device: Option<(&Vmdesc, &Json)>,
    version: Option<u32>,
    issues: &mut Vec<Issue>,
) -> Result<DeviceBody, StreamError> {
    let start = r.pos;
    if version != Some(FDC_SECTION_VERSION) {
        return Err(StreamError::Fdc {
            offset: start,
            reason: format!(
                "section version {version:?}; QEMU 7.2 loads only version {FDC_SECTION_VERSION}"
            ),
        });
    }
    let payload = &r.buf[start..];
    let (state, order, used) = wire::decode_prefix(payload).map_err(|e| wire_error(e, start))?;
    let end = start + used;
    let subsections = layout_walk(r.buf, start, end)?;
    if subsections.iter().map(|s| s.kind).ne(order.iter().copied()) {
        return Err(StreamError::Fdc {
            offset: start,
            reason: "internal: the layout walk and fdc::wire disagree".into(),
        });
    }
    let mut root = None;
    if let Some((v, d)) = device {
        let mut r2 = Reader::new(&r.buf[..end], start);
        match vmdesc::walk_struct(&mut r2, d, v.json_start, "fdc") {
            Ok(node) if r2.pos == end => {
                let names: Vec<String> = vmdesc::subsections_of(&node)
                    .into_iter()
                    .map(|h| h.node.name.clone())
                    .collect();
                if names
                    .iter()
                    .map(String::as_str)
                    .eq(order.iter().map(|s| s.name()))
                {
                    root = Some(node);
                } else {
                    issues.push(Issue {
                        offset: start,
                        message: format!(
                            "fdc section: the vmdesc lists subsections [{}], the stream holds [{}]",
                            names.join(", "),
                            order
                                .iter()
                                .map(|s| s.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
            Ok(_) => issues.push(Issue {
                offset: start,
                message: format!(
                    "fdc section: the vmdesc describes {} bytes, the controller's layout {} bytes",
                    r2.pos - start,
                    used
                ),
            }),
            Err(e) => issues.push(Issue {
                offset: e.offset().unwrap_or(start),
                message: format!("fdc section: the vmdesc does not walk it: {e}"),
            }),
        }
    } else {
        issues.push(Issue {
            offset: start,
            message: "fdc section: no vmdesc description to check it against".into(),
        });
    }
    r.pos = end;
    Ok(DeviceBody {
        vmdesc_index: None,
        fdc: Some(FdcBody {
            payload: start..end,
            state,
            subsections,
            vmdesc_consistent: root.is_some(),
        }),
        root,
    })
}

fn wire_error(e: wire::WireError, start: usize) -> StreamError {
    let (offset, reason) = match &e {
        wire::WireError::Truncated { offset, .. }
        | wire::WireError::UnknownSubsection { offset, .. }
        | wire::WireError::BadVersion { offset, .. } => (start + offset, e.to_string()),
        wire::WireError::Trailing(_) => (start, e.to_string()),
    };
    StreamError::Fdc { offset, reason }
}

/// The subsection records between `start` and `end`, located with the fixed layout (the
/// payload has already been decoded by `fdc::wire`, which applies the same rules).
fn layout_walk(buf: &[u8], start: usize, end: usize) -> Result<Vec<FdcSubsection>, StreamError> {
    let internal = |at: usize| StreamError::Fdc {
        offset: at,
        reason: "internal: subsection layout walk failed".into(),
    };
    let mut out = Vec::new();
    let mut pos = start + FDC_HEAD_BYTES;
    let record = |pos: usize, parent: &str| -> Option<(Subsection, usize, i64)> {
        if pos >= end || buf.get(pos) != Some(&QEMU_VM_SUBSECTION) {
            return None;
        }
        let len = usize::from(*buf.get(pos + 1)?);
        let name = buf.get(pos + 2..pos + 2 + len)?;
        if len < parent.len() + 1 || !name.starts_with(parent.as_bytes()) {
            return None;
        }
        let kind = Subsection::from_name(std::str::from_utf8(name).ok()?)?;
        let size = layout(kind).size;
        let v = pos + 2 + len + 4;
        let bytes = buf.get(v..v + size)?;
        let mut be = [0u8; 8];
        be[8 - size..].copy_from_slice(bytes);
        let raw = u64::from_be_bytes(be);
        let value = match size {
            4 => i64::from(raw as u32 as i32),
            _ => raw as i64,
        };
        Some((kind, v + size - pos, value))
    };
    for drive in 0..2 {
        pos += FDRIVE_BYTES;
        while let Some((kind, len, value)) = record(pos, "fdrive") {
            out.push(FdcSubsection {
                kind,
                name: kind.name().to_string(),
                drive: Some(drive),
                range: pos..pos + len,
                value,
            });
            pos += len;
        }
    }
    while let Some((kind, len, value)) = record(pos, "fdc") {
        out.push(FdcSubsection {
            kind,
            name: kind.name().to_string(),
            drive: None,
            range: pos..pos + len,
            value,
        });
        pos += len;
    }
    if pos != end {
        return Err(internal(pos));
    }
    Ok(out)
}

/// The controller struct (`vmstate_fdc`, the `state` field of `vmstate_isa_fdc`) and the
/// two drive structs of a walked `fdc` section.
pub(crate) fn parents(root: &StructNode) -> Option<(&StructNode, [&StructNode; 2])> {
    let ctrl = root
        .fields
        .iter()
        .find(|f| f.name == "state")?
        .structure
        .as_ref()?;
    let drive = |i: u64| {
        ctrl.fields
            .iter()
            .find(|f| f.name == "drives" && f.index == Some(i))?
            .structure
            .as_ref()
    };
    Some((ctrl, [drive(0)?, drive(1)?]))
}

/// The vmdesc entry QEMU 7.2 writes for an `fdc` section holding `state` (device
/// `vmstate_isa_fdc` with its one struct field `state` = `vmstate_fdc`, whose `drives`
/// array is not compressed because `vmstate_fdrive` has subsections), in `JSONWriter`'s
/// style. Used to build streams and to check the parser's knowledge against real QEMU.
pub fn vmdesc_json(state: &FdcState, instance_id: u32) -> String {
    let field = |name: &str, ty: &str, size: usize| {
        format!(
            "{{\"name\": {}, \"type\": {}, \"size\": {size}}}",
            super::json::quote(name),
            super::json::quote(ty)
        )
    };
    let subs = |list: &[(Subsection, bool)]| -> (String, usize) {
        let present: Vec<SubsectionLayout> = list
            .iter()
            .filter(|(_, p)| *p)
            .map(|(s, _)| layout(*s))
            .collect();
        if present.is_empty() {
            return (String::new(), 0);
        }
        let bytes = present.iter().map(|l| l.record(0).len()).sum();
        let text: Vec<String> = present.iter().map(SubsectionLayout::vmdesc_json).collect();
        (format!(", \"subsections\": [{}]", text.join(", ")), bytes)
    };
    let mut fields: Vec<String> = [
        "sra",
        "srb",
        "dor_vmstate",
        "tdr",
        "dsr",
        "msr",
        "status0",
        "status1",
        "status2",
    ]
    .iter()
    .map(|n| field(n, "uint8", 1))
    .collect();
    fields
        .push("{\"name\": \"fifo\", \"array_len\": 512, \"type\": \"uint8\", \"size\": 1}".into());
    fields.push(field("data_pos", "uint32", 4));
    fields.push(field("data_len", "uint32", 4));
    for n in [
        "data_state",
        "data_dir",
        "eot",
        "timer0",
        "timer1",
        "precomp_trk",
        "config",
        "lock",
        "pwrd",
    ] {
        fields.push(field(n, "uint8", 1));
    }
    fields.push(field("num_floppies", "uint8 equal", 1));
    let mut total = FDC_HEAD_BYTES;
    for (i, d) in state.drives.iter().enumerate() {
        let (sub_text, sub_bytes) = subs(&[
            (Subsection::MediaChanged, d.media_changed.is_some()),
            (Subsection::MediaRate, d.media_rate.is_some()),
            (Subsection::Perpendicular, d.perpendicular.is_some()),
        ]);
        let size = FDRIVE_BYTES + sub_bytes;
        total += size;
        fields.push(format!(
            "{{\"name\": \"drives\", \"index\": {i}, \"type\": \"struct\", \"struct\": {{\"vmsd_name\": \"fdrive\", \"version\": 1, \"fields\": [{}, {}, {}]{sub_text}}}, \"size\": {size}}}",
            field("head", "uint8", 1),
            field("track", "uint8", 1),
            field("sect", "uint8", 1)
        ));
    }
    let (sub_text, sub_bytes) = subs(&[
        (Subsection::ResetSensei, state.reset_sensei.is_some()),
        (Subsection::ResultTimer, state.result_timer.is_some()),
        (Subsection::Phase, state.phase.is_some()),
    ]);
    total += sub_bytes;
    format!(
        "{{\"name\": \"fdc\", \"instance_id\": {instance_id}, \"vmsd_name\": \"fdc\", \"version\": 2, \"fields\": [{{\"name\": \"state\", \"type\": \"struct\", \"struct\": {{\"vmsd_name\": \"fdc\", \"version\": 2, \"fields\": [{}]{sub_text}}}, \"size\": {total}}}]}}",
        fields.join(", ")
    )
}
