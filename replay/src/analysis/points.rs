//! `fdc-replay points`: one line per migration point.

use super::machine::{MachineReplay, OnMachineError};
use super::{
    apply, key_command, key_of, needed_names, Ev, EvKind, ReplayError, ReplayModel, INITIAL_STAGE,
};
use fdc::Machine;
use fdc_oracle::MIN_FIRST_INCOMING_ADVANCE_NS;
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
    m: &ReplayModel,
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
    write_points_from(path, fdc_trace::TraceReader::open(path)?, out)
}

/// [`write_points`] on a trace already opened (no event read yet) whose errors name
/// `path`: the file is read once, so a pipe works.
pub fn write_points_from<I: std::io::Read>(
    path: &Path,
    reader: fdc_trace::TraceReader<I>,
    out: &mut dyn Write,
) -> Result<u64, ReplayError> {
    let mut m = ReplayModel::from_header(reader.header(), path)?;
    let mut line = Vec::with_capacity(256);
    // Point i is printed when event i arrives (its weight needs event i's time).
    let end = walk::<I, ReplayError>(reader, path, |at, ev, ahead| {
        let w = if at.index == 0 {
            0
        } else {
            ev.t.saturating_sub(at.prev_t)
        };
        write_line::<ReplayError>(
            out,
            &mut line,
            &record(&m, at.index, at.prev_t, w, &at.stage),
        )?;
        apply(&mut m, ev, ahead).map_err(|reason| ReplayError::Event {
            file: Some(path.to_path_buf()),
            index: at.index,
            reason,
        })?;
        Ok(())
    })?;
    write_line::<ReplayError>(
        out,
        &mut line,
        &record(&m, end.index, end.prev_t, 0, &end.stage),
    )?;
    Ok(end.index + 1)
}

/// Where a walk through a trace stands: before event `index` (at point `index`).
struct Walk {
    /// Events applied so far.
    index: u64,
    /// Time of the previous event (0 before the first).
    prev_t: u64,
    /// The stage of the point.
    stage: String,
}

/// Walks the events of `path` in order, calling `f(where, event, events after it in its
/// chunk)` for each; returns where the walk ends (the idle point).
fn walk<I: std::io::Read, E: From<fdc_trace::TraceError>>(
    reader: fdc_trace::TraceReader<I>,
    path: &Path,
    mut f: impl FnMut(&Walk, &Ev, &[Ev]) -> Result<(), E>,
) -> Result<Walk, E> {
    let mut at = Walk {
        index: 0,
        prev_t: 0,
        stage: INITIAL_STAGE.to_string(),
    };
    fdc_trace::compact::for_each_chunk_from::<I, E>(reader, path, |chunk| {
        for (j, ev) in chunk.events.iter().enumerate() {
            f(&at, ev, &chunk.events[j + 1..])?;
            if let EvKind::Stage(l) = ev.kind {
                at.stage = chunk.labels.get(l as usize).cloned().unwrap_or_default();
            }
            at.prev_t = ev.t;
            at.index += 1;
        }
        Ok(())
    })?;
    Ok(at)
}

/// Writes `value` as one JSON line through the reused buffer `line`.
pub(crate) fn write_line<E: From<ReplayError>>(
    out: &mut dyn Write,
    line: &mut Vec<u8>,
    value: &impl Serialize,
) -> Result<(), E> {
    line.clear();
    serde_json::to_writer(&mut *line, value).map_err(|e| ReplayError::Output(e.into()))?;
    line.push(b'\n');
    out.write_all(line)
        .map_err(|e| ReplayError::Output(e).into())
}

/// One sampled migration point of `points --machine`: what the machine really sent,
/// next to what the model's replay needs there.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct SampledPoint<'a> {
    /// Number of events applied before the point.
    pub index: u64,
    /// The point's time in the trace (the time of event `index - 1`).
    pub t_ns: u64,
    /// The subsections the machine's migration stream carried, in stream order (the
    /// `fdrive/*` ones once per drive).
    pub sent: Vec<&'static str>,
    /// The subsections the model's replay needs at the point (`points`' `needed`).
    pub model: Vec<&'static str>,
    /// Both name the same subsections.
    pub agree: bool,
    /// The stage of the point.
    pub stage: &'a str,
}

/// What [`write_machine_points`] sampled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleSummary {
    /// Points sampled.
    pub sampled: u64,
    /// Points where the machine and the model agree.
    pub agree: u64,
}

/// Replays `path` into `r`'s machine and, every `every` events, migrates the machine and
/// writes the subsections it really sent next to the model's as a JSON line
/// ([`SampledPoint`]). A point is sampled once `every` events have passed since the last
/// sample and the trace leaves at least `MIN_FIRST_INCOMING_ADVANCE_NS` until its next
/// event (QEMU needs that long after a migration before it may run again), and at the
/// end of the trace.
pub fn write_machine_points<M: Machine>(
    path: &Path,
    r: &mut MachineReplay<M>,
    every: u64,
    out: &mut dyn Write,
) -> Result<SampleSummary, OnMachineError<M::Error>> {
    let reader = fdc_trace::TraceReader::open(path).map_err(OnMachineError::from)?;
    write_machine_points_from(path, reader, r, every, out)
}

/// [`write_machine_points`] on a trace already opened (no event read yet) whose errors
/// name `path`.
pub fn write_machine_points_from<I: std::io::Read, M: Machine>(
    path: &Path,
    reader: fdc_trace::TraceReader<I>,
    r: &mut MachineReplay<M>,
    every: u64,
    out: &mut dyn Write,
) -> Result<SampleSummary, OnMachineError<M::Error>> {
    let mut line = Vec::with_capacity(256);
    let mut summary = SampleSummary::default();
    let mut next = 0u64;
    let end = walk::<I, OnMachineError<M::Error>>(reader, path, |at, ev, ahead| {
        if at.index >= next && r.time_until(ev) >= MIN_FIRST_INCOMING_ADVANCE_NS {
            sample(r, at, &mut summary, out, &mut line)?;
            next = at.index + every.max(1);
        }
        r.step(at.index, ev, ahead)?;
        Ok(())
    })?;
    sample(r, &end, &mut summary, out, &mut line)?;
    Ok(summary)
}

/// Migrates the machine now and writes the point.
fn sample<M: Machine>(
    r: &mut MachineReplay<M>,
    at: &Walk,
    summary: &mut SampleSummary,
    out: &mut dyn Write,
    line: &mut Vec<u8>,
) -> Result<(), OnMachineError<M::Error>> {
    let state = r.save_state()?;
    let sent = fdc::wire::subsection_order(&state)
        .into_iter()
        .map(|s| s.name())
        .collect();
    let needed = r.model.fdc.needed_subsections();
    let agree = state.subsections() == needed;
    summary.sampled += 1;
    summary.agree += u64::from(agree);
    let point = SampledPoint {
        index: at.index,
        t_ns: at.prev_t,
        sent,
        model: needed.names(),
        agree,
        stage: &at.stage,
    };
    write_line(out, line, &point)
}
