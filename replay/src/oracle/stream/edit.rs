//! Editing a stream: drop a subsection, replace a field, add a subsection. Every edit is a
//! set of splices on the original bytes, so everything the edit does not touch stays
//! byte-identical; the vmdesc is kept consistent (the subsection's object removed from or
//! added to its parent's `subsections` array, the member itself removed or added when the
//! array empties or appears, the `size` of every enclosing struct field adjusted, the
//! be32 JSON length rewritten). The result is parsed again before it is returned.
//!
//! A dropped subsection's record simply disappears: that is exactly the stream a QEMU
//! whose `needed()` returned false would have written (`vmstate_subsection_save` writes
//! nothing else for it), so a destination loading it runs `vmstate_load_state` with that
//! subsection absent.

use std::collections::BTreeMap;
use std::ops::Range;

use fdc::{wire, FdcState, Subsection};

use super::error::EditError;
use super::fdc::{self as fdc_section, layout, FdcBody};
use super::parse::{MigrationStream, Section};
use super::vmdesc::{self, FieldNode, StructNode, SubsectionNode};

/// Which device section an edit applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRef {
    /// idstr (`fdc`, `cpu`, `0000:00:01.1/ide`, ...).
    pub name: String,
    /// Instance id; `None`: the first section with that name.
    pub instance: Option<u32>,
}

impl Default for SectionRef {
    /// The `fdc` section.
    fn default() -> Self {
        SectionRef {
            name: "fdc".into(),
            instance: None,
        }
    }
}

impl std::str::FromStr for SectionRef {
    type Err = String;
    /// `NAME` or `NAME:INSTANCE`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.rsplit_once(':') {
            Some((name, inst)) if !name.is_empty() && inst.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(SectionRef {
                    name: name.into(),
                    instance: Some(
                        inst.parse()
                            .map_err(|_| format!("bad instance id in `{s}`"))?,
                    ),
                })
            }
            _ if s.is_empty() => Err("empty section name".into()),
            _ => Ok(SectionRef {
                name: s.into(),
                instance: None,
            }),
        }
    }
}

