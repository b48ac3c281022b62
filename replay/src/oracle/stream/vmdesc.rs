//! The vmdesc: the JSON QEMU appends after `QEMU_VM_EOF` (`QEMU_VM_VMDESCRIPTION`, a be32
//! length, the JSON text), describing every `QEMU_VM_SECTION_FULL` section as it was
//! written: each field's name, type and byte size, arrays (`array_len` when QEMU
//! compressed identical elements, `index` per element otherwise), nested structs and only
//! the subsections actually sent. Device sections carry no length on the wire, so this
//! description is the only generic way to walk them (QEMU's `scripts/analyze-migration.py`
//! does the same); `vmstate_load_state` itself never reads it.
//!
//! Facts from QEMU 7.2's `vmstate_save_state_v` / `vmsd_desc_field_start` /
//! `vmsd_desc_field_end` / `vmstate_subsection_save` that the walker and the editor rely on:
//! - a field's `size` is the number of bytes written for it (for a compressed array: for
//!   one element); a struct field's `size` includes the struct's subsections;
//! - a struct object's members are `vmsd_name`, `version`, `fields`, then `subsections`
//!   only when at least one was sent (device objects start with `name`, `instance_id`);
//! - a subsection object has no `size`.

use std::ops::Range;

use super::error::StreamError;
use super::json::{self, Json, JsonKind};
use super::reader::{be32_at, Reader};
use super::QEMU_VM_SUBSECTION;

/// Section type byte that opens the vmdesc.
pub const QEMU_VM_VMDESCRIPTION: u8 = 0x06;

/// The vmdesc found at the end of a stream.
#[derive(Debug, Clone)]
pub struct Vmdesc {
    /// Offset of the `QEMU_VM_VMDESCRIPTION` byte.
    pub offset: usize,
    /// Stream offset of the JSON text (after the be32 length).
    pub json_start: usize,
    /// The parsed JSON; spans are relative to `json_start`.
    pub json: Json,
}

impl Vmdesc {
    /// Length of the JSON text.
    pub fn json_len(&self) -> usize {
        self.json.span.end
    }

    /// `page_size` as the source wrote it.
    pub fn page_size(&self) -> Option<u64> {
        self.json.get("page_size").and_then(Json::as_u64)
    }

    /// The `devices` array (empty if missing).
    pub fn devices(&self) -> &[Json] {
        self.json
            .get("devices")
            .and_then(Json::as_array)
            .unwrap_or(&[])
    }
}

/// Finds the vmdesc from the end of the stream: the JSON text holds no raw control byte, so
/// the marker is the last 0x06 byte whose be32 length reaches exactly the end of the
/// stream. Returns `None` when no such marker exists; the front-to-back parse then checks
/// the marker sits right after `QEMU_VM_EOF`.
pub fn locate(bytes: &[u8]) -> Result<Option<Vmdesc>, StreamError> {
    let mut end = bytes.len();
    while let Some(p) = bytes[..end]
        .iter()
        .rposition(|&b| b == QEMU_VM_VMDESCRIPTION)
    {
        end = p;
        let Some(len) = be32_at(bytes, p + 1) else {
            continue;
        };
        let json_start = p + 5;
        if usize::try_from(len).ok() != bytes.len().checked_sub(json_start)
            || bytes.get(json_start) != Some(&b'{')
        {
            continue;
        }
        let json = json::parse(&bytes[json_start..]).map_err(|e| StreamError::Vmdesc {
            offset: json_start + e.offset,
            reason: format!("invalid JSON: {}", e.reason),
        })?;
        if !matches!(json.kind, JsonKind::Object(_)) {
            return Err(StreamError::Vmdesc {
                offset: json_start,
                reason: "the description is not a JSON object".into(),
            });
        }
        return Ok(Some(Vmdesc {
            offset: p,
            json_start,
            json,
        }));
    }
    Ok(None)
}

/// A struct (a section, a struct field's element, or a subsection's body) as walked.
#[derive(Debug, Clone, PartialEq)]
pub struct StructNode {
    /// `vmsd_name` of its description.
    pub vmsd_name: String,
    /// Its bytes: fields, then subsections.
    pub range: Range<usize>,
    /// Fields in stream order.
    pub fields: Vec<FieldNode>,
    /// Subsections in stream order.
    pub subsections: Vec<SubsectionNode>,
    pub(crate) json: StructJson,
}

