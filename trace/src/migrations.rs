//! The `NAME.migrations.jsonl` file of a recording: the real QEMU migrations the recorder
//! (`corpora/record/recorder.py`) took while the guest ran, on the log's clock.
//!
//! One JSON object per line (unknown keys are ignored; blank lines skipped). The keys read:
//!
//! ```text
//! {"index": 0, "reason": "random", "status": "completed",
//!  "t_stop_request": 1796169083.811454,  // optional: just before the QMP `stop`
//!  "qmp_stop_t": 1796169083.811953, "qmp_resume_t": 1796169083.833251,
//!  "fdc_events_before": 4,            // fdc_ioport lines of the log before the stop
//!  "fdc_sent": ["fdrive/media_rate"], // subsections QEMU sent, distinct, stream order
//!  "fdc_state": {"sra": 0, ..., "fifo": "HEX (512 bytes)", ...,
//!                "drives": [{"head", "track", "sect", "media_changed", "media_rate",
//!                            "perpendicular"}, {...}],
//!                "reset_sensei": null, "result_timer": null, "phase": null}}
//! ```
//!
//! `fdc_state` is the JSON of `fdc-replay stream show` (`oracle/src/stream/show.rs`) for
//! QEMU's own stream. QEMU's virtual clock stands still from the `STOP` event to the
//! `RESUME` event (`qmp_stop_t`, `qmp_resume_t`, host real time like the log's
//! timestamps); the importer takes these pauses out of the trace's times.

use crate::lines::{read_line_capped, FileLineError};
use fdc::{FdcState, FdriveState, Subsection};
use serde::Deserialize;
use std::path::Path;

/// Largest time accepted, in host seconds (its nanoseconds must fit in a u64).
pub const MAX_MIGRATION_T: f64 = 1.8e10;
/// Most migrations one file may hold (each is stored in the trace header).
pub const MAX_MIGRATIONS: usize = 1000;
/// Longest pause accepted (one hour): a longer one is not a migration of a running guest.
pub const MAX_PAUSE_NS: u64 = 3_600_000_000_000;

/// One migration of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMigration {
    /// 1-based line number in the file, for error messages.
    pub line: usize,
    /// Host time of QEMU's `STOP` event, ns since the Unix epoch (whole microseconds).
    pub stop_unix_ns: u64,
    /// Host time of QEMU's `RESUME` event.
    pub resume_unix_ns: u64,
    /// Host time just before the recorder sent the QMP `stop` (`t_stop_request`; the
    /// `STOP` time when the file lacks it): the virtual clock stopped between the two.
    pub request_unix_ns: u64,
    /// `fdc_ioport` lines of the log before the stop.
    pub fdc_events_before: u64,
    /// Why the recorder migrated.
    pub reason: String,
    /// The subsections QEMU sent, distinct names in stream order.
    pub sent: Vec<String>,
    /// The fdc section QEMU sent.
    pub state: FdcState,
}

#[derive(Deserialize)]
struct RawMigration {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    t_stop_request: Option<f64>,
    qmp_stop_t: f64,
    qmp_resume_t: f64,
    fdc_events_before: u64,
    fdc_sent: Vec<String>,
    fdc_state: RawState,
}

#[derive(Deserialize)]
struct RawState {
    sra: u8,
    srb: u8,
    dor_vmstate: u8,
    tdr: u8,
    dsr: u8,
    msr: u8,
    status0: u8,
    status1: u8,
    status2: u8,
    fifo: String,
    data_pos: u32,
    data_len: u32,
    data_state: u8,
    data_dir: u8,
    eot: u8,
    timer0: u8,
    timer1: u8,
    precomp_trk: u8,
    config: u8,
    lock: u8,
    pwrd: u8,
    num_floppies: u8,
    drives: [FdriveState; 2],
    reset_sensei: Option<i32>,
    result_timer: Option<i64>,
    phase: Option<u8>,
}

fn unix_ns(name: &str, t: f64) -> Result<u64, String> {
    if !t.is_finite() || !(0.0..=MAX_MIGRATION_T).contains(&t) {
        return Err(format!(
            "`{name}` must be host seconds since the epoch (at most {MAX_MIGRATION_T:e}), not {t}"
        ));
    }
    // In range by the check above: neither the cast nor the product overflows.
    Ok((t * 1e6).round() as u64 * 1000)
}