impl std::fmt::Display for SectionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.instance {
            Some(i) => write!(f, "{}:{i}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Remove every record of subsection `name` (or only drive `drive`'s).
    Drop {
        section: SectionRef,
        name: String,
        drive: Option<usize>,
    },
    /// Replace a field's bytes. `path` is `msr`, `drives[0].track`, `fifo[3]`,
    /// `reset_sensei` (a field of a present subsection), ...; `value` a number (decimal or
    /// 0x-hex, negative for signed types), `true`/`false`, or `hex:BYTES` for any field.
    Set {
        section: SectionRef,
        path: String,
        value: String,
    },
    /// Add subsection `name` with `value` (fdc section only): to drive `drive`, or for an
    /// `fdrive/*` subsection without a drive to every drive that lacks it.
    Add {
        section: SectionRef,
        name: String,
        value: String,
        drive: Option<usize>,
    },
}

/// Applies `edits` in order (each on the result of the previous one).
pub fn apply_all(bytes: &[u8], edits: &[Edit]) -> Result<Vec<u8>, EditError> {
    let mut cur = bytes.to_vec();
    for e in edits {
        cur = apply(&cur, e)?;
    }
    Ok(cur)
}

/// Applies one edit.
pub fn apply(bytes: &[u8], edit: &Edit) -> Result<Vec<u8>, EditError> {
    let s = MigrationStream::parse(bytes)?;
    let mut plan = Plan::default();
    match edit {
        Edit::Drop {
            section,
            name,
            drive,
        } => plan_drop(&s, section, name, *drive, &mut plan)?,
        Edit::Set {
            section,
            path,
            value,
        } => plan_set(&s, section, path, value, &mut plan)?,
        Edit::Add {
            section,
            name,
            value,
            drive,
        } => plan_add(&s, section, name, value, *drive, &mut plan)?,
    }
    let out = plan.finish(&s)?;
    MigrationStream::parse(&out).map_err(|e| EditError::Internal(e.to_string()))?;
    Ok(out)
}

/// Drops subsection `sub` of the fdc section (all drives, or `drive`).
pub fn drop_fdc_subsection(
    bytes: &[u8],
    sub: Subsection,
    drive: Option<usize>,
) -> Result<Vec<u8>, EditError> {
    apply(
        bytes,
        &Edit::Drop {
            section: SectionRef::default(),
            name: sub.name().into(),
            drive,
        },
    )
}

/// Adds subsection `sub` with `value` to the fdc section (all drives lacking it, or
/// `drive`).
pub fn add_fdc_subsection(
    bytes: &[u8],
    sub: Subsection,
    value: i64,
    drive: Option<usize>,
) -> Result<Vec<u8>, EditError> {
    apply(
        bytes,
        &Edit::Add {
            section: SectionRef::default(),
            name: sub.name().into(),
            value: value.to_string(),
            drive,
        },
    )
}

/// Rewrites the fdc section to hold exactly `state` (fields and the set of subsections),
/// keeping the vmdesc consistent. Subsections are kept in QEMU's declaration order.
pub fn set_fdc_state(bytes: &[u8], state: &FdcState) -> Result<Vec<u8>, EditError> {
    let mut cur = bytes.to_vec();
    let current = fdc_of(&MigrationStream::parse(&cur)?)?.0.state.clone();
    // Drop what the new state does not carry, then add what it carries and is missing.
    let present = |s: &FdcState, sub: Subsection, d: Option<usize>| -> Option<i64> {
        match (sub, d) {
            (Subsection::MediaChanged, Some(d)) => s.drives[d].media_changed.map(i64::from),
            (Subsection::MediaRate, Some(d)) => s.drives[d].media_rate.map(i64::from),
            (Subsection::Perpendicular, Some(d)) => s.drives[d].perpendicular.map(i64::from),
            (Subsection::ResetSensei, None) => s.reset_sensei.map(i64::from),
            (Subsection::ResultTimer, None) => s.result_timer,
            (Subsection::Phase, None) => s.phase.map(i64::from),
            _ => None,
        }
    };
    let slots: Vec<(Subsection, Option<usize>)> = Subsection::ALL
        .into_iter()
        .flat_map(|sub| {
            if layout(sub).per_drive {
                vec![(sub, Some(0)), (sub, Some(1))]
            } else {
                vec![(sub, None)]
            }
        })
        .collect();
    for &(sub, d) in &slots {
        if present(&current, sub, d).is_some() && present(state, sub, d).is_none() {
            cur = drop_fdc_subsection(&cur, sub, d)?;
        }
    }
    for &(sub, d) in &slots {
        if let (None, Some(v)) = (present(&current, sub, d), present(state, sub, d)) {
            cur = add_fdc_subsection(&cur, sub, v, d)?;
        }
    }
    let parsed = MigrationStream::parse(&cur)?;
    let (body, _) = fdc_of(&parsed)?;
    let new_payload = wire::encode(state);
    if new_payload.len() != body.payload.len()
        || body
            .subsections
            .iter()
            .map(|s| s.kind)
            .ne(wire::decode(&new_payload)
                .map(|(_, o)| o)
                .unwrap_or_default())
    {
        return Err(EditError::Internal(
            "the fdc section's subsections are not in QEMU's declaration order".into(),
        ));
    }
    let mut out = cur.clone();
    out.splice(body.payload.clone(), new_payload);
    let check = MigrationStream::parse(&out).map_err(|e| EditError::Internal(e.to_string()))?;
    match check.fdc() {
        Some((_, b)) if b.state == *state => Ok(out),
        _ => Err(EditError::Internal(
            "the rewritten fdc section does not decode to the requested state".into(),
        )),
    }
}

fn fdc_of<'s>(s: &'s MigrationStream<'_>) -> Result<(&'s FdcBody, &'s Section), EditError> {
    s.fdc()
        .map(|(sec, b)| (b, sec))
        .ok_or_else(|| EditError::NoSection("fdc".into()))
}

/// Splices planned against the original stream.
#[derive(Default)]
struct Plan {
    /// (range, replacement) in stream coordinates.
    splices: Vec<(Range<usize>, Vec<u8>)>,
    /// Changes of struct-field `size` numbers: span -> (original, delta).
    sizes: BTreeMap<(usize, usize), (u64, i64)>,
}

impl Plan {
    fn splice(&mut self, range: Range<usize>, bytes: Vec<u8>) {
        self.splices.push((range, bytes));
    }

    fn resize(&mut self, enclosing: &[(Range<usize>, u64)], delta: i64) {
        for (span, value) in enclosing {
            let e = self
                .sizes
                .entry((span.start, span.end))
                .or_insert((*value, 0));
            e.1 += delta;
        }
    }