/// Where a struct's description sits in the vmdesc (absolute stream offsets).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StructJson {
    /// End of the last member's value: where a `"subsections"` member is appended.
    pub(crate) append_at: usize,
    /// The `"subsections"` member, if present.
    pub(crate) subsections: Option<SubsectionsJson>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SubsectionsJson {
    /// Bytes to delete to remove the whole member (with its leading `", "`).
    pub(crate) removal: Range<usize>,
}

/// One field entry of a description.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldNode {
    /// Field name.
    pub name: String,
    /// `index` of a non-compressed array element.
    pub index: Option<u64>,
    /// QEMU's type name (`uint8`, `int32`, `timer`, `struct`, `buffer`, ...).
    pub ty: String,
    /// Its bytes (all elements of a compressed array).
    pub range: Range<usize>,
    /// Elements (`array_len` of a compressed array, else 1).
    pub count: u64,
    /// Bytes per element (`size`).
    pub elem_size: u64,
    /// The first element's walk, for struct fields.
    pub structure: Option<StructNode>,
    /// Absolute span of the `size` number in the vmdesc.
    pub(crate) size_span: Range<usize>,
}

/// A subsection record as walked.
#[derive(Debug, Clone, PartialEq)]
pub struct SubsectionNode {
    /// Its name (`fdrive/media_rate`, ...).
    pub name: String,
    /// The version in its record.
    pub version: u32,
    /// Its bytes, from the 0x05 marker to the end of its body.
    pub range: Range<usize>,
    /// Its body.
    pub body: StructNode,
    /// Absolute span of its object in the parent's `subsections` array.
    pub(crate) json_span: Range<usize>,
}

/// Walks `desc` (a struct description) over the stream at `r`.
pub(crate) fn walk_struct(
    r: &mut Reader<'_>,
    desc: &Json,
    base: usize,
    section: &str,
) -> Result<StructNode, StreamError> {
    let bad_desc = |at: &Json, reason: String| StreamError::Vmdesc {
        offset: base + at.span.start,
        reason: format!("section `{section}`: {reason}"),
    };
    if !matches!(desc.kind, JsonKind::Object(_)) {
        return Err(bad_desc(desc, "a description is not an object".into()));
    }
    let vmsd_name = desc
        .get("vmsd_name")
        .and_then(Json::as_str)
        .unwrap_or("")
        .to_string();
    let start = r.pos;
    let mut fields = Vec::new();
    if let Some(list) = desc.get("fields") {
        let items = list
            .as_array()
            .ok_or_else(|| bad_desc(list, "`fields` is not an array".into()))?;
        for f in items {
            fields.push(walk_field(r, f, base, section)?);
        }
    }
    let mut subsections = Vec::new();
    let mut subs_json = None;
    let members = desc.members();
    if let Some(k) = members.iter().position(|m| m.key == "subsections") {
        let m = &members[k];
        let items = m
            .value
            .as_array()
            .ok_or_else(|| bad_desc(&m.value, "`subsections` is not an array".into()))?;
        let removal = if k > 0 {
            members[k - 1].value.span.end..m.value.span.end
        } else if let Some(next) = members.get(1) {
            m.key_span.start..next.key_span.start
        } else {
            m.key_span.start..m.value.span.end
        };
        subs_json = Some(SubsectionsJson {
            removal: base + removal.start..base + removal.end,
        });
        for s in items {
            subsections.push(walk_subsection(r, s, base, section)?);
        }
    }
    let append_at = base
        + members
            .last()
            .map_or(desc.span.start + 1, |m| m.value.span.end);
    Ok(StructNode {
        vmsd_name,
        range: start..r.pos,
        fields,
        subsections,
        json: StructJson {
            append_at,
            subsections: subs_json,
        },
    })
}

