//! `fdc-replay check`: replays each trace and compares every recorded port read with the
//! value the model gives.

use super::{apply, key_command, key_of, Ev, EvKind, ReplayError};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::Path;

/// How many preceding events a mismatch report shows.
pub const CONTEXT_EVENTS: usize = 8;

/// One read the model answers differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub index: u64,
    pub t_ns: u64,
    pub offset: u8,
    pub recorded: u8,
    pub model: u8,
    /// Phase, MSR and command before the read.
    pub phase: String,
    pub msr: u8,
    pub command: &'static str,
    /// The preceding events, rendered.
    pub context: Vec<String>,
}

/// Result of checking one trace.
#[derive(Clone, Debug, Default)]
pub struct CheckResult {
    pub events: u64,
    pub reads: u64,
    pub mismatches: u64,
    /// The first `keep` mismatches, with context.
    pub first: Vec<Mismatch>,
    /// How the DMA transfers' byte counts were chosen.
    pub dma: super::DmaStats,
}

pub fn describe(index: u64, ev: &Ev, labels: &[String], model_read: Option<u8>) -> String {
    const REG: [&str; 8] = [
        "SRA", "SRB", "DOR", "TDR", "MSR/DSR", "FIFO", "-", "DIR/CCR",
    ];
    let what = match ev.kind {
        EvKind::Read { offset, value } => {
            let m = match model_read {
                Some(v) if v != value => format!(" (model {v:#04x})"),
                _ => String::new(),
            };
            format!("read  {} -> {value:#04x}{m}", REG[usize::from(offset & 7)])
        }
        EvKind::Write { offset, value } => {
            format!("write {} <- {value:#04x}", REG[usize::from(offset & 7)])
        }
        EvKind::Stage(l) => format!(
            "stage {:?}",
            labels.get(l as usize).map_or("?", String::as_str)
        ),
        EvKind::Eject(d) => format!("eject drive {d}"),
        EvKind::Insert {
            drive,
            read_only,
            size,
        } => format!(
            "insert drive {drive}: {size} bytes{}",
            if read_only { ", ro" } else { "" }
        ),
    };
    format!(
        "#{index} @{}.{:09}s {what}",
        ev.t / 1_000_000_000,
        ev.t % 1_000_000_000
    )
}

/// Checks a trace; `keep` = how many mismatches to keep with context.
pub fn check_file(path: &Path, keep: usize) -> Result<CheckResult, ReplayError> {
    check_file_with(path, keep, CONTEXT_EVENTS)
}

/// [`check_file`] with `context` preceding events per mismatch.
pub fn check_file_with(
    path: &Path,
    keep: usize,
    context: usize,
) -> Result<CheckResult, ReplayError> {
    let header = fdc_trace::TraceReader::open(path)?.header().clone();
    let mut m = super::ReplayModel::from_header(&header, path)?;
    let mut ctx: VecDeque<String> = VecDeque::with_capacity(context + 1);
    let mut res = CheckResult::default();
    fdc_trace::compact::for_each_chunk::<ReplayError>(path, |chunk| {
        for (j, ev) in chunk.events.iter().enumerate() {
            let i = chunk.first_event + j as u64;
            let before = (
                m.fdc.phase().map_or_else(
                    || format!("invalid({})", m.fdc.phase_byte()),
                    |p| p.name().to_string(),
                ),
                m.fdc.msr(),
                key_command(key_of(&m)),
            );
            let got =
                apply(&mut m, ev, &chunk.events[j + 1..]).map_err(|reason| ReplayError::Event {
                    file: Some(path.to_path_buf()),
                    index: i,
                    reason,
                })?;
            res.events += 1;
            if let (EvKind::Read { offset, value }, Some(model)) = (ev.kind, got) {
                res.reads += 1;
                if model != value {
                    res.mismatches += 1;
                    if res.first.len() < keep {
                        res.first.push(Mismatch {
                            index: i,
                            t_ns: ev.t,
                            offset,
                            recorded: value,
                            model,
                            phase: before.0.clone(),
                            msr: before.1,
                            command: before.2,
                            context: ctx.iter().cloned().collect(),
                        });
                    }
                }
            }
            if keep > 0 && context > 0 {
                if ctx.len() >= context {
                    ctx.pop_front();
                }
                ctx.push_back(describe(i, ev, &chunk.labels, got));
            }
        }
        Ok(())
    })?;
    res.dma = m.dma;
    Ok(res)
}

/// Renders a mismatch for the terminal.
pub fn render_mismatch(path: &Path, m: &Mismatch) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: event {}: read of port offset {} returned {:#04x} in the recording, the model gives {:#04x} \
(before the read: phase {}, MSR {:#04x}, command {})",
        path.display(),
        m.index,
        m.offset,
        m.recorded,
        m.model,
        m.phase,
        m.msr,
        m.command
    );
    for c in &m.context {
        let _ = writeln!(o, "    {c}");
    }
    o
}