    fn finish(mut self, s: &MigrationStream<'_>) -> Result<Vec<u8>, EditError> {
        for ((a, b), (value, delta)) in std::mem::take(&mut self.sizes) {
            let new = i128::from(value) + i128::from(delta);
            if new < 0 {
                return Err(EditError::Internal(format!("negative size at {a}")));
            }
            self.splice(a..b, new.to_string().into_bytes());
        }
        // The vmdesc length changes by the JSON splices' net size.
        if let Some(v) = &s.vmdesc {
            let json = v.json_start..v.json_start + v.json_len();
            let mut delta: i128 = 0;
            for (r, b) in &self.splices {
                if r.start >= json.start && r.end <= json.end {
                    delta += b.len() as i128 - (r.end - r.start) as i128;
                }
            }
            if delta != 0 {
                let len = u32::try_from(v.json_len() as i128 + delta).map_err(|_| {
                    EditError::Internal("the vmdesc would not fit its be32 length".into())
                })?;
                self.splice(v.offset + 1..v.offset + 5, len.to_be_bytes().to_vec());
            }
        }
        self.splices.sort_by_key(|(r, _)| (r.start, r.end));
        let bytes = s.bytes;
        let mut out = Vec::with_capacity(bytes.len() + 256);
        let mut at = 0;
        for (r, b) in &self.splices {
            if r.start < at || r.end > bytes.len() || r.start > r.end {
                return Err(EditError::Internal(format!(
                    "overlapping edits at offset {}",
                    r.start
                )));
            }
            out.extend_from_slice(&bytes[at..r.start]);
            out.extend_from_slice(b);
            at = r.end;
        }
        out.extend_from_slice(&bytes[at..]);
        Ok(out)
    }
}

/// The section an edit names, with its vmdesc walk.
fn target<'s>(
    s: &'s MigrationStream<'_>,
    section: &SectionRef,
) -> Result<(&'s Section, &'s StructNode), EditError> {
    let sec = s
        .device_section(&section.name, section.instance)
        .ok_or_else(|| EditError::NoSection(section.to_string()))?;
    let dev = sec
        .device()
        .ok_or_else(|| EditError::NoSection(section.to_string()))?;
    match &dev.root {
        Some(root) => Ok((sec, root)),
        None => {
            let issue = s
                .issues
                .iter()
                .find(|i| i.offset >= sec.offset && i.offset <= sec.end);
            Err(EditError::InconsistentVmdesc {
                section: section.to_string(),
                offset: issue.map_or(sec.offset, |i| i.offset),
                reason: issue.map_or_else(|| "no vmdesc".to_string(), |i| i.message.clone()),
            })
        }
    }
}

fn fdc_drive_of(sec: &Section, node: &SubsectionNode) -> Option<usize> {
    sec.device()?
        .fdc
        .as_ref()?
        .subsections
        .iter()
        .find(|f| f.range == node.range)?
        .drive
}

fn check_drive(section: &SectionRef, name: &str, drive: Option<usize>) -> Result<(), EditError> {
    let Some(d) = drive else { return Ok(()) };
    if section.name != "fdc" {
        return Err(EditError::BadDrive(format!(
            "--drive applies to the fdc section only, not `{section}`"
        )));
    }
    if d > 1 {
        return Err(EditError::BadDrive(format!(
            "drive {d}: the controller has drives 0 and 1"
        )));
    }
    if !name.starts_with("fdrive/") {
        return Err(EditError::BadDrive(format!(
            "--drive {d}: `{name}` is the controller's subsection, not a drive's"
        )));
    }
    Ok(())
}

