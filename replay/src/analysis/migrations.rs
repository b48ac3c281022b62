//! The real QEMU migrations recorded with a trace ([`fdc_trace::RecordedMigration`]):
//! at each one, `check` compares the model's state after the same events with the `fdc`
//! section QEMU sent.
//!
//! What is compared: the subsections (the model must name exactly the ones QEMU sent),
//! and every field of the section and of its subsections, except where the trace does
//! not determine the value:
//!
//! * `result_timer`: only whether it was sent. Its value is an absolute time on QEMU's
//!   virtual clock, whose origin (the guest's boot) the trace does not hold.
//! * `fifo`: compared only while the controller is not past a data transfer whose bytes
//!   came from guest memory or from a medium the trace does not embed (see
//!   [`FifoKnown`]); otherwise the command and result bytes are compared and the rest is
//!   not.

use fdc::{FdcState, FdriveState};
use fdc_trace::RecordedMigration;
use std::collections::BTreeMap;

/// How many disagreeing migration points a check keeps with their differences.
pub const KEEP_DISAGREEMENTS: usize = 8;

/// Whether the model's FIFO content beyond the command/result bytes is known. Once a
/// data transfer went through the FIFO (a DMA transfer, or an execution phase), its
/// bytes came from guest memory or from the medium, which a trace may not hold, and
/// later commands overwrite only the first bytes: from then on only the command and
/// result bytes are compared ([`FifoKnown::after`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FifoKnown {
    /// Every byte of the FIFO is determined by the trace.
    All,
    /// Only the first `n` bytes (the command or result bytes of the last command).
    Prefix(usize),
}

/// One migration point at which the model and QEMU disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// Which recorded migration (0-based, in the header's order).
    pub migration: usize,
    /// Its migration point (the number of events applied before it).
    pub index: u64,
    /// Its trace time.
    pub t_ns: u64,
    /// Every field that differs, as `name: QEMU X, model Y`.
    pub differences: Vec<String>,
}

/// What the migration points of one trace gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationCheck {
    /// Recorded migration points checked.
    pub points: u64,
    /// Points at which the model agrees with every compared field.
    pub agree: u64,
    /// How often QEMU sent each subsection (per migration; `fdrive/*` counted once per
    /// migration when either drive carries it).
    pub sent: BTreeMap<String, u64>,
    /// The first [`KEEP_DISAGREEMENTS`] disagreements.
    pub first: Vec<Disagreement>,
}

impl FifoKnown {
    /// What the trace determines of the FIFO of `fdc`, `tainted` once a data transfer
    /// went through it: the whole FIFO before that; after it, in the command phase the
    /// bytes written so far and the last result's 7, in the result phase the result
    /// bytes, in the execution phase nothing.
    pub fn after(fdc: &fdc::Fdc, tainted: bool) -> FifoKnown {
        if !tainted {
            return FifoKnown::All;
        }
        let pos = fdc.data_pos() as usize;
        match fdc.phase() {
            Some(fdc::Phase::Command) => FifoKnown::Prefix(pos.max(7)),
            Some(fdc::Phase::Result) => FifoKnown::Prefix((fdc.data_len() as usize).max(7)),
            _ => FifoKnown::Prefix(0),
        }
    }
}

impl MigrationCheck {
    /// Points at which the model disagrees.
    pub fn disagree(&self) -> u64 {
        self.points - self.agree
    }

    /// Compares the model's state `model` (after `rec.index` events; `fifo` says how
    /// much of its FIFO the trace determines) with what QEMU sent at `rec`.
    pub fn compare(
        &mut self,
        n: usize,
        rec: &RecordedMigration,
        model: &FdcState,
        fifo: FifoKnown,
    ) {
        self.points += 1;
        for s in &rec.sent {
            *self.sent.entry(s.clone()).or_default() += 1;
        }
        let d = differences(&rec.state, model, fifo);
        if d.is_empty() {
            self.agree += 1;
        } else if self.first.len() < KEEP_DISAGREEMENTS {
            self.first.push(Disagreement {
                migration: n,
                index: rec.index,
                t_ns: rec.t_ns,
                differences: d,
            });
        }
    }

    /// A recorded migration after the trace's last event (a trace that does not go with
    /// its migration records).
    pub fn beyond(&mut self, n: usize, rec: &RecordedMigration, events: u64) {
        self.points += 1;
        if self.first.len() < KEEP_DISAGREEMENTS {
            self.first.push(Disagreement {
                migration: n,
                index: rec.index,
                t_ns: rec.t_ns,
                differences: vec![format!(
                    "the migration is recorded after event {} but the trace has {events} events",
                    rec.index
                )],
            });
        }
    }
}

fn opt<T: std::fmt::Debug>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "not sent".to_string(), |v| format!("{v:?}"))
}

fn drive_differences(i: usize, q: &FdriveState, m: &FdriveState, out: &mut Vec<String>) {
    let mut num = |name: &str, a: u8, b: u8| {
        if a != b {
            out.push(format!("drives[{i}].{name}: QEMU {a}, model {b}"));
        }
    };
    num("head", q.head, m.head);
    num("track", q.track, m.track);
    num("sect", q.sect, m.sect);
    let mut sub = |name: &str, a: &Option<u8>, b: &Option<u8>| {
        if a != b {
            out.push(format!(
                "drives[{i}].{name}: QEMU {}, model {}",
                opt(a),
                opt(b)
            ));
        }
    };
    sub("media_changed", &q.media_changed, &m.media_changed);
    sub("media_rate", &q.media_rate, &m.media_rate);
    sub("perpendicular", &q.perpendicular, &m.perpendicular);
}

