//! A bounded time series of one trace, for the report's timeline pictures: when each
//! subsection is needed, the phases, stage markers and media changes.
//!
//! Time is cut into bins of `2^shift` ns from 0; a bin's mask is the OR of the masks of
//! every interval that touches it ([`mask_of`]: the needed subsections and the phases
//! seen), and equal consecutive bins are kept as one [`Segment`]. Masks OR exactly, so a
//! timeline built from the replay of consecutive parts of a trace, merged in order, is the
//! timeline of the whole at the same bin width. While parts are built and merged the bin
//! width doubles only when a part holds more than `2 * MAX_SEGMENTS` segments (the whole
//! then needs more than `MAX_SEGMENTS` at that width, see [`Timeline::finish`]), and
//! [`Timeline::finish`] picks the smallest width at which the whole has at most
//! [`MAX_SEGMENTS`]: the result depends on the trace only, never on how it was split.
//! Stage and media marks keep the first [`MAX_MARKS`] of each kind (and count them all).

use super::Key;
use serde::{Deserialize, Serialize};

/// Segments of a finished timeline, at most.
pub const MAX_SEGMENTS: usize = 1000;

/// Stage marks and media marks kept per trace, at most (each).
pub const MAX_MARKS: usize = 200;

/// Mask bit of the command phase (bits 0-5 are the subsections, `Subsection as u8`).
pub const COMMAND_PHASE: u16 = 1 << 6;
/// Mask bit of the execution phase.
pub const EXECUTION_PHASE: u16 = 1 << 7;
/// Mask bit of the result phase.
pub const RESULT_PHASE: u16 = 1 << 8;
/// Mask bit of a phase byte outside 1..=3.
pub const INVALID_PHASE: u16 = 1 << 9;

/// The timeline mask of a point's key: its needed subsections and its phase.
#[inline]
pub fn mask_of(k: Key) -> u16 {
    let phase = match (k >> 6) & 3 {
        1 => COMMAND_PHASE,
        2 => EXECUTION_PHASE,
        3 => RESULT_PHASE,
        _ => INVALID_PHASE,
    };
    (k & 0x3f) | phase
}

/// Consecutive bins `from..=to` with the same mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub from: u64,
    pub to: u64,
    pub mask: u16,
}

/// A stage marker: the time of the marker event and the label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMark {
    pub t_ns: u64,
    pub label: String,
}

/// A media change: time, drive unit, and whether a medium was inserted (else ejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaMark {
    pub t_ns: u64,
    pub drive: u8,
    pub insert: bool,
}

/// The time series of one trace (or of a contiguous part of it while replaying).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    /// Bins are `2^shift` ns wide.
    pub shift: u8,
    /// The bins, as `from,to,mask` triples (bins inclusive, mask in decimal) separated
    /// by `;` in JSON.
    #[serde(with = "segments_text")]
    pub segments: Vec<Segment>,
    /// The first stage marks.
    pub stages: Vec<StageMark>,
    /// Stage marks seen (kept or not).
    pub stages_total: u64,
    /// The first media changes.
    pub media: Vec<MediaMark>,
    /// Media changes seen (kept or not).
    pub media_total: u64,
}

impl Timeline {
    /// ORs `mask` into the bins of `[t, t + len)` (the bin of `t` when `len` is 0).
    /// Intervals come in time order.
    #[inline]
    pub fn add(&mut self, t: u64, len: u64, mask: u16) {
        let from = t >> self.shift;
        let to = (t.saturating_add(len.max(1)) - 1) >> self.shift;
        self.push_bins(from, to, mask);
        if self.segments.len() > 2 * MAX_SEGMENTS {
            self.coarsen();
        }
    }