fn plan_drop(
    s: &MigrationStream<'_>,
    section: &SectionRef,
    name: &str,
    drive: Option<usize>,
    plan: &mut Plan,
) -> Result<(), EditError> {
    check_drive(section, name, drive)?;
    let (sec, root) = target(s, section)?;
    let hits: Vec<_> = vmdesc::subsections_of(root)
        .into_iter()
        .filter(|h| h.node.name == name)
        .filter(|h| drive.is_none() || fdc_drive_of(sec, h.node) == drive)
        .collect();
    if hits.is_empty() {
        return Err(EditError::NoSubsection {
            section: section.to_string(),
            name: name.into(),
            drive,
        });
    }
    // Group the removals by parent struct, so the JSON array is rewritten consistently.
    let mut by_parent: Vec<(&StructNode, Vec<usize>)> = Vec::new();
    for h in &hits {
        let idx = h
            .parent
            .subsections
            .iter()
            .position(|x| std::ptr::eq(x, h.node))
            .ok_or_else(|| EditError::Internal("subsection not under its parent".into()))?;
        match by_parent
            .iter_mut()
            .find(|(p, _)| std::ptr::eq(*p, h.parent))
        {
            Some((_, v)) => v.push(idx),
            None => by_parent.push((h.parent, vec![idx])),
        }
        plan.splice(h.node.range.clone(), Vec::new());
        plan.resize(
            &h.enclosing,
            -((h.node.range.end - h.node.range.start) as i64),
        );
    }
    for (parent, mut idx) in by_parent {
        idx.sort_unstable();
        let elems: Vec<Range<usize>> = parent
            .subsections
            .iter()
            .map(|x| x.json_span.clone())
            .collect();
        if idx.len() == elems.len() {
            let member = parent
                .json
                .subsections
                .as_ref()
                .ok_or_else(|| EditError::Internal("no subsections member".into()))?;
            plan.splice(member.removal.clone(), Vec::new());
            continue;
        }
        // Contiguous runs: [i..=j] goes with the separator before it (or after, at 0).
        let mut k = 0;
        while k < idx.len() {
            let i = idx[k];
            let mut j = i;
            while k + 1 < idx.len() && idx[k + 1] == j + 1 {
                k += 1;
                j += 1;
            }
            let range = if i > 0 {
                elems[i - 1].end..elems[j].end
            } else {
                elems[0].start..elems[j + 1].start
            };
            plan.splice(range, Vec::new());
            k += 1;
        }
    }
    Ok(())
}

fn plan_add(
    s: &MigrationStream<'_>,
    section: &SectionRef,
    name: &str,
    value: &str,
    drive: Option<usize>,
    plan: &mut Plan,
) -> Result<(), EditError> {
    check_drive(section, name, drive)?;
    let (_, root) = target(s, section)?;
    let sub = Subsection::from_name(name)
        .filter(|_| section.name == "fdc")
        .ok_or_else(|| EditError::UnknownLayout {
            section: section.to_string(),
            name: name.into(),
        })?;
    let lay = layout(sub);
    let v = parse_int(value).ok_or_else(|| EditError::BadValue {
        path: name.into(),
        value: value.into(),
        reason: "expected an integer (decimal or 0x-hex)".into(),
    })?;
    let v = lay.check_value(v).map_err(|reason| EditError::BadValue {
        path: name.into(),
        value: value.into(),
        reason,
    })?;
    let (ctrl, drives) = fdc_section::parents(root).ok_or_else(|| {
        EditError::Internal("the fdc description has no state/drives structs".into())
    })?;
    let parents: Vec<&StructNode> = if lay.per_drive {
        match drive {
            Some(d) => vec![drives[d]],
            None => drives
                .iter()
                .copied()
                .filter(|p| !p.subsections.iter().any(|x| x.name == name))
                .collect(),
        }
    } else {
        vec![ctrl]
    };
    if parents.is_empty()
        || parents
            .iter()
            .any(|p| p.subsections.iter().any(|x| x.name == name))
    {
        return Err(EditError::AlreadyPresent {
            section: section.to_string(),
            name: name.into(),
            drive,
        });
    }
    let record = lay.record(v);
    let json = lay.vmdesc_json();
    for parent in parents {
        let enclosing = enclosing_of(root, parent)
            .ok_or_else(|| EditError::Internal("parent struct not in the tree".into()))?;
        plan.resize(&enclosing, record.len() as i64);
        // Declaration order: before the first present subsection that comes later.
        let order_of = |n: &str| Subsection::from_name(n).map(|k| layout(k).order);
        let next = parent
            .subsections
            .iter()
            .find(|x| order_of(&x.name).is_none_or(|o| o > lay.order));
        match next {
            Some(x) => {
                plan.splice(x.range.start..x.range.start, record.clone());
                plan.splice(
                    x.json_span.start..x.json_span.start,
                    format!("{json}, ").into_bytes(),
                );
            }
            None => {
                plan.splice(parent.range.end..parent.range.end, record.clone());
                match parent.subsections.last() {
                    Some(last) => plan.splice(
                        last.json_span.end..last.json_span.end,
                        format!(", {json}").into_bytes(),
                    ),
                    None => plan.splice(
                        parent.json.append_at..parent.json.append_at,
                        format!(", \"subsections\": [{json}]").into_bytes(),
                    ),
                }
            }
        }
    }
    Ok(())
}

