//! The whole stream, front to back, as QEMU 7.2's `qemu_loadvm_state` reads it: the file
//! header, the configuration section, every section (`ram` parts, device sections walked
//! with their vmdesc description, the `fdc` section with the controller's own layout),
//! `QEMU_VM_EOF`, and the vmdesc.

use std::ops::Range;

use super::error::StreamError;
use super::fdc::{self, FdcBody};
use super::ram::{self, RamState, RamStats};
use super::reader::Reader;
use super::vmdesc::{self, StructNode, Vmdesc};
use super::{
    QEMU_VM_CONFIGURATION, QEMU_VM_EOF, QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION,
    QEMU_VM_SECTION_END, QEMU_VM_SECTION_FOOTER, QEMU_VM_SECTION_FULL, QEMU_VM_SECTION_PART,
    QEMU_VM_SECTION_START, QEMU_VM_SUBSECTION,
};

/// Target page size assumed when neither the configuration nor the vmdesc names one
/// (x86's `TARGET_PAGE_SIZE`).
pub const DEFAULT_PAGE_SIZE: u64 = 4096;
/// Most sections accepted (a PC's stream has a few dozen device sections and a few ram
/// parts); bounds the parser's memory on hostile input.
pub const MAX_SECTIONS: usize = 100_000;

/// A parsed migration stream. Offsets are into the bytes it was parsed from.
#[derive(Debug, Clone)]
pub struct MigrationStream<'a> {
    /// The stream.
    pub bytes: &'a [u8],
    /// The configuration section, if the source sent one.
    pub configuration: Option<Configuration>,
    /// Every section in stream order.
    pub sections: Vec<Section>,
    /// Offset of the `QEMU_VM_EOF` byte.
    pub eof_offset: usize,
    /// The vmdesc, if present.
    pub vmdesc: Option<Vmdesc>,
    /// Target page size used for the `ram` section.
    pub page_size: u64,
    /// Disagreements that did not stop the parse (e.g. an `fdc` section whose vmdesc
    /// description no longer matches its bytes: QEMU's loader never reads the vmdesc).
    pub issues: Vec<Issue>,
}

/// A disagreement the parse tolerated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Where.
    pub offset: usize,
    /// What.
    pub message: String,
}

/// The `QEMU_VM_CONFIGURATION` section (`vmstate_configuration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    /// Offset of the section-type byte.
    pub offset: usize,
    /// All its bytes.
    pub range: Range<usize>,
    /// The machine type (`pc-i440fx-7.2`).
    pub machine: String,
    /// `configuration/target-page-bits`, if sent.
    pub target_page_bits: Option<u32>,
    /// `configuration/capabilities`, if sent.
    pub capabilities: Vec<String>,
    /// `configuration/uuid`, if sent.
    pub uuid: Option<[u8; 16]>,
    /// Subsection names in stream order.
    pub subsections: Vec<String>,
}

/// Section types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `QEMU_VM_SECTION_START` (first part of an iterative device).
    Start,
    /// `QEMU_VM_SECTION_PART`.
    Part,
    /// `QEMU_VM_SECTION_END`.
    End,
    /// `QEMU_VM_SECTION_FULL` (a device's whole state).
    Full,
}

impl SectionKind {
    /// Lower-case name used in output (`start`, `part`, `end`, `full`).
    pub fn as_str(self) -> &'static str {
        match self {
            SectionKind::Start => "start",
            SectionKind::Part => "part",
            SectionKind::End => "end",
            SectionKind::Full => "full",
        }
    }
}

/// One section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Offset of the section-type byte.
    pub offset: usize,
    /// Its type.
    pub kind: SectionKind,
    /// Section id (repeated in the footer).
    pub section_id: u32,
    /// idstr (for parts and ends: the one their start gave).
    pub name: String,
    /// Instance id.
    pub instance_id: u32,
    /// Version id (start and full sections).
    pub version: Option<u32>,
    /// The payload: after the header, before the footer.
    pub payload: Range<usize>,
    /// Offset of the footer (`QEMU_VM_SECTION_FOOTER`), if the source wrote footers.
    pub footer: Option<usize>,
    /// End of the section (after its footer).
    pub end: usize,
    /// What the payload holds.
    pub body: SectionBody,
}

/// A section's payload, decoded.
#[derive(Debug, Clone)]
pub enum SectionBody {
    /// One part of the `ram` section.
    Ram(RamStats),
    /// A device section.
    Device(Box<DeviceBody>),
}