    /// ORs `mask` into bins `from..=to`; `from` is not before the last segment's last bin
    /// (earlier bins are clamped to it).
    fn push_bins(&mut self, from: u64, to: u64, mask: u16) {
        let Some(last) = self.segments.last_mut() else {
            self.segments.push(Segment { from, to, mask });
            return;
        };
        let from = from.max(last.to);
        let to = to.max(from);
        if from > last.to {
            if from == last.to + 1 && last.mask == mask {
                last.to = to;
            } else {
                self.segments.push(Segment { from, to, mask });
            }
            return;
        }
        // `from == last.to`: the shared bin gets both masks.
        let both = last.mask | mask;
        if both != last.mask {
            if last.from < last.to {
                last.to -= 1;
                self.segments.push(Segment {
                    from,
                    to: from,
                    mask: both,
                });
            } else {
                last.mask = both;
                self.join_last();
            }
        }
        if to > from {
            self.push_bins(from + 1, to, mask);
        }
    }

    /// Joins the last two segments when they touch and have the same mask.
    fn join_last(&mut self) {
        let n = self.segments.len();
        if n >= 2 {
            let (a, b) = (self.segments[n - 2], self.segments[n - 1]);
            if a.to + 1 == b.from && a.mask == b.mask {
                self.segments[n - 2].to = b.to;
                self.segments.pop();
            }
        }
    }

    /// Doubles the bin width.
    fn coarsen(&mut self) {
        self.coarsen_to(self.shift.saturating_add(1));
    }

    /// Widens the bins to `2^shift` ns in one pass (shifting twice by one is shifting by
    /// two: the bins and their ORs are the same).
    fn coarsen_to(&mut self, shift: u8) {
        if shift <= self.shift {
            return;
        }
        let d = u32::from(shift - self.shift);
        let old = std::mem::take(&mut self.segments);
        self.shift = shift;
        for s in old {
            self.push_bins(shr(s.from, d), shr(s.to, d), s.mask);
        }
    }

    /// Appends `next` (the part right after this one).
    pub fn merge(&mut self, next: &Timeline) {
        self.coarsen_to(next.shift);
        let d = u32::from(self.shift - next.shift.min(self.shift));
        for s in &next.segments {
            self.push_bins(shr(s.from, d), shr(s.to, d), s.mask);
        }
        while self.segments.len() > 2 * MAX_SEGMENTS {
            self.coarsen();
        }
        let room = MAX_MARKS.saturating_sub(self.stages.len());
        self.stages.extend(next.stages.iter().take(room).cloned());
        self.stages_total += next.stages_total;
        let room = MAX_MARKS.saturating_sub(self.media.len());
        self.media.extend(next.media.iter().take(room).copied());
        self.media_total += next.media_total;
    }

    /// Records a stage marker.
    pub fn stage(&mut self, t_ns: u64, label: &str) {
        self.stages_total += 1;
        if self.stages.len() < MAX_MARKS {
            self.stages.push(StageMark {
                t_ns,
                label: label.to_string(),
            });
        }
    }

    /// Records a media change.
    pub fn media_change(&mut self, t_ns: u64, drive: u8, insert: bool) {
        self.media_total += 1;
        if self.media.len() < MAX_MARKS {
            self.media.push(MediaMark {
                t_ns,
                drive,
                insert,
            });
        }
    }

    /// The finished timeline of a whole trace: the smallest bin width (not below the
    /// current one) at which it has at most [`MAX_SEGMENTS`] segments.
    pub fn finish(&mut self) {
        while self.segments.len() > MAX_SEGMENTS {
            self.coarsen();
        }
    }

    /// Bin width in ns.
    pub fn bin_ns(&self) -> u64 {
        1u64.checked_shl(u32::from(self.shift)).unwrap_or(u64::MAX)
    }