fn walk_field(
    r: &mut Reader<'_>,
    f: &Json,
    base: usize,
    section: &str,
) -> Result<FieldNode, StreamError> {
    let bad_desc = |reason: String| StreamError::Vmdesc {
        offset: base + f.span.start,
        reason: format!("section `{section}`: {reason}"),
    };
    let name = f
        .get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| bad_desc("a field without a name".into()))?
        .to_string();
    let ty = f
        .get("type")
        .and_then(Json::as_str)
        .unwrap_or("unknown")
        .to_string();
    let size_json = f
        .get("size")
        .ok_or_else(|| bad_desc(format!("field `{name}` has no size")))?;
    let elem_size = size_json
        .as_u64()
        .ok_or_else(|| bad_desc(format!("field `{name}`: size is not an integer")))?;
    let count = match f.get("array_len") {
        None => 1,
        Some(n) => n
            .as_u64()
            .ok_or_else(|| bad_desc(format!("field `{name}`: bad array_len")))?,
    };
    let index = f.get("index").and_then(Json::as_u64);
    let start = r.pos;
    let total = count
        .checked_mul(elem_size)
        .filter(|&t| t <= r.remaining() as u64)
        .ok_or_else(|| StreamError::Truncated {
            offset: start,
            what: format!("field `{name}` of section `{section}` ({count} x {elem_size} bytes)"),
        })?;
    let mut structure = None;
    match f.get("struct") {
        Some(s) if count > 0 => {
            let node = walk_struct(r, s, base, section)?;
            let used = (r.pos - start) as u64;
            if used != elem_size {
                return Err(StreamError::VmdescMismatch {
                    offset: start,
                    section: section.to_string(),
                    reason: format!(
                        "struct field `{name}` holds {used} bytes, its description says {elem_size}"
                    ),
                });
            }
            r.take(total - elem_size, start, || format!("field `{name}`"))?;
            structure = Some(node);
        }
        _ => {
            r.take(total, start, || format!("field `{name}`"))?;
        }
    }
    Ok(FieldNode {
        name,
        index,
        ty,
        range: start..r.pos,
        count,
        elem_size,
        structure,
        size_span: base + size_json.span.start..base + size_json.span.end,
    })
}

fn walk_subsection(
    r: &mut Reader<'_>,
    s: &Json,
    base: usize,
    section: &str,
) -> Result<SubsectionNode, StreamError> {
    let name = s
        .get("vmsd_name")
        .and_then(Json::as_str)
        .ok_or_else(|| StreamError::Vmdesc {
            offset: base + s.span.start,
            reason: format!("section `{section}`: a subsection without vmsd_name"),
        })?
        .to_string();
    let start = r.pos;
    let mismatch = |reason: String| StreamError::VmdescMismatch {
        offset: start,
        section: section.to_string(),
        reason,
    };
    if r.peek() != Some(QEMU_VM_SUBSECTION) {
        return Err(mismatch(format!(
            "expected subsection `{name}` (0x05), found {}",
            r.peek()
                .map_or("the end of the stream".to_string(), |b| format!("{b:#04x}"))
        )));
    }
    r.pos += 1;
    let got = r.name8(start, "a subsection name")?;
    if got != name {
        return Err(mismatch(format!(
            "the stream has subsection `{got}` where the description has `{name}`"
        )));
    }
    let version = r.be32(start, "a subsection version")?;
    let body = walk_struct(r, s, base, section)?;
    Ok(SubsectionNode {
        name,
        version,
        range: start..r.pos,
        body,
        json_span: base + s.span.start..base + s.span.end,
    })
}

/// A subsection found in a tree, with what an edit needs to keep the vmdesc consistent.
#[derive(Debug, Clone)]
pub(crate) struct SubsectionHit<'a> {
    pub(crate) node: &'a SubsectionNode,
    /// `size` spans (and values) of every struct field enclosing it.
    pub(crate) enclosing: Vec<(Range<usize>, u64)>,
    /// The parent struct.
    pub(crate) parent: &'a StructNode,
    /// Path of the parent struct, e.g. `state.drives[0]`.
    pub(crate) path: String,
}

/// Every subsection of the tree in stream order, with its enclosing fields.
pub(crate) fn subsections_of<'a>(root: &'a StructNode) -> Vec<SubsectionHit<'a>> {
    fn rec<'a>(
        node: &'a StructNode,
        path: &str,
        enclosing: &mut Vec<(Range<usize>, u64)>,
        out: &mut Vec<SubsectionHit<'a>>,
    ) {
        for f in &node.fields {
            if let Some(s) = &f.structure {
                enclosing.push((f.size_span.clone(), f.elem_size));
                let p = join_path(path, &field_label(f));
                rec(s, &p, enclosing, out);
                enclosing.pop();
            }
        }
        for s in &node.subsections {
            out.push(SubsectionHit {
                node: s,
                enclosing: enclosing.clone(),
                parent: node,
                path: path.to_string(),
            });
            let p = join_path(path, &s.name);
            rec(&s.body, &p, enclosing, out);
        }
    }
    let mut out = Vec::new();
    rec(root, "", &mut Vec::new(), &mut out);
    out
}

/// `name` or `name[index]`.
pub(crate) fn field_label(f: &FieldNode) -> String {
    match f.index {
        Some(i) => format!("{}[{i}]", f.name),
        None => f.name.clone(),
    }
}

pub(crate) fn join_path(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}.{b}")
    }
}
