//! Small streams built from scratch in QEMU 7.2's format, for tests and fuzz seeds (real
//! streams are hundreds of kilobytes at least): a header, the configuration section, a
//! three-part `ram` section over one small block, optionally a few device sections shaped
//! like real ones (`timer`; `dma` with a compressed struct array; `pckbd` with a nested
//! struct and a subsection), the `fdc` section holding a given state, `QEMU_VM_EOF`, and
//! the vmdesc describing it all as QEMU's `JSONWriter` would.

use fdc::{wire, FdcState};

use super::fdc::vmdesc_json;
use super::ram::{
    RAM_SAVE_FLAG_CONTINUE, RAM_SAVE_FLAG_EOS, RAM_SAVE_FLAG_MEM_SIZE, RAM_SAVE_FLAG_PAGE,
    RAM_SAVE_FLAG_ZERO,
};
use super::{
    QEMU_VM_CONFIGURATION, QEMU_VM_EOF, QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION,
    QEMU_VM_SECTION_END, QEMU_VM_SECTION_FOOTER, QEMU_VM_SECTION_FULL, QEMU_VM_SECTION_PART,
    QEMU_VM_SECTION_START, QEMU_VM_SUBSECTION,
};

/// What to put in a built stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Pages sent with their data (`RAM_SAVE_FLAG_PAGE`).
    pub pages: u16,
    /// Pages sent as zero pages (`RAM_SAVE_FLAG_ZERO`).
    pub zero_pages: u16,
    /// Add the `timer`, `dma` and `pckbd` sections before the `fdc`.
    pub extra_devices: bool,
    /// Close sections with footers (QEMU 7.2 machine types do).
    pub footers: bool,
    /// The machine type in the configuration section.
    pub machine: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            pages: 2,
            zero_pages: 2,
            extra_devices: true,
            footers: true,
            machine: "pc-i440fx-7.2".into(),
        }
    }
}

const PAGE: u64 = 4096;

struct Out {
    bytes: Vec<u8>,
    footers: bool,
}

impl Out {
    fn be32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn be64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }
    fn name(&mut self, s: &str) {
        self.bytes.push(s.len() as u8);
        self.bytes.extend_from_slice(s.as_bytes());
    }
    fn header(&mut self, ty: u8, id: u32, name: &str, instance: u32, version: u32) {
        self.bytes.push(ty);
        self.be32(id);
        self.name(name);
        self.be32(instance);
        self.be32(version);
    }
    fn footer(&mut self, id: u32) {
        if self.footers {
            self.bytes.push(QEMU_VM_SECTION_FOOTER);
            self.be32(id);
        }
    }
}