    /// Checks what a JSON input could get wrong: segments in order and not overlapping,
    /// a sane bin width.
    pub fn validate(&self) -> Result<(), String> {
        if self.shift > 63 {
            return Err(format!("timeline bin shift {} > 63", self.shift));
        }
        let mut prev: Option<u64> = None;
        for s in &self.segments {
            if s.to < s.from || prev.is_some_and(|p| s.from <= p) {
                return Err(format!("timeline segment {},{} out of order", s.from, s.to));
            }
            prev = Some(s.to);
        }
        if self.stages.len() as u64 > self.stages_total
            || self.media.len() as u64 > self.media_total
        {
            return Err("timeline marks exceed their totals".into());
        }
        Ok(())
    }
}

/// `x >> d`, 0 when `d` is 64 or more.
fn shr(x: u64, d: u32) -> u64 {
    x.checked_shr(d).unwrap_or(0)
}

mod segments_text {
    use super::Segment;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt::Write as _;

    pub fn serialize<S: Serializer>(v: &[Segment], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::new();
        for (i, g) in v.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            let _ = write!(out, "{},{},{}", g.from, g.to, g.mask);
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Segment>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(Vec::new());
        }
        text.split(';')
            .map(|part| {
                let mut it = part.split(',');
                let mut num = || {
                    it.next()
                        .and_then(|x| x.parse::<u64>().ok())
                        .ok_or_else(|| serde::de::Error::custom(format!("bad segment {part:?}")))
                };
                let (from, to, mask) = (num()?, num()?, num()?);
                let mask = u16::try_from(mask)
                    .map_err(|_| serde::de::Error::custom(format!("bad mask in {part:?}")))?;
                Ok(Segment { from, to, mask })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pseudo-random sequence of contiguous intervals.
    fn intervals(n: usize, seed: u64) -> Vec<(u64, u64, u16)> {
        let mut x = seed;
        let mut t = 0;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = (x >> 40) % 5000;
                let mask = 1 << ((x >> 20) % 10);
                let iv = (t, len, mask as u16);
                t += len;
                iv
            })
            .collect()
    }

    fn build(iv: &[(u64, u64, u16)]) -> Timeline {
        let mut tl = Timeline::default();
        for &(t, len, m) in iv {
            tl.add(t, len, m);
        }
        tl
    }

    #[test]
    fn split_and_merged_equals_whole() {
        let iv = intervals(20_000, 7);
        let mut whole = build(&iv);
        whole.finish();
        assert!(whole.segments.len() <= MAX_SEGMENTS);
        assert!(whole.shift > 0, "20,000 intervals need coarser bins");
        for cuts in [
            vec![1usize],
            vec![3, 9_000, 9_001, 15_000],
            vec![5_000, 10_000],
        ] {
            let mut parts = Vec::new();
            let mut from = 0;
            for c in cuts.iter().copied().chain(std::iter::once(iv.len())) {
                parts.push(build(&iv[from..c]));
                from = c;
            }
            let mut acc = Timeline::default();
            for p in &parts {
                acc.merge(p);
            }
            acc.finish();
            assert_eq!(acc, whole, "cuts {cuts:?}");
        }
    }

    #[test]
    fn bins_or_their_masks() {
        let mut tl = Timeline::default();
        tl.add(0, 10, 1);
        tl.add(10, 0, 2);
        tl.add(10, 5, 1);
        assert_eq!(
            tl.segments,
            vec![
                Segment {
                    from: 0,
                    to: 9,
                    mask: 1
                },
                Segment {
                    from: 10,
                    to: 10,
                    mask: 3
                },
                Segment {
                    from: 11,
                    to: 14,
                    mask: 1
                }
            ]
        );
        tl.coarsen();
        assert_eq!(
            tl.segments,
            vec![
                Segment {
                    from: 0,
                    to: 4,
                    mask: 1
                },
                Segment {
                    from: 5,
                    to: 5,
                    mask: 3
                },
                Segment {
                    from: 6,
                    to: 7,
                    mask: 1
                }
            ]
        );
        let json = serde_json::to_string(&tl).unwrap();
        assert!(
            json.contains("\"segments\":\"0,4,1;5,5,3;6,7,1\""),
            "{json}"
        );
        let back: Timeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back, tl);
    }
}
