//! What a report keeps of one trace: integer counts only (points and time per state key
//! and stage, the longest runs, the idle state, the timeline). A report is a pure function
//! of its records, and the records are in the report's JSON, so reports of disjoint
//! inputs merge into exactly the report of one run over all of them (`fdc-replay merge`).

use super::super::replay::{Hist, Run, TraceAnalysis};
use super::super::timeline::Timeline;
use super::super::{key_command, key_needed, key_phase, needed_names, Key};
use super::Idle;
use fdc_trace::ProvenanceKind;
use serde::{Deserialize, Serialize};

/// Points and time of one state key. `phase`, `command` and `needed` spell the key out
/// (they are checked against it when a record is read back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCount {
    /// The key: bits 0-5 the needed subsections (bit = the subsection's position in the
    /// six, `fdc/phase` = 0), bits 6-7 the phase (1 command, 2 execution, 3 result,
    /// 0 invalid), bits 8-13 the command in progress (0 none).
    pub key: Key,
    pub phase: String,
    pub command: String,
    pub needed: Vec<String>,
    /// Points (event weight) in this state.
    pub points: u64,
    /// Time (ns) in this state.
    pub time_ns: u64,
}

/// The counts of one stage label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageCounts {
    pub stage: String,
    pub counts: Vec<KeyCount>,
}

/// A run of consecutive points: its first point and the state it starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub time_ns: u64,
    pub points: u64,
    pub start_index: u64,
    pub start_t_ns: u64,
    pub start_key: Key,
}

/// Everything the report uses of one trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// The path as it was given (or as found under a directory that was given).
    pub path: String,
    /// File name.
    pub name: String,
    /// Header guest (`unknown` when absent).
    pub guest: String,
    pub workload: Option<String>,
    /// `recorded` or `driver-model`.
    pub provenance: String,
    pub events: u64,
    /// Time of the last event.
    pub duration_ns: u64,
    pub reads: u64,
    pub read_mismatches: u64,
    /// Per stage label in first-seen order.
    pub stages: Vec<StageCounts>,
    /// Longest run needing `fdc/phase`.
    pub longest_phase: Option<RunRecord>,
    /// Longest run needing a subsection QEMU 2.3 does not know.
    pub longest_unknown_to_qemu_2_3: Option<RunRecord>,
    pub end_stage: String,
    pub idle: Idle,
    pub timeline: Timeline,
}

fn counts(h: &Hist) -> Vec<KeyCount> {
    h.entries
        .iter()
        .map(|&(key, points, time_ns)| KeyCount {
            key,
            phase: key_phase(key).to_string(),
            command: key_command(key).to_string(),
            needed: needed_names(key_needed(key))
                .into_iter()
                .map(str::to_string)
                .collect(),
            points,
            time_ns,
        })
        .collect()
}

fn run(r: &Run) -> Option<RunRecord> {
    r.started.then_some(RunRecord {
        time_ns: r.time,
        points: r.points,
        start_index: r.start_index,
        start_t_ns: r.start_t,
        start_key: r.start_key,
    })
}

/// The provenance name of the header's kind.
pub fn provenance_name(p: ProvenanceKind) -> &'static str {
    match p {
        ProvenanceKind::Recorded => "recorded",
        ProvenanceKind::DriverModel => "driver-model",
    }
}

impl TraceRecord {
    /// The record of an analysed trace.
    pub fn of(a: &TraceAnalysis) -> TraceRecord {
        let name = a.path.file_name().map_or_else(
            || a.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        TraceRecord {
            path: a.path.display().to_string(),
            name,
            guest: a
                .header
                .guest
                .clone()
                .unwrap_or_else(|| "unknown".to_string()),
            workload: a.header.workload.clone(),
            provenance: provenance_name(a.header.provenance.kind).to_string(),
            events: a.events,
            duration_ns: a.duration_ns,
            reads: a.part.reads,
            read_mismatches: a.part.read_mismatches,
            stages: a
                .part
                .stages
                .iter()
                .map(|(label, h)| StageCounts {
                    stage: label
                        .clone()
                        .unwrap_or_else(|| super::super::INITIAL_STAGE.to_string()),
                    counts: counts(h),
                })
                .collect(),
            longest_phase: run(&a.part.runs[0].longest()),
            longest_unknown_to_qemu_2_3: run(&a.part.runs[1].longest()),
            end_stage: a.end_stage.clone(),
            idle: super::idle_of(&a.idle),
            timeline: a.part.timeline.clone(),
        }
    }

    /// All stages' counts together, as a histogram.
    pub fn total(&self) -> Hist {
        let mut h = Hist::default();
        for s in &self.stages {
            h.merge(&hist(&s.counts));
        }
        h
    }

    /// Checks a record read back from JSON: every key spelled as it says, known
    /// provenance, a valid timeline. The message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let err = |what: String| Err(format!("trace {}: {what}", self.path));
        if !["recorded", "driver-model"].contains(&self.provenance.as_str()) {
            return err(format!("unknown provenance {:?}", self.provenance));
        }
        for s in &self.stages {
            for c in &s.counts {
                let again = &counts(&hist(std::slice::from_ref(c)))[0];
                if c.key >= 1 << 14 || again != c {
                    return err(format!(
                        "stage {:?}: key {} does not match its phase/command/needed",
                        s.stage, c.key
                    ));
                }
            }
        }
        self.timeline.validate().or_else(err)
    }
}

/// The histogram of a list of counts (same order).
pub fn hist(c: &[KeyCount]) -> Hist {
    let mut h = Hist::default();
    for k in c {
        h.add(k.key, k.points, k.time_ns);
    }
    h
}