fn fifo(hex: &str) -> Result<[u8; fdc::FIFO_LEN], String> {
    let bytes = hex.as_bytes();
    if bytes.len() != 2 * fdc::FIFO_LEN {
        return Err(format!(
            "`fifo` must be {} hex digits, not {}",
            2 * fdc::FIFO_LEN,
            bytes.len()
        ));
    }
    let mut out = [0u8; fdc::FIFO_LEN];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).map_err(|_| "`fifo` is not hex".to_string())?;
        *o = u8::from_str_radix(s, 16).map_err(|_| format!("`fifo` has a non-hex pair {s:?}"))?;
    }
    Ok(out)
}

fn state(r: RawState) -> Result<FdcState, String> {
    Ok(FdcState {
        sra: r.sra,
        srb: r.srb,
        dor_vmstate: r.dor_vmstate,
        tdr: r.tdr,
        dsr: r.dsr,
        msr: r.msr,
        status0: r.status0,
        status1: r.status1,
        status2: r.status2,
        fifo: fifo(&r.fifo)?,
        data_pos: r.data_pos,
        data_len: r.data_len,
        data_state: r.data_state,
        data_dir: r.data_dir,
        eot: r.eot,
        timer0: r.timer0,
        timer1: r.timer1,
        precomp_trk: r.precomp_trk,
        config: r.config,
        lock: r.lock,
        pwrd: r.pwrd,
        num_floppies: r.num_floppies,
        drives: r.drives,
        reset_sensei: r.reset_sensei,
        result_timer: r.result_timer,
        phase: r.phase,
    })
}

/// `fdc_sent` must name known subsections, each once, and exactly those the decoded
/// section carries.
fn check_sent(sent: &[String], st: &FdcState) -> Result<(), String> {
    let mut names = Vec::new();
    for s in sent {
        let sub = Subsection::from_name(s)
            .ok_or_else(|| format!("`fdc_sent` names an unknown subsection {s:?}"))?;
        if names.contains(&sub) {
            return Err(format!("`fdc_sent` names {s} twice"));
        }
        names.push(sub);
    }
    names.sort_by_key(|s| *s as u8);
    let carried: Vec<Subsection> = st.subsections().iter().collect();
    if names != carried {
        return Err(format!(
            "`fdc_sent` {sent:?} does not match the subsections of `fdc_state` {:?}",
            st.subsections().names()
        ));
    }
    Ok(())
}

/// Parses one line (not blank). Errors say what is wrong, not where.
pub fn parse_migration_line(text: &str) -> Result<LogMigration, String> {
    let raw: RawMigration =
        serde_json::from_str(text).map_err(|e| format!("invalid migration record: {e}"))?;
    if let Some(s) = raw.status.as_deref() {
        if s != "completed" {
            return Err(format!(
                "migration status is {s:?}, not \"completed\" (QEMU sent no section)"
            ));
        }
    }
    let stop_unix_ns = unix_ns("qmp_stop_t", raw.qmp_stop_t)?;
    let resume_unix_ns = unix_ns("qmp_resume_t", raw.qmp_resume_t)?;
    if resume_unix_ns < stop_unix_ns || resume_unix_ns - stop_unix_ns > MAX_PAUSE_NS {
        return Err(format!(
            "`qmp_resume_t` {} must be at most an hour after `qmp_stop_t` {}",
            raw.qmp_resume_t, raw.qmp_stop_t
        ));
    }
    let request_unix_ns = match raw.t_stop_request {
        Some(t) => unix_ns("t_stop_request", t)?,
        None => stop_unix_ns,
    };
    if request_unix_ns > stop_unix_ns || stop_unix_ns - request_unix_ns > MAX_PAUSE_NS {
        return Err(format!(
            "`t_stop_request` {:?} must be at most an hour before `qmp_stop_t` {}",
            raw.t_stop_request, raw.qmp_stop_t
        ));
    }
    let state = state(raw.fdc_state)?;
    check_sent(&raw.fdc_sent, &state)?;
    Ok(LogMigration {
        line: 0,
        stop_unix_ns,
        resume_unix_ns,
        request_unix_ns,
        fdc_events_before: raw.fdc_events_before,
        reason: raw.reason,
        sent: raw.fdc_sent,
        state,
    })
}