/// The `size` spans of the struct fields enclosing `target`.
fn enclosing_of(root: &StructNode, target: &StructNode) -> Option<Vec<(Range<usize>, u64)>> {
    fn rec(node: &StructNode, target: &StructNode, chain: &mut Vec<(Range<usize>, u64)>) -> bool {
        if std::ptr::eq(node, target) {
            return true;
        }
        for f in &node.fields {
            if let Some(s) = &f.structure {
                chain.push((f.size_span.clone(), f.elem_size));
                if rec(s, target, chain) {
                    return true;
                }
                chain.pop();
            }
        }
        node.subsections.iter().any(|s| rec(&s.body, target, chain))
    }
    let mut chain = Vec::new();
    rec(root, target, &mut chain).then_some(chain)
}

/// A resolved field element.
struct Resolved {
    range: Range<usize>,
    ty: String,
}

#[derive(Debug)]
struct Seg<'p> {
    name: &'p str,
    index: Option<u64>,
}

fn parse_path(path: &str) -> Option<Vec<Seg<'_>>> {
    path.split('.')
        .map(|seg| match seg.split_once('[') {
            Some((name, rest)) => {
                let idx = rest.strip_suffix(']')?.parse().ok()?;
                (!name.is_empty()).then_some(Seg {
                    name,
                    index: Some(idx),
                })
            }
            None => (!seg.is_empty()).then_some(Seg {
                name: seg,
                index: None,
            }),
        })
        .collect()
}

