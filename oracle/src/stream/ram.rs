//! The `ram` section's payload, record by record, as QEMU 7.2's `ram_load_precopy` reads
//! it (`migration/ram.c`).
//!
//! Each record starts with a be64 whose low bits (below the target page size) are flags and
//! whose high bits are a page-aligned offset in the RAM block:
//! - `MEM_SIZE` (0x04): the offset field is the total RAM size; then, until that total is
//!   covered, one entry per RAM block: u8 name length, name, be64 used length (plus a be64
//!   guest address with the `x-ignore-shared` capability);
//! - `ZERO` (0x02): a page filled with one byte (u8 that follows);
//! - `PAGE` (0x08): the page's bytes, one target page;
//! - `COMPRESS_PAGE` (0x100): be32 length and zlib data (at most `compressBound(page)`);
//! - `XBZRLE` (0x40): u8 encoding flag (1), be16 length (at most one page), data;
//! - `EOS` (0x10): end of this section part;
//! - `CONTINUE` (0x20), with a page record: same block as the previous record, otherwise
//!   a u8 length and the block name follow the be64.
//!
//! Any other flag combination (`HOOK` 0x80 belongs to RDMA) is refused, as QEMU does.

use std::collections::HashMap;

use super::error::StreamError;
use super::reader::Reader;

/// Most RAM blocks accepted (a PC has about ten).
pub const MAX_RAM_BLOCKS: usize = 4096;

/// `RAM_SAVE_FLAG_ZERO`.
pub const RAM_SAVE_FLAG_ZERO: u64 = 0x02;
/// `RAM_SAVE_FLAG_MEM_SIZE`.
pub const RAM_SAVE_FLAG_MEM_SIZE: u64 = 0x04;
/// `RAM_SAVE_FLAG_PAGE`.
pub const RAM_SAVE_FLAG_PAGE: u64 = 0x08;
/// `RAM_SAVE_FLAG_EOS`.
pub const RAM_SAVE_FLAG_EOS: u64 = 0x10;
/// `RAM_SAVE_FLAG_CONTINUE`.
pub const RAM_SAVE_FLAG_CONTINUE: u64 = 0x20;
/// `RAM_SAVE_FLAG_XBZRLE`.
pub const RAM_SAVE_FLAG_XBZRLE: u64 = 0x40;
/// `RAM_SAVE_FLAG_HOOK` (RDMA only).
pub const RAM_SAVE_FLAG_HOOK: u64 = 0x80;
/// `RAM_SAVE_FLAG_COMPRESS_PAGE`.
pub const RAM_SAVE_FLAG_COMPRESS_PAGE: u64 = 0x100;
/// `ENCODING_FLAG_XBZRLE`.
const ENCODING_FLAG_XBZRLE: u8 = 0x1;

/// One RAM block announced by a `MEM_SIZE` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamBlock {
    /// Its idstr (`pc.ram`, `/rom@etc/acpi/tables`, ...).
    pub name: String,
    /// Used length in bytes.
    pub length: u64,
}

/// What one part of the `ram` section holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RamStats {
    /// Records, EOS included.
    pub records: u64,
    /// `PAGE` records.
    pub pages: u64,
    /// `ZERO` records.
    pub zero_pages: u64,
    /// `COMPRESS_PAGE` records.
    pub compressed_pages: u64,
    /// `XBZRLE` records.
    pub xbzrle_pages: u64,
    /// Bytes of page data (raw, compressed or delta) carried.
    pub page_bytes: u64,
    /// Blocks announced by a `MEM_SIZE` record in this part.
    pub blocks: Vec<RamBlock>,
}

impl RamStats {
    /// Adds another part's counts (blocks appended).
    pub fn add(&mut self, o: &RamStats) {
        self.records += o.records;
        self.pages += o.pages;
        self.zero_pages += o.zero_pages;
        self.compressed_pages += o.compressed_pages;
        self.xbzrle_pages += o.xbzrle_pages;
        self.page_bytes += o.page_bytes;
        self.blocks.extend(o.blocks.iter().cloned());
    }
}

/// State carried from one part of the `ram` section to the next.
#[derive(Debug, Clone)]
pub(crate) struct RamState {
    pub(crate) page_size: u64,
    pub(crate) ignore_shared: bool,
    pub(crate) blocks: Vec<RamBlock>,
    /// Index of `blocks` by name.
    pub(crate) by_name: HashMap<String, usize>,
    /// Block of the previous page record (QEMU's `ram_block_from_stream` keeps it).
    pub(crate) current: Option<usize>,
}

/// zlib's `compressBound`.
fn compress_bound(n: u64) -> u64 {
    n + (n >> 12) + (n >> 14) + (n >> 25) + 13
}