/// A device section, walked.
#[derive(Debug, Clone)]
pub struct DeviceBody {
    /// Index of its description in the vmdesc `devices` array (if there is a vmdesc).
    pub vmdesc_index: Option<usize>,
    /// The walk along the vmdesc description; `None` when only the section's own layout
    /// could walk it (an `fdc` section whose description disagrees: see `issues`).
    pub root: Option<StructNode>,
    /// The decoded controller, for the `fdc` section.
    pub fdc: Option<FdcBody>,
}

impl Section {
    /// The device walk, for device sections.
    pub fn device(&self) -> Option<&DeviceBody> {
        match &self.body {
            SectionBody::Device(d) => Some(d.as_ref()),
            SectionBody::Ram(_) => None,
        }
    }

    /// The ram statistics, for ram sections.
    pub fn ram(&self) -> Option<&RamStats> {
        match &self.body {
            SectionBody::Ram(r) => Some(r),
            SectionBody::Device(_) => None,
        }
    }

    /// Names of the subsections in stream order.
    pub fn subsection_names(&self) -> Vec<String> {
        match self.device() {
            Some(DeviceBody { fdc: Some(f), .. }) => {
                f.subsections.iter().map(|s| s.name.clone()).collect()
            }
            Some(DeviceBody { root: Some(r), .. }) => vmdesc::subsections_of(r)
                .into_iter()
                .map(|h| h.node.name.clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl<'a> MigrationStream<'a> {
    /// Parses a whole stream. Never panics; memory stays proportional to the input.
    pub fn parse(bytes: &'a [u8]) -> Result<MigrationStream<'a>, StreamError> {
        check_header(bytes)?;
        let vmdesc = vmdesc::locate(bytes)?;
        let mut r = Reader::new(bytes, 8);
        let mut issues = Vec::new();

        let configuration = if r.peek() == Some(QEMU_VM_CONFIGURATION) {
            Some(parse_configuration(&mut r)?)
        } else {
            None
        };
        let page_size = page_size_of(configuration.as_ref(), vmdesc.as_ref())?;
        let mut ram = RamState {
            page_size,
            ignore_shared: configuration
                .as_ref()
                .is_some_and(|c| c.capabilities.iter().any(|s| s == "x-ignore-shared")),
            blocks: Vec::new(),
            by_name: Default::default(),
            current: None,
        };
        let mut sections: Vec<Section> = Vec::new();
        let mut next_device = 0usize;
        let eof_offset;
        loop {
            let at = r.pos;
            if sections.len() >= MAX_SECTIONS {
                return Err(StreamError::Unsupported {
                    offset: at,
                    what: format!("more than {MAX_SECTIONS} sections"),
                });
            }
            let ty = r.u8(at, "a section type")?;
            let Some((kind, section_id, name, instance_id, version)) =
                section_header(&mut r, ty, at, &sections)?
            else {
                eof_offset = at;
                break;
            };
            let payload_start = r.pos;
            let body = match kind {
                SectionKind::Start | SectionKind::Part | SectionKind::End => {
                    if name != "ram" {
                        return Err(StreamError::Unsupported {
                            offset: at,
                            what: format!("iterative section `{name}` (only `ram` is walked)"),
                        });
                    }
                    if kind == SectionKind::Start && version != Some(4) {
                        return Err(StreamError::Unsupported {
                            offset: at,
                            what: format!("ram section version {version:?} (QEMU 7.2 writes 4)"),
                        });
                    }
                    SectionBody::Ram(ram::walk_part(&mut r, &mut ram)?)
                }
                SectionKind::Full => {
                    let index = next_device;
                    next_device += 1;
                    let head = DeviceHead {
                        at,
                        index,
                        name: &name,
                        instance_id,
                        version,
                    };
                    device_body(&mut r, vmdesc.as_ref(), &head, &mut issues)?
                }
            };
            let payload = payload_start..r.pos;
            let footer = section_footer(&mut r, section_id, &name)?;
            sections.push(Section {
                offset: at,
                kind,
                section_id,
                name,
                instance_id,
                version,
                payload,
                footer,
                end: r.pos,
                body,
            });
        }
        check_after_eof(&r, vmdesc.as_ref())?;
        if let Some(v) = &vmdesc {
            if v.devices().len() != next_device {
                issues.push(Issue {
                    offset: v.json_start,
                    message: format!(
                        "the vmdesc describes {} devices, the stream has {next_device} device \
                         sections",
                        v.devices().len()
                    ),
                });
            }
        }
        Ok(MigrationStream {
            bytes,
            configuration,
            sections,
            eof_offset,
            vmdesc,
            page_size,
            issues,
        })
    }

    /// The device section `name` with instance `instance` (any instance if `None`; the
    /// first one wins).
    pub fn device_section(&self, name: &str, instance: Option<u32>) -> Option<&Section> {
        self.sections.iter().find(|s| {
            s.kind == SectionKind::Full
                && s.name == name
                && instance.is_none_or(|i| i == s.instance_id)
        })
    }

    /// The `fdc` section and its decoded controller.
    pub fn fdc(&self) -> Option<(&Section, &FdcBody)> {
        self.sections.iter().find_map(|s| match &s.body {
            SectionBody::Device(d) => d.fdc.as_ref().map(|f| (s, f)),
            _ => None,
        })
    }

    /// All ram parts added up (blocks from every `MEM_SIZE` record).
    pub fn ram_totals(&self) -> RamStats {
        let mut t = RamStats::default();
        for s in &self.sections {
            if let Some(r) = s.ram() {
                t.add(r);
            }
        }
        t
    }

    /// Every byte of the stream attributed to one record, in stream order: the header,
    /// the configuration section, each section (header, payload, footer), `QEMU_VM_EOF`
    /// and the vmdesc. The ranges are contiguous and cover the whole stream.
    pub fn pieces(&self) -> Vec<(Range<usize>, String)> {
        let mut v = vec![(0..8, "header".to_string())];
        if let Some(c) = &self.configuration {
            v.push((c.range.clone(), "configuration".into()));
        }
        for s in &self.sections {
            v.push((
                s.offset..s.end,
                format!("{} {} ({})", s.kind.as_str(), s.name, s.instance_id),
            ));
        }
        v.push((self.eof_offset..self.eof_offset + 1, "eof".into()));
        if let Some(d) = &self.vmdesc {
            v.push((d.offset..self.bytes.len(), "vmdesc".into()));
        }
        v
    }

    /// The stream written back from its parsed [`pieces`](Self::pieces): identical to the
    /// input, or `None` if the pieces do not tile it (which would be a parser bug).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.bytes.len());
        for (r, _) in self.pieces() {
            if r.start != out.len() {
                return None;
            }
            out.extend_from_slice(self.bytes.get(r)?);
        }
        (out.len() == self.bytes.len()).then_some(out)
    }

    /// The machine type named by the configuration section.
    pub fn machine(&self) -> Option<&str> {
        self.configuration.as_ref().map(|c| c.machine.as_str())
    }
}

/// Checks the 8-byte file header (QEVM, version 3).
pub fn check_header(stream: &[u8]) -> Result<(), StreamError> {
    if stream.len() < 4 || &stream[0..4] != QEMU_VM_FILE_MAGIC {
        return Err(if stream.len() < 4 {
            StreamError::Truncated {
                offset: 0,
                what: "the file header".into(),
            }
        } else {
            StreamError::BadMagic
        });
    }
    let version = super::reader::be32_at(stream, 4).ok_or_else(|| StreamError::Truncated {
        offset: 0,
        what: "the file header".into(),
    })?;
    if version != QEMU_VM_FILE_VERSION {
        return Err(StreamError::BadVersion(version));
    }
    Ok(())
}

fn parse_configuration(r: &mut Reader<'_>) -> Result<Configuration, StreamError> {
    let at = r.pos;
    r.pos += 1;
    let len = r.be32(at, "the configuration section")?;
    let name = r.take(u64::from(len), at, || "the machine type name".into())?;
    let machine = String::from_utf8_lossy(name).into_owned();
    let mut c = Configuration {
        offset: at,
        range: at..at,
        machine,
        target_page_bits: None,
        capabilities: Vec::new(),
        uuid: None,
        subsections: Vec::new(),
    };
    // `vmstate_subsection_load`: records while the name extends "configuration/".
    while r.peek() == Some(QEMU_VM_SUBSECTION) {
        let sub_at = r.pos;
        let Some(len) = r.peek_at(1) else { break };
        let prefix = b"configuration/";
        let name_bytes = r
            .buf
            .get(sub_at + 2..sub_at + 2 + usize::from(len))
            .unwrap_or(&[]);
        if usize::from(len) <= prefix.len() || !name_bytes.starts_with(prefix) {
            break;
        }
        r.pos += 1;
        let name = r.name8(sub_at, "a configuration subsection")?;
        let version = r.be32(sub_at, "a configuration subsection")?;
        if version != 1 {
            return Err(StreamError::Malformed {
                offset: sub_at,
                reason: format!("subsection `{name}` version {version}, expected 1"),
            });
        }
        match name.as_str() {
            "configuration/target-page-bits" => {
                c.target_page_bits = Some(r.be32(sub_at, "target-page-bits")?);
            }
            "configuration/capabilities" => {
                let n = r.be32(sub_at, "the capability count")?;
                for _ in 0..n {
                    let cap = r.name8(sub_at, "a capability")?;
                    c.capabilities.push(cap);
                }
            }
            "configuration/uuid" => {
                let b = r.take(16, sub_at, || "the uuid".into())?;
                let mut u = [0u8; 16];
                u.copy_from_slice(b);
                c.uuid = Some(u);
            }
            _ => {
                return Err(StreamError::Malformed {
                    offset: sub_at,
                    reason: format!("unknown configuration subsection `{name}`"),
                })
            }
        }
        c.subsections.push(name);
    }
    c.range = at..r.pos;
    Ok(c)
}

/// The stream's target page size: the configuration's `target-page-bits`, else the
/// vmdesc's `page_size`, else QEMU's default.
fn page_size_of(
    configuration: Option<&Configuration>,
    vmdesc: Option<&Vmdesc>,
) -> Result<u64, StreamError> {
    Ok(match configuration.and_then(|c| c.target_page_bits) {
        Some(bits) if (9..=20).contains(&bits) => 1u64 << bits,
        Some(bits) => {
            return Err(StreamError::Malformed {
                offset: configuration.map_or(8, |c| c.offset),
                reason: format!("target page bits {bits} out of range 9..=20"),
            })
        }
        None => match vmdesc.and_then(Vmdesc::page_size) {
            Some(ps) if ps.is_power_of_two() && (512..=1 << 20).contains(&ps) => ps,
            Some(ps) => {
                return Err(StreamError::Vmdesc {
                    offset: vmdesc.map_or(0, |v| v.json_start),
                    reason: format!("page_size {ps} is not a power of two in 512..=1M"),
                })
            }
            None => DEFAULT_PAGE_SIZE,
        },
    })
}

/// The header of the section starting with type byte `ty` at `at`: kind, id, name,
/// instance id and version (`None` for a part or end, which take the start's);
/// `None` at QEMU_VM_EOF.
#[allow(clippy::type_complexity)]
fn section_header(
    r: &mut Reader<'_>,
    ty: u8,
    at: usize,
    sections: &[Section],
) -> Result<Option<(SectionKind, u32, String, u32, Option<u32>)>, StreamError> {
    Ok(Some(match ty {
        QEMU_VM_EOF => return Ok(None),
        QEMU_VM_SECTION_START | QEMU_VM_SECTION_FULL => {
            let id = r.be32(at, "a section header")?;
            let name = r.name8(at, "a section header")?;
            let instance = r.be32(at, "a section header")?;
            let version = r.be32(at, "a section header")?;
            let kind = if ty == QEMU_VM_SECTION_START {
                SectionKind::Start
            } else {
                SectionKind::Full
            };
            (kind, id, name, instance, Some(version))
        }
        QEMU_VM_SECTION_PART | QEMU_VM_SECTION_END => {
            let id = r.be32(at, "a section header")?;
            let start = sections
                .iter()
                .find(|s| s.kind == SectionKind::Start && s.section_id == id)
                .ok_or_else(|| StreamError::Malformed {
                    offset: at,
                    reason: format!("section part for id {id}, which was never started"),
                })?;
            let kind = if ty == QEMU_VM_SECTION_PART {
                SectionKind::Part
            } else {
                SectionKind::End
            };
            (kind, id, start.name.clone(), start.instance_id, None)
        }
        QEMU_VM_CONFIGURATION => {
            return Err(StreamError::Malformed {
                offset: at,
                reason: "a configuration section after the first section".into(),
            })
        }
        super::QEMU_VM_COMMAND => {
            return Err(StreamError::Unsupported {
                offset: at,
                what: "QEMU_VM_COMMAND (postcopy, COLO or a packaged stream)".into(),
            })
        }
        other => {
            return Err(StreamError::Malformed {
                offset: at,
                reason: format!("unknown section type {other:#04x}"),
            })
        }
    }))
}

/// The optional footer after a section's payload (checked against its id).
fn section_footer(
    r: &mut Reader<'_>,
    section_id: u32,
    name: &str,
) -> Result<Option<usize>, StreamError> {
    Ok(if r.peek() == Some(QEMU_VM_SECTION_FOOTER) {
        let f = r.pos;
        r.pos += 1;
        let id = r.be32(f, "a section footer")?;
        if id != section_id {
            return Err(StreamError::Malformed {
                offset: f,
                reason: format!(
                    "footer names section {id}, the section `{name}` has id {section_id}"
                ),
            });
        }
        Some(f)
    } else {
        if let Some(b) = r.peek() {
            if !matches!(b, 0x00..=0x04 | 0x08) {
                return Err(StreamError::VmdescMismatch {
                    offset: r.pos,
                    section: name.to_string(),
                    reason: format!(
                        "after the described fields and subsections the stream holds \
                         {b:#04x}, not a section footer or the next section"
                    ),
                });
            }
        }
        None
    })
}

/// After QEMU_VM_EOF: the vmdesc or nothing.
fn check_after_eof(r: &Reader<'_>, vmdesc: Option<&Vmdesc>) -> Result<(), StreamError> {
    match vmdesc {
        Some(v) if v.offset == r.pos => {}
        Some(v) => {
            return Err(StreamError::Vmdesc {
                offset: r.pos,
                reason: format!(
                    "QEMU_VM_EOF is followed by {} bytes before the vmdesc at offset {}",
                    v.offset.saturating_sub(r.pos),
                    v.offset
                ),
            })
        }
        None if r.remaining() == 0 => {}
        None => {
            return Err(StreamError::Vmdesc {
                offset: r.pos,
                reason: format!(
                    "{} bytes after QEMU_VM_EOF are not a vmdesc (0x06, be32 length, JSON \
                     reaching the end of the stream)",
                    r.remaining()
                ),
            })
        }
    }
    Ok(())
}

/// Where a device section starts and what its header says.
struct DeviceHead<'n> {
    at: usize,
    index: usize,
    name: &'n str,
    instance_id: u32,
    version: Option<u32>,
}

/// A device section's body: checked against the vmdesc's entry, walked by the fdc
/// walker or by the vmdesc's description.
fn device_body(
    r: &mut Reader<'_>,
    vmdesc: Option<&Vmdesc>,
    head: &DeviceHead<'_>,
    issues: &mut Vec<Issue>,
) -> Result<SectionBody, StreamError> {
    let DeviceHead {
        at,
        index,
        name,
        instance_id,
        version,
    } = *head;
    let desc = vmdesc.map(|v| (v, v.devices().get(index)));
    if let Some((_, d)) = desc {
        let d_name = d.and_then(|d| d.get("name")).and_then(|n| n.as_str());
        let d_inst = d
            .and_then(|d| d.get("instance_id"))
            .and_then(|n| n.as_u64());
        if d_name != Some(name) || d_inst != Some(u64::from(instance_id)) {
            return Err(StreamError::VmdescMismatch {
                offset: at,
                section: name.to_string(),
                reason: format!(
                    "device section #{index} is `{name}` instance {instance_id}, \
                     the vmdesc's entry #{index} is {}",
                    match (d_name, d_inst) {
                        (Some(n), Some(i)) => format!("`{n}` instance {i}"),
                        _ => "missing".into(),
                    }
                ),
            });
        }
    }
    let device = desc.and_then(|(v, d)| d.map(|d| (v, d)));
    if name == "fdc" {
        let body = fdc::walk(r, device, version, issues)?;
        Ok(SectionBody::Device(Box::new(DeviceBody {
            vmdesc_index: device.map(|_| index),
            ..body
        })))
    } else {
        let Some((v, d)) = device else {
            return Err(StreamError::NoVmdesc {
                offset: at,
                section: name.to_string(),
            });
        };
        let root = vmdesc::walk_struct(r, d, v.json_start, name)?;
        Ok(SectionBody::Device(Box::new(DeviceBody {
            vmdesc_index: Some(index),
            root: Some(root),
            fdc: None,
        })))
    }
}