fn resolve(node: &StructNode, segs: &[Seg<'_>], shift: usize) -> Option<Resolved> {
    let (seg, rest) = segs.split_first()?;
    for f in node.fields.iter().filter(|f| f.name == seg.name) {
        let elem = match (f.index, seg.index) {
            (Some(i), Some(j)) if i == j => 0,
            (Some(_), _) => continue,
            (None, None) if f.count > 1 => {
                // A whole compressed array: settable as raw bytes.
                return if rest.is_empty() {
                    whole(f, shift)
                } else {
                    None
                };
            }
            (None, j) => {
                let j = j.unwrap_or(0);
                if j >= f.count {
                    return None;
                }
                j
            }
        };
        let off = usize::try_from(elem.checked_mul(f.elem_size)?).ok()?;
        if rest.is_empty() {
            if f.structure.is_some() {
                return None;
            }
            let start = f.range.start + off + shift;
            let size = usize::try_from(f.elem_size).ok()?;
            return Some(Resolved {
                range: start..start + size,
                ty: f.ty.clone(),
            });
        }
        return resolve(f.structure.as_ref()?, rest, shift + off);
    }
    if seg.index.is_none() {
        if let Some(s) = node.subsections.iter().find(|s| s.name == seg.name) {
            return resolve(&s.body, rest, shift);
        }
    }
    for s in &node.subsections {
        if let Some(r) = resolve(&s.body, segs, shift) {
            return Some(r);
        }
    }
    if let [f] = node.fields.as_slice() {
        if f.count == 1 {
            if let Some(st) = &f.structure {
                return resolve(st, segs, shift);
            }
        }
    }
    None
}

fn whole(f: &FieldNode, shift: usize) -> Option<Resolved> {
    Some(Resolved {
        range: f.range.start + shift..f.range.end + shift,
        ty: "buffer".into(),
    })
}

/// An integer in decimal, 0x-hex or 0b-binary, optionally negative.
pub(crate) fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else {
        body.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("hex:")?;
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Encodes `value` for a field of QEMU type `ty` occupying `size` bytes.
fn encode_value(ty: &str, size: usize, value: &str) -> Result<Vec<u8>, String> {
    if let Some(b) = hex_bytes(value) {
        if b.len() != size {
            return Err(format!(
                "`hex:` gave {} bytes, the field has {size}",
                b.len()
            ));
        }
        return Ok(b);
    }
    let (signed, width, le) = match ty {
        "bool" => (false, 1, false),
        "uint8" | "uint8 equal" => (false, 1, false),
        "uint16" | "uint16 equal" => (false, 2, false),
        "uint32" | "uint32 equal" => (false, 4, false),
        "uint64" => (false, 8, false),
        "int8" => (true, 1, false),
        "int16" => (true, 2, false),
        "int32" | "int32 equal" => (true, 4, false),
        "int32 le" => (true, 4, true),
        "int64" | "int64 equal" | "timer" => (true, 8, false),
        _ => {
            return Err(format!(
                "a `{ty}` field takes raw bytes: `hex:` and {} hex digits",
                2 * size
            ))
        }
    };
    if width != size {
        return Err(format!(
            "a `{ty}` field of {size} bytes takes raw bytes: `hex:` and {} hex digits",
            2 * size
        ));
    }
    let v = match (ty, value) {
        ("bool", "true") => 1,
        ("bool", "false") => 0,
        _ => parse_int(value).ok_or("expected a number (decimal or 0x-hex)")?,
    };
    let bits = 8 * width as u32;
    let max_unsigned = (1i128 << bits) - 1;
    let min = if signed { -(1i128 << (bits - 1)) } else { 0 };
    // Signed fields also take their bit pattern (e.g. 0xffffffff for -1).
    if v < min || v > max_unsigned {
        return Err(format!("out of range for {ty} ({min}..={max_unsigned})"));
    }
    let pattern = (v & max_unsigned) as u128;
    let be = pattern.to_be_bytes();
    let mut b = be[16 - width..].to_vec();
    if le {
        b.reverse();
    }
    Ok(b)
}

fn plan_set(
    s: &MigrationStream<'_>,
    section: &SectionRef,
    path: &str,
    value: &str,
    plan: &mut Plan,
) -> Result<(), EditError> {
    let (_, root) = target(s, section)?;
    let no_field = |hint: String| EditError::NoField {
        section: section.to_string(),
        path: path.into(),
        hint,
    };
    let segs = parse_path(path)
        .ok_or_else(|| no_field(" (paths look like `msr`, `drives[0].track`, `fifo[3]`)".into()))?;
    let Some(res) = resolve(root, &segs, 0) else {
        let hint = if section.name == "fdc" {
            Subsection::ALL
                .into_iter()
                .find(|sub| path.ends_with(layout(*sub).field))
                .map(|sub| {
                    format!(
                        " (it lives in subsection `{}`, which this stream does not carry{}; add it with `stream add`)",
                        sub.name(),
                        if layout(sub).per_drive { " for that drive" } else { "" }
                    )
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        return Err(no_field(hint));
    };
    let bytes =
        encode_value(&res.ty, res.range.end - res.range.start, value).map_err(|reason| {
            EditError::BadValue {
                path: path.into(),
                value: value.into(),
                reason,
            }
        })?;
    plan.splice(res.range, bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_encode_big_endian_with_ranges() {
        assert_eq!(encode_value("uint8", 1, "0x80").unwrap(), [0x80]);
        assert_eq!(encode_value("int32", 4, "-1").unwrap(), [0xff; 4]);
        assert_eq!(encode_value("int32", 4, "0xffffffff").unwrap(), [0xff; 4]);
        assert_eq!(encode_value("int32 le", 4, "1").unwrap(), [1, 0, 0, 0]);
        assert_eq!(encode_value("timer", 8, "-1").unwrap(), [0xff; 8]);
        assert_eq!(encode_value("bool", 1, "true").unwrap(), [1]);
        assert_eq!(encode_value("buffer", 2, "hex:0a0B").unwrap(), [10, 11]);
        assert!(encode_value("uint8", 1, "256").is_err());
        assert!(encode_value("int8", 1, "-129").is_err());
        assert!(encode_value("buffer", 2, "5").is_err());
        assert!(encode_value("uint8", 1, "hex:0102").is_err());
        assert!(encode_value("uint8", 1, "x").is_err());
    }

    #[test]
    fn section_refs_and_paths() {
        let r: SectionRef = "fdc".parse().unwrap();
        assert_eq!(r, SectionRef::default());
        let r: SectionRef = "0000:00:01.1/ide:0".parse().unwrap();
        assert_eq!(r.name, "0000:00:01.1/ide");
        assert_eq!(r.instance, Some(0));
        assert!("".parse::<SectionRef>().is_err());
        let p = parse_path("drives[1].track").unwrap();
        assert_eq!(
            (p[0].name, p[0].index, p[1].name),
            ("drives", Some(1), "track")
        );
        assert!(parse_path("a..b").is_none());
        assert!(parse_path("a[x]").is_none());
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("z"), None);
    }
}