/// Reads records up to and including `EOS`.
pub(crate) fn walk_part(r: &mut Reader<'_>, st: &mut RamState) -> Result<RamStats, StreamError> {
    let mut stats = RamStats::default();
    let ps = st.page_size;
    loop {
        let at = r.pos;
        let word = r.be64(at, "a ram record header")?;
        stats.records += 1;
        let flags = word & (ps - 1);
        let addr = word & !(ps - 1);
        let bad = |reason: String| StreamError::Ram { offset: at, reason };
        match flags & !RAM_SAVE_FLAG_CONTINUE {
            RAM_SAVE_FLAG_MEM_SIZE => mem_size(r, st, &mut stats, addr)?,
            f @ (RAM_SAVE_FLAG_ZERO
            | RAM_SAVE_FLAG_PAGE
            | RAM_SAVE_FLAG_COMPRESS_PAGE
            | RAM_SAVE_FLAG_XBZRLE) => {
                let block = if flags & RAM_SAVE_FLAG_CONTINUE != 0 {
                    st.current
                        .ok_or_else(|| bad("CONTINUE without a previous block".into()))?
                } else {
                    let name = r.name8(at, "a ram block name")?;
                    let i = *st
                        .by_name
                        .get(&name)
                        .ok_or_else(|| bad(format!("page of unknown block `{name}`")))?;
                    st.current = Some(i);
                    i
                };
                let b = &st.blocks[block];
                if addr >= b.length {
                    return Err(bad(format!(
                        "offset {addr:#x} is outside block `{}` ({:#x} bytes)",
                        b.name, b.length
                    )));
                }
                match f {
                    RAM_SAVE_FLAG_ZERO => {
                        r.u8(at, "a zero page's fill byte")?;
                        stats.zero_pages += 1;
                    }
                    RAM_SAVE_FLAG_PAGE => {
                        r.take(ps, at, || "a page".into())?;
                        stats.pages += 1;
                        stats.page_bytes += ps;
                    }
                    RAM_SAVE_FLAG_COMPRESS_PAGE => {
                        let len = u64::from(r.be32(at, "a compressed page length")?);
                        if len > compress_bound(ps) {
                            return Err(bad(format!("compressed page of {len} bytes")));
                        }
                        r.take(len, at, || "a compressed page".into())?;
                        stats.compressed_pages += 1;
                        stats.page_bytes += len;
                    }
                    _ => {
                        let enc = r.u8(at, "an XBZRLE encoding flag")?;
                        if enc != ENCODING_FLAG_XBZRLE {
                            return Err(bad(format!("XBZRLE encoding flag {enc:#x}")));
                        }
                        let len = u64::from(r.be16(at, "an XBZRLE length")?);
                        if len > ps {
                            return Err(bad(format!("XBZRLE page of {len} bytes")));
                        }
                        r.take(len, at, || "an XBZRLE page".into())?;
                        stats.xbzrle_pages += 1;
                        stats.page_bytes += len;
                    }
                }
            }
            RAM_SAVE_FLAG_EOS => return Ok(stats),
            f if f & RAM_SAVE_FLAG_HOOK != 0 => {
                return Err(StreamError::Unsupported {
                    offset: at,
                    what: format!("ram record with the RDMA hook flag ({flags:#x})"),
                })
            }
            _ => return Err(bad(format!("unknown combination of ram flags {flags:#x}"))),
        }
    }
}

/// A MEM_SIZE record's block list (`total` bytes of blocks).
fn mem_size(
    r: &mut Reader<'_>,
    st: &mut RamState,
    stats: &mut RamStats,
    addr: u64,
) -> Result<(), StreamError> {
    let mut total = addr;
    while total > 0 {
        let entry = r.pos;
        let name = r.name8(entry, "a ram block name")?;
        let length = r.be64(entry, "a ram block length")?;
        if st.ignore_shared {
            r.be64(entry, "a ram block address")?;
        }
        if length > total {
            return Err(StreamError::Ram {
                offset: entry,
                reason: format!(
                    "block `{name}` ({length} bytes) exceeds the {total} bytes the \
                     MEM_SIZE record has left"
                ),
            });
        }
        if length == 0 {
            return Err(StreamError::Ram {
                offset: entry,
                reason: format!("block `{name}` has length 0"),
            });
        }
        total -= length;
        if stats.blocks.len() >= MAX_RAM_BLOCKS {
            return Err(StreamError::Unsupported {
                offset: entry,
                what: format!("more than {MAX_RAM_BLOCKS} ram blocks"),
            });
        }
        let block = RamBlock { name, length };
        stats.blocks.push(block.clone());
        match st.by_name.get(&block.name) {
            Some(&i) => st.blocks[i].length = block.length,
            None if st.blocks.len() >= MAX_RAM_BLOCKS => {
                return Err(StreamError::Unsupported {
                    offset: entry,
                    what: format!("more than {MAX_RAM_BLOCKS} ram blocks"),
                })
            }
            None => {
                st.by_name.insert(block.name.clone(), st.blocks.len());
                st.blocks.push(block);
            }
        }
    }
    Ok(())
}
