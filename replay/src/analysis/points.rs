//! `fdc-replay points`: one line per migration point.

use super::{
    apply, key_command, key_of, needed_names, EvKind, ReplayError, ReplayModel, INITIAL_STAGE,
};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// One migration point as `points --format jsonl` prints it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct PointRecord<'a> {
    /// Number of events applied before the point (0 = before the first event).
    pub index: u64,
    /// Start of the point's gap: the time of event `index - 1` (0 for point 0).
    pub t_ns: u64,
    /// Time weight: length of the gap (0 for the first and the last point).
    pub weight_ns: u64,
    pub phase: String,
    pub reconstructed: &'static str,
    pub msr: u8,
    pub needed: Vec<&'static str>,
    pub command: &'static str,
    pub stage: &'a str,
}

fn record<'a>(
    m: &super::ReplayModel,
    index: u64,
    t_ns: u64,
    weight_ns: u64,
    stage: &'a str,
) -> PointRecord<'a> {
    let k = key_of(m);
    let fdc = &m.fdc;
    PointRecord {
        index,
        t_ns,
        weight_ns,
        phase: fdc.phase().map_or_else(
            || format!("invalid({})", fdc.phase_byte()),
            |p| p.name().to_string(),
        ),
        reconstructed: fdc.reconstructed_phase().name(),
        msr: fdc.msr(),
        needed: needed_names(super::key_needed(k)),
        command: key_command(k),
        stage,
    }
}

/// Writes every point of `path` as JSON lines to `out`; returns the number of points.
///
/// Point `i` is the state at the start of its gap (after event `i - 1`); when the READ ID
/// timer fires inside the gap, the state after it is the next point's concern only
/// through event `i` (the report splits the gap's time exactly, see the module docs).
pub fn write_points(path: &Path, out: &mut dyn Write) -> Result<u64, ReplayError> {
    let header = fdc_trace::TraceReader::open(path)?.header().clone();
    let mut m = ReplayModel::from_header(&header, path)?;
    let mut stage = INITIAL_STAGE.to_string();
    let mut prev_t = 0u64;
    let mut index = 0u64;
    let mut line = Vec::with_capacity(256);
    // Point i is printed when event i arrives (its weight needs event i's time).
    fdc_trace::compact::for_each_chunk::<ReplayError>(path, |chunk| {
        for (j, ev) in chunk.events.iter().enumerate() {
            let w = if index == 0 {
                0
            } else {
                ev.t.saturating_sub(prev_t)
            };
            write_line(out, &mut line, &record(&m, index, prev_t, w, &stage))?;
            apply(&mut m, ev, &chunk.events[j + 1..]).map_err(|reason| ReplayError::Event {
                file: Some(path.to_path_buf()),
                index,
                reason,
            })?;
            if let EvKind::Stage(l) = ev.kind {
                stage = chunk.labels.get(l as usize).cloned().unwrap_or_default();
            }
            prev_t = ev.t;
            index += 1;
        }
        Ok(())
    })?;
    write_line(out, &mut line, &record(&m, index, prev_t, 0, &stage))?;
    Ok(index + 1)
}

/// Writes `value` as one JSON line through the reused buffer `line`.
pub(crate) fn write_line(
    out: &mut dyn Write,
    line: &mut Vec<u8>,
    value: &impl Serialize,
) -> Result<(), ReplayError> {
    line.clear();
    serde_json::to_writer(&mut *line, value).map_err(|e| ReplayError::Output(e.into()))?;
    line.push(b'\n');
    out.write_all(line).map_err(ReplayError::Output)
}