/// Parses a whole migrations file from `input` (named `path` in errors): the migrations
/// in file order, which must be time order with pauses that do not overlap.
pub fn parse_migrations(
    mut input: &mut dyn std::io::BufRead,
    path: &Path,
) -> Result<Vec<LogMigration>, FileLineError> {
    let mut out: Vec<LogMigration> = Vec::new();
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        line += 1;
        let fail = |msg: String| FileLineError::Line {
            path: path.to_path_buf(),
            line,
            msg,
        };
        let n = read_line_capped(&mut input, &mut buf, 1 << 20).map_err(|e| fail(e.to_string()))?;
        let Some(truncated) = n else { break };
        if truncated {
            return Err(fail("line is longer than 1 MiB".into()));
        }
        let text = std::str::from_utf8(&buf).map_err(|_| fail("line is not UTF-8".into()))?;
        if text.trim().is_empty() {
            continue;
        }
        let mut m = parse_migration_line(text).map_err(fail)?;
        m.line = line;
        if let Some(prev) = out.last() {
            if m.stop_unix_ns < prev.resume_unix_ns || m.fdc_events_before < prev.fdc_events_before
            {
                return Err(fail(format!(
                    "this migration starts before the one of line {} ended (the file must be in time order)",
                    prev.line
                )));
            }
        }
        if out.len() >= MAX_MIGRATIONS {
            return Err(fail(format!("more than {MAX_MIGRATIONS} migrations")));
        }
        out.push(m);
    }
    Ok(out)
}

/// Reads a migrations file (see [`parse_migrations`]).
pub fn read_migrations(path: &Path) -> Result<Vec<LogMigration>, FileLineError> {
    let f = std::fs::File::open(path).map_err(|source| FileLineError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    parse_migrations(&mut std::io::BufReader::new(f), path)
}

/// The host time `unix_ns` on the guest's virtual clock: minus every pause that ended at
/// or before it; a time inside a pause is held at the pause's start.
#[derive(Debug, Clone, Default)]
pub struct Unpause {
    /// (stop, resume, total pause before stop), in time order.
    pauses: Vec<(u64, u64, u64)>,
}

impl Unpause {
    /// The pauses of `migs` (in time order, not overlapping: [`parse_migrations`]).
    pub fn new(migs: &[LogMigration]) -> Unpause {
        let mut before = 0u64;
        let pauses = migs
            .iter()
            .map(|m| {
                let p = (m.stop_unix_ns, m.resume_unix_ns, before);
                before = before.saturating_add(m.resume_unix_ns - m.stop_unix_ns);
                p
            })
            .collect();
        Unpause { pauses }
    }

    /// `unix_ns` with the pauses before it taken out.
    pub fn virt(&self, unix_ns: u64) -> u64 {
        // The last pause that starts before `unix_ns`.
        let k = self.pauses.partition_point(|p| p.0 < unix_ns);
        let Some(&(stop, resume, before)) = k.checked_sub(1).and_then(|k| self.pauses.get(k))
        else {
            return unix_ns;
        };
        let inside = unix_ns.min(resume).saturating_sub(stop);
        unix_ns.saturating_sub(before).saturating_sub(inside)
    }

    /// Total time taken out.
    pub fn total_ns(&self) -> u64 {
        self.pauses.last().map_or(0, |p| p.2 + (p.1 - p.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mig(stop: u64, resume: u64) -> LogMigration {
        LogMigration {
            line: 1,
            stop_unix_ns: stop,
            resume_unix_ns: resume,
            request_unix_ns: stop,
            fdc_events_before: 0,
            reason: String::new(),
            sent: Vec::new(),
            state: fdc::Fdc::new(fdc::DriveConfig::Absent, fdc::DriveConfig::Absent).state(),
        }
    }

    #[test]
    fn unpause_takes_out_each_pause_once() {
        let u = Unpause::new(&[mig(100, 150), mig(300, 310)]);
        assert_eq!(u.virt(50), 50);
        assert_eq!(u.virt(100), 100);
        // Inside a pause the virtual clock stands still.
        assert_eq!(u.virt(120), 100);
        assert_eq!(u.virt(150), 100);
        assert_eq!(u.virt(200), 150);
        assert_eq!(u.virt(305), 250);
        assert_eq!(u.virt(400), 340);
        assert_eq!(u.total_ns(), 60);
    }
}