/// A stream holding `state` in its `fdc` section.
pub fn build(state: &FdcState, opts: &BuildOptions) -> Vec<u8> {
    let mut o = Out {
        bytes: Vec::new(),
        footers: opts.footers,
    };
    o.bytes.extend_from_slice(QEMU_VM_FILE_MAGIC);
    o.be32(QEMU_VM_FILE_VERSION);
    o.bytes.push(QEMU_VM_CONFIGURATION);
    o.be32(opts.machine.len() as u32);
    o.bytes.extend_from_slice(opts.machine.as_bytes());

    // ram: setup (block list), one part with the pages, an empty end.
    let n = u64::from(opts.pages) + u64::from(opts.zero_pages);
    let total = n.max(1) * PAGE;
    o.header(QEMU_VM_SECTION_START, 2, "ram", 0, 4);
    o.be64(total | RAM_SAVE_FLAG_MEM_SIZE);
    o.name("pc.ram");
    o.be64(total);
    o.be64(RAM_SAVE_FLAG_EOS);
    o.footer(2);
    o.bytes.push(QEMU_VM_SECTION_PART);
    o.be32(2);
    for i in 0..n {
        let zero = i >= u64::from(opts.pages);
        let flag = if zero {
            RAM_SAVE_FLAG_ZERO
        } else {
            RAM_SAVE_FLAG_PAGE
        };
        if i == 0 {
            o.be64(i * PAGE | flag);
            o.name("pc.ram");
        } else {
            o.be64(i * PAGE | flag | RAM_SAVE_FLAG_CONTINUE);
        }
        if zero {
            o.bytes.push(0);
        } else {
            o.bytes
                .extend((0..PAGE).map(|b| (b as u8).wrapping_mul(i as u8 | 1)));
        }
    }
    o.be64(RAM_SAVE_FLAG_EOS);
    o.footer(2);
    o.bytes.push(QEMU_VM_SECTION_END);
    o.be32(2);
    o.be64(RAM_SAVE_FLAG_EOS);
    o.footer(2);

    let mut devices = Vec::new();
    let mut id = 3;
    if opts.extra_devices {
        o.header(QEMU_VM_SECTION_FULL, id, "timer", 0, 2);
        o.be64(0x1234);
        o.bytes.extend_from_slice(&[0; 8]);
        o.be64(0x5678);
        o.footer(id);
        devices.push(
            "{\"name\": \"timer\", \"instance_id\": 0, \"vmsd_name\": \"timer\", \"version\": 2, \"fields\": [{\"name\": \"cpu_ticks_offset\", \"type\": \"int64\", \"size\": 8}, {\"name\": \"unused\", \"type\": \"unused_buffer\", \"size\": 8}, {\"name\": \"cpu_clock_offset\", \"type\": \"int64\", \"size\": 8}]}".to_string(),
        );
        id += 1;
        o.header(QEMU_VM_SECTION_FULL, id, "dma", 0, 1);
        o.bytes.extend_from_slice(&[0, 0x0f, 0]);
        o.be32(0);
        for r in 0..4u8 {
            o.bytes
                .extend_from_slice(&[0, 0, 0, r, 0, 0, 0, 0, 0, r, 0, 0]);
            o.bytes.extend_from_slice(&[0x40 | r, 0, 0, 0, 0]);
        }
        o.footer(id);
        devices.push(
            "{\"name\": \"dma\", \"instance_id\": 0, \"vmsd_name\": \"dma\", \"version\": 1, \"fields\": [{\"name\": \"command\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"mask\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"flip_flop\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"dshift\", \"type\": \"int32\", \"size\": 4}, {\"name\": \"regs\", \"array_len\": 4, \"type\": \"struct\", \"struct\": {\"vmsd_name\": \"dma_regs\", \"version\": 1, \"fields\": [{\"name\": \"now\", \"array_len\": 2, \"type\": \"int32\", \"size\": 4}, {\"name\": \"base\", \"array_len\": 2, \"type\": \"uint16\", \"size\": 2}, {\"name\": \"mode\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"page\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"pageh\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"dack\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"eop\", \"type\": \"uint8\", \"size\": 1}]}, \"size\": 17}]}".to_string(),
        );
        id += 1;
        o.header(QEMU_VM_SECTION_FULL, id, "pckbd", 0, 3);
        o.bytes.extend_from_slice(&[0x60, 0x1c, 0x03, 0x00]);
        o.bytes.push(QEMU_VM_SUBSECTION);
        o.name("pckbd/extended_state");
        o.be32(0);
        o.be32(1);
        o.be32(0);
        o.bytes.extend_from_slice(&[0xfa, 0x00]);
        o.footer(id);
        devices.push(
            "{\"name\": \"pckbd\", \"instance_id\": 0, \"vmsd_name\": \"pckbd\", \"version\": 3, \"fields\": [{\"name\": \"kbd\", \"type\": \"struct\", \"struct\": {\"vmsd_name\": \"pckbd\", \"version\": 3, \"fields\": [{\"name\": \"write_cmd\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"status\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"mode\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"pending_tmp\", \"type\": \"uint8\", \"size\": 1}], \"subsections\": [{\"vmsd_name\": \"pckbd/extended_state\", \"version\": 0, \"fields\": [{\"name\": \"migration_flags\", \"type\": \"uint32\", \"size\": 4}, {\"name\": \"obsrc\", \"type\": \"uint32\", \"size\": 4}, {\"name\": \"obdata\", \"type\": \"uint8\", \"size\": 1}, {\"name\": \"cbdata\", \"type\": \"uint8\", \"size\": 1}]}]}, \"size\": 40}]}".to_string(),
        );
        id += 1;
    }
    o.header(QEMU_VM_SECTION_FULL, id, "fdc", 0, 2);
    o.bytes.extend_from_slice(&wire::encode(state));
    o.footer(id);
    devices.push(vmdesc_json(state, 0));
    o.bytes.push(QEMU_VM_EOF);
    let json = format!(
        "{{\"page_size\": {PAGE}, \"devices\": [{}]}}",
        devices.join(", ")
    );
    o.bytes.push(super::vmdesc::QEMU_VM_VMDESCRIPTION);
    o.be32(json.len() as u32);
    o.bytes.extend_from_slice(json.as_bytes());
    o.bytes
}