/// Every compared field that differs between QEMU's section `q` and the model's `m`.
pub fn differences(q: &FdcState, m: &FdcState, fifo: FifoKnown) -> Vec<String> {
    let mut out = Vec::new();
    let (qs, ms) = (q.subsections(), m.subsections());
    if qs != ms {
        out.push(format!(
            "subsections: QEMU sent {:?}, the model names {:?}",
            qs.names(),
            ms.names()
        ));
    }
    let bytes: [(&str, u8, u8); 20] = [
        ("sra", q.sra, m.sra),
        ("srb", q.srb, m.srb),
        ("dor_vmstate", q.dor_vmstate, m.dor_vmstate),
        ("tdr", q.tdr, m.tdr),
        ("dsr", q.dsr, m.dsr),
        ("msr", q.msr, m.msr),
        ("status0", q.status0, m.status0),
        ("status1", q.status1, m.status1),
        ("status2", q.status2, m.status2),
        ("data_state", q.data_state, m.data_state),
        ("data_dir", q.data_dir, m.data_dir),
        ("eot", q.eot, m.eot),
        ("timer0", q.timer0, m.timer0),
        ("timer1", q.timer1, m.timer1),
        ("precomp_trk", q.precomp_trk, m.precomp_trk),
        ("config", q.config, m.config),
        ("lock", q.lock, m.lock),
        ("pwrd", q.pwrd, m.pwrd),
        ("num_floppies", q.num_floppies, m.num_floppies),
        ("phase", q.phase.unwrap_or(0), m.phase.unwrap_or(0)),
    ];
    for (name, a, b) in bytes {
        if a != b {
            out.push(format!("{name}: QEMU {a:#04x}, model {b:#04x}"));
        }
    }
    for (name, a, b) in [
        ("data_pos", q.data_pos, m.data_pos),
        ("data_len", q.data_len, m.data_len),
    ] {
        if a != b {
            out.push(format!("{name}: QEMU {a}, model {b}"));
        }
    }
    if q.reset_sensei != m.reset_sensei {
        out.push(format!(
            "reset_sensei: QEMU {}, model {}",
            opt(&q.reset_sensei),
            opt(&m.reset_sensei)
        ));
    }
    let n = match fifo {
        FifoKnown::All => q.fifo.len(),
        FifoKnown::Prefix(n) => n.min(q.fifo.len()),
    };
    if let Some(i) = (0..n).find(|&i| q.fifo[i] != m.fifo[i]) {
        out.push(format!(
            "fifo[{i}]: QEMU {:#04x}, model {:#04x} (of the {n} bytes the trace determines)",
            q.fifo[i], m.fifo[i]
        ));
    }
    for (i, (a, b)) in q.drives.iter().zip(&m.drives).enumerate() {
        drive_differences(i, a, b, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fdc::{DriveConfig, Fdc, Medium};

    fn idle() -> FdcState {
        Fdc::new(
            DriveConfig::Medium(Medium::blank(1_474_560, false)),
            DriveConfig::Absent,
        )
        .state()
    }

    #[test]
    fn equal_sections_agree_and_every_difference_is_named() {
        let q = idle();
        assert!(differences(&q, &q, FifoKnown::All).is_empty());
        let mut m = q.clone();
        m.msr ^= 0x40;
        m.drives[0].track = 5;
        m.reset_sensei = Some(4);
        m.fifo[100] = 1;
        let d = differences(&q, &m, FifoKnown::All);
        let names: Vec<&str> = d
            .iter()
            .map(|s| s.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            vec![
                "subsections",
                "msr",
                "reset_sensei",
                "fifo[100]",
                "drives[0].track"
            ],
            "{d:?}"
        );
        // The FIFO past what the trace determines is not compared.
        let d = differences(&q, &m, FifoKnown::Prefix(7));
        assert!(!d.iter().any(|s| s.starts_with("fifo")), "{d:?}");
    }

    #[test]
    fn check_counts_points_agreements_and_what_qemu_sent() {
        let q = idle();
        let rec = RecordedMigration {
            index: 0,
            t_ns: 0,
            pause_ns: 0,
            stop_latency_ns: 0,
            reason: String::new(),
            sent: q
                .subsections()
                .names()
                .into_iter()
                .map(String::from)
                .collect(),
            state: q.clone(),
        };
        let mut c = MigrationCheck::default();
        c.compare(0, &rec, &q, FifoKnown::All);
        let mut other = q.clone();
        other.dsr = 1;
        c.compare(1, &rec, &other, FifoKnown::All);
        assert_eq!((c.points, c.agree, c.disagree()), (2, 1, 1));
        assert_eq!(c.first.len(), 1);
        assert_eq!(c.first[0].migration, 1);
        assert_eq!(c.sent.get("fdrive/media_rate"), Some(&2));
    }
}
