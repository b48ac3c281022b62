//! `report --format html`: one self-contained page (inline CSS and SVG, no script, no
//! network), readable at 1280 px and printable. The verdict block; per guest a bar chart of
//! P(backward migration fails) with its interval; per trace a timeline (time axis, the
//! phase band, one lane per subsection showing when it is needed, stage labels, media
//! changes, the what-if rule of each lane when computed); per subsection a small table;
//! the closed-loop outcomes per subsection and workload (when run); the detail tables. Elements carry `data-*` attributes with the JSON's numbers, so that
//! a test (or a script) can read them back.

use super::super::timeline::{
    Timeline, COMMAND_PHASE, EXECUTION_PHASE, INVALID_PHASE, RESULT_PHASE,
};
use super::record::TraceRecord;
use super::verdict_block::{
    accepted_text, classes_text, idle_text, interval_text, one_in_text, rule_text, title,
    whatif_text, where_text, Roulette, VerdictSummary,
};
use super::{opt_pct, pct, secs, Report, Summary, UNKNOWN_2_3};
use crate::analysis::verdict::{
    ClosedCounts, ClosedOutcomes, WhatifSummary, CLOSED_CLASSES, MODEL_CLASSES,
};
use fdc::Subsection;
use maud::{html, Markup, PreEscaped, DOCTYPE};

const CSS: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1240px;padding:12px 20px;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:22px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:12px 0 4px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;vertical-align:top}
td.l,th.l{text-align:left}th{background:#f0f0f0}
figure{margin:10px 0 16px;break-inside:avoid}figcaption{font-size:13px;margin-bottom:2px}
svg{display:block;width:100%;height:auto}
svg text{font:11px system-ui,sans-serif}
.small{font-size:12px;color:#555}.scroll{overflow-x:auto}#details table{font-size:11px}.grid{display:flex;flex-wrap:wrap;gap:0 24px}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
@media print{body{max-width:none;padding:0}h2{break-after:avoid}section{break-inside:auto}}
";

/// Lane colours, in the six subsections' order.
const LANE_COLOURS: [&str; 6] = [
    "#d32f2f", "#7b1fa2", "#f57c00", "#388e3c", "#1976d2", "#00838f",
];

const PHASE_COLOURS: [(&str, &str); 4] = [
    ("command", "#d7dde1"),
    ("execution", "#ffcc80"),
    ("result", "#90caf9"),
    ("invalid", "#e57373"),
];

/// Width of the SVG drawing and of its parts (user units; the SVG scales to the page).
const WIDTH: f64 = 1200.0;
const LABEL_W: f64 = 150.0;
const RIGHT_W: f64 = 170.0;
const PLOT_W: f64 = WIDTH - LABEL_W - RIGHT_W;
const LANE_H: f64 = 13.0;

impl Report {
    /// The HTML page.
    pub fn to_html(&self) -> String {
        let v = VerdictSummary::of(self, self.whatif.as_ref());
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { "fdc-replay report" }
                    style { (PreEscaped(CSS)) }
                }
                body {
                    h1 { "fdc-replay report" }
                    p #inputs { (title(&v)) "." }
                    (verdict_section(&v))
                    (timelines(self))
                    (subsection_tables(self, &v))
                    (closed_loop_section(self.whatif.as_ref()))
                    (details(self))
                }
            }
        };
        let mut s = page.into_string();
        s.push('\n');
        s
    }
}

fn verdict_section(v: &VerdictSummary) -> Markup {
    html! {
        section #verdict {
            h2 { "Verdict" }
            table #verdict-subsections {
                tr {
                    th.l { "subsection" } th { "sent: time" } th { "points" }
                    th.l { "mostly sent in (share of its time)" } th.l { "if dropped (what-if)" }
                }
                @for s in &v.subsections {
                    tr.subsection data-subsection=(s.subsection) {
                        td.l { (s.subsection) }
                        td data-field="time_share" { (opt_pct(s.time_share)) }
                        td data-field="event_share" { (pct(s.event_share)) }
                        td.l { (where_text(s.mostly.as_ref(), false)) }
                        td.l data-field="whatif" { (whatif_text(s.whatif.as_ref())) }
                    }
                }
            }
            p #idle { (idle_text(&v.idle)) }
            h3 { "Backward migration to QEMU 2.3 at a random instant" }
            (roulette_chart(v))
            @if let Some(b) = &v.backward_accepted {
                p #backward-accepted { (accepted_text(b)) }
            }
        }
    }
}

/// Horizontal bars of P(fail) per guest (and all), with the 95 % interval as whiskers.
fn roulette_chart(v: &VerdictSummary) -> Markup {
    let rows: Vec<&Roulette> = v
        .backward_per_guest
        .iter()
        .chain(std::iter::once(&v.backward_all))
        .collect();
    let max = rows
        .iter()
        .filter_map(|r| r.failure.map(|p| p.high))
        .fold(0.0f64, f64::max);
    let scale_max = nice_ceiling(max.max(0.001));
    let (left, plot) = (150.0, 560.0);
    let row_h = 22.0;
    let h = row_h * rows.len() as f64 + 26.0;
    let x = |p: f64| left + plot * (p / scale_max).min(1.0);
    html! {
        svg #roulette viewBox=(format!("0 0 {WIDTH} {h}")) role="img"
            aria-label="P(backward migration fails) per guest" {
            @for (i, r) in rows.iter().enumerate() {
                @let y = 4.0 + row_h * i as f64;
                g.bar data-guest=(r.guest)
                    data-p=(r.failure.map_or(String::new(), |p| p.estimate.to_string()))
                    data-low=(r.failure.map_or(String::new(), |p| p.low.to_string()))
                    data-high=(r.failure.map_or(String::new(), |p| p.high.to_string())) {
                    text x=(left - 6.0) y=(y + 13.0) text-anchor="end" { (r.guest) }
                    @if let Some(p) = r.failure {
                        rect x=(left) y=(y + 3.0) width=(fmt(x(p.estimate) - left)) height="12"
                            fill=(if r.guest == "all" { "#455a64" } else { "#78909c" }) {}
                        line x1=(fmt(x(p.low))) x2=(fmt(x(p.high))) y1=(y + 9.0) y2=(y + 9.0)
                            stroke="#000" stroke-width="1.2" {}
                        line x1=(fmt(x(p.low))) x2=(fmt(x(p.low))) y1=(y + 4.0) y2=(y + 14.0)
                            stroke="#000" {}
                        line x1=(fmt(x(p.high))) x2=(fmt(x(p.high))) y1=(y + 4.0) y2=(y + 14.0)
                            stroke="#000" {}
                        text x=(left + plot + 10.0) y=(y + 13.0) {
                            (pct(p.estimate)) " " (interval_text(r)) ", " (one_in_text(r))
                            " (" (r.traces) (if r.traces == 1 { " trace" } else { " traces" })
                            ", time-weighted " (opt_pct(r.time_share)) ")"
                        }
                    } @else {
                        text x=(left + 4.0) y=(y + 13.0) { "no points" }
                    }
                }
            }
            @let ay = 8.0 + row_h * rows.len() as f64;
            line x1=(left) x2=(left + plot) y1=(ay) y2=(ay) stroke="#888" {}
            @for k in 0..=4 {
                @let p = scale_max * f64::from(k) / 4.0;
                text x=(fmt(x(p))) y=(ay + 14.0) text-anchor="middle" { (pct(p)) }
            }
        }
        p.small { "Bars: failing points / points (event-weighted); whiskers: 95% Wilson interval (rule of three when none fails). The points of one trace are consecutive states of one run, not independent draws." }
    }
}

/// 1, 2 or 5 times a power of ten, at least `x`.
fn nice_ceiling(x: f64) -> f64 {
    let mut m = 10f64.powf(x.log10().floor());
    for f in [1.0, 2.0, 5.0, 10.0] {
        if m * f >= x {
            m *= f;
            return m;
        }
    }
    m * 10.0
}

fn fmt(x: f64) -> String {
    format!("{x:.1}")
}

fn timelines(r: &Report) -> Markup {
    html! {
        section #timelines {
            h2 { "Timelines" }
            p.small.legend {
                @for (name, c) in PHASE_COLOURS {
                    span { span.sw style=(format!("background:{c}")) {} (name) " phase" }
                }
                span { "lanes: where the subsection is needed (QEMU sends it on a migration there) "
                    "at some instant of the pixel's time; dashed lines: stage markers; "
                    "triangles: media changes (up insert, down eject)" }
            }
            @for t in &r.records {
                (timeline(t, r.whatif.as_ref()))
            }
        }
    }
}

/// Pixel runs `[x0, x1)` where `pred(mask)` holds, merged when they touch.
fn runs(t: &TraceRecord, pred: impl Fn(u16) -> bool) -> Vec<(f64, f64)> {
    let tl = &t.timeline;
    let span = span_ns(t);
    let bin = tl.bin_ns() as f64;
    let mut out: Vec<(f64, f64)> = Vec::new();
    for s in tl.segments.iter().filter(|s| pred(s.mask)) {
        let x0 = LABEL_W + PLOT_W * (s.from as f64 * bin / span).min(1.0);
        let x1 = LABEL_W + PLOT_W * (((s.to + 1) as f64 * bin) / span).min(1.0);
        let x1 = x1.max(x0 + 1.0);
        match out.last_mut() {
            Some(l) if x0 <= l.1 + 0.5 => l.1 = l.1.max(x1),
            _ => out.push((x0, x1)),
        }
    }
    out
}

fn span_ns(t: &TraceRecord) -> f64 {
    (t.duration_ns.max(1)) as f64
}

fn phase_of(mask: u16) -> usize {
    if mask & EXECUTION_PHASE != 0 {
        1
    } else if mask & RESULT_PHASE != 0 {
        2
    } else if mask & INVALID_PHASE != 0 {
        3
    } else {
        usize::from(mask & COMMAND_PHASE == 0) * 3
    }
}

fn lane_note(name: &str, w: Option<&WhatifSummary>) -> String {
    let Some(w) = w else {
        return "what-if not computed".into();
    };
    w.subsections.iter().find(|s| s.name == name).map_or_else(
        || "what-if: no data".into(),
        |s| {
            format!(
                "drop: {} ({})",
                rule_text(s.verdict.rule),
                classes_text(&s.classes, &MODEL_CLASSES)
            )
        },
    )
}

fn timeline(t: &TraceRecord, w: Option<&WhatifSummary>) -> Markup {
    let top = 16.0;
    let band_y = top;
    let lane0 = band_y + LANE_H + 4.0;
    let axis_y = lane0 + LANE_H * 6.0 + 2.0;
    let h = axis_y + 18.0;
    let span = span_ns(t);
    let x_of = |ns: u64| LABEL_W + PLOT_W * (ns as f64 / span).min(1.0);
    html! {
        figure.timeline data-trace=(t.name) data-segments=(t.timeline.segments.len()) {
            figcaption {
                b { (t.name) } " — guest " (t.guest)
                @if let Some(wl) = &t.workload { ", workload " (wl) }
                ", " (t.provenance) ", " (t.events) " events, " (secs(t.duration_ns)) " s"
                @if t.timeline.shift > 0 {
                    span.small { " (timeline resolution " (bin_text(&t.timeline)) ")" }
                }
            }
            svg viewBox=(format!("0 0 {WIDTH} {h}")) role="img"
                aria-label=(format!("timeline of {}", t.name)) {
                text x=(LABEL_W - 6.0) y=(band_y + 10.0) text-anchor="end" { "phase" }
                (phase_band(t, band_y))
                @for (i, s) in Subsection::ALL.into_iter().enumerate() {
                    @let y = lane0 + LANE_H * i as f64;
                    g.lane data-subsection=(s.name()) {
                        text x=(LABEL_W - 6.0) y=(y + 10.0) text-anchor="end" { (s.name()) }
                        rect x=(LABEL_W) y=(y + 1.0) width=(PLOT_W) height=(LANE_H - 2.0) fill="#f6f6f6" {}
                        @for (x0, x1) in runs(t, |m| m & (1 << (s as u8)) != 0) {
                            rect.needed x=(fmt(x0)) y=(y + 1.0) width=(fmt(x1 - x0))
                                height=(LANE_H - 2.0) fill=(LANE_COLOURS[i]) {}
                        }
                        text.note x=(LABEL_W + PLOT_W + 6.0) y=(y + 10.0) { (lane_note(s.name(), w)) }
                    }
                }
                (marks(t, top, axis_y, &x_of))
                (axis(t, axis_y, &x_of))
            }
        }
    }
}

fn bin_text(tl: &Timeline) -> String {
    let ns = tl.bin_ns();
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns >= 1000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn phase_band(t: &TraceRecord, y: f64) -> Markup {
    html! {
        g.phase-band {
            @for (i, (_, colour)) in PHASE_COLOURS.iter().enumerate() {
                @for (x0, x1) in runs(t, |m| phase_of(m) == i) {
                    rect x=(fmt(x0)) y=(y) width=(fmt(x1 - x0)) height=(LANE_H) fill=(colour) {}
                }
            }
        }
    }
}

fn marks(t: &TraceRecord, top: f64, bottom: f64, x_of: &dyn Fn(u64) -> f64) -> Markup {
    let mut last_label = f64::NEG_INFINITY;
    let labels: Vec<(f64, &str, bool)> = t
        .timeline
        .stages
        .iter()
        .map(|s| {
            let x = x_of(s.t_ns);
            let show = x - last_label >= 60.0;
            if show {
                last_label = x;
            }
            (x, s.label.as_str(), show)
        })
        .collect();
    html! {
        g.stages {
            @for (x, label, show) in &labels {
                line x1=(fmt(*x)) x2=(fmt(*x)) y1=(top - 2.0) y2=(bottom) stroke="#555"
                    stroke-dasharray="3 2" stroke-width="0.8" {}
                @if *show { text.stage x=(fmt(x + 2.0)) y=(top - 5.0) { (label) } }
            }
            @if t.timeline.stages_total > t.timeline.stages.len() as u64 {
                text x=(WIDTH - 4.0) y=(top - 5.0) text-anchor="end" {
                    "first " (t.timeline.stages.len()) " of " (t.timeline.stages_total) " stage markers"
                }
            }
        }
        g.media {
            @for m in &t.timeline.media {
                @let x = x_of(m.t_ns);
                @let (pts, what) = if m.insert {
                    (format!("{},{} {},{} {},{}", fmt(x - 4.0), fmt(bottom - 1.0), fmt(x + 4.0), fmt(bottom - 1.0), fmt(x), fmt(bottom - 8.0)), "insert")
                } else {
                    (format!("{},{} {},{} {},{}", fmt(x - 4.0), fmt(bottom - 8.0), fmt(x + 4.0), fmt(bottom - 8.0), fmt(x), fmt(bottom - 1.0)), "eject")
                };
                polygon.media-change points=(pts) fill="#000" {
                    title { (what) " drive " (m.drive) " at " (secs(m.t_ns)) " s" }
                }
            }
        }
    }
}

/// A time step of 1, 2 or 5 times a power of ten giving at most 10 ticks.
fn tick_step(span_ns: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for f in [1, 2, 5] {
            let s = step.saturating_mul(f);
            if span_ns / s <= 10 {
                return s;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn tick_label(ns: u64, step: u64) -> String {
    if step >= 1_000_000_000 {
        format!("{} s", ns / 1_000_000_000)
    } else if step >= 1_000_000 {
        format!("{:.1} s", ns as f64 / 1e9)
    } else {
        format!("{:.3} ms", ns as f64 / 1e6)
    }
}

fn axis(t: &TraceRecord, y: f64, x_of: &dyn Fn(u64) -> f64) -> Markup {
    let span = t.duration_ns.max(1);
    let step = tick_step(span);
    let ticks: Vec<u64> = (0..=span / step).map(|i| i * step).collect();
    html! {
        g.axis {
            line x1=(LABEL_W) x2=(LABEL_W + PLOT_W) y1=(y) y2=(y) stroke="#333" {}
            @for tk in ticks {
                @let x = x_of(tk);
                line x1=(fmt(x)) x2=(fmt(x)) y1=(y) y2=(y + 4.0) stroke="#333" {}
                text x=(fmt(x)) y=(y + 15.0) text-anchor="middle" { (tick_label(tk, step)) }
            }
        }
    }
}

fn share_cell(s: &Summary, i: Option<usize>) -> String {
    let x = i.map_or(&s.unknown_to_qemu_2_3, |i| &s.subsections[i]);
    format!("{} / {}", opt_pct(x.time_share), pct(x.event_share))
}

fn subsection_tables(r: &Report, v: &VerdictSummary) -> Markup {
    html! {
        section #subsections {
            h2 { "Per subsection" }
            p.small { "Each cell: time-weighted share / event-weighted share of the points where it is sent." }
            div.grid {
                @for (i, s) in v.subsections.iter().enumerate() {
                    div.subsection-table data-subsection=(s.subsection) {
                        h3 { (s.subsection) }
                        table {
                            tr { th.l { "guest" } th { "sent: time / points" } }
                            @for g in &r.per_guest {
                                tr { td.l { (g.guest) } td { (share_cell(&g.summary, Some(i))) } }
                            }
                            tr { td.l { b { "all" } } td { (share_cell(&r.overall, Some(i))) } }
                        }
                        p.small { "Mostly: " (where_text(s.mostly.as_ref(), false)) ". "
                            (whatif_text(s.whatif.as_ref())) "." }
                    }
                }
            }
        }
    }
}

fn closed_row(sub: &str, workload: &str, c: &ClosedCounts) -> Markup {
    let ms = |ns: i64| format!("{:.1}", ns as f64 / 1e6);
    html! {
        tr.closed data-subsection=(sub) data-workload=(workload) {
            td.l { (sub) } td.l { (workload) }
            td data-field="candidates" { (c.candidates) }
            td data-field="runs" { (c.runs) }
            @for k in CLOSED_CLASSES {
                td data-field=(k) { (c.outcomes.get(k).copied().unwrap_or(0)) }
            }
            td data-field="extra_retries" { (c.extra_retries) }
            td data-field="extra_commands" { (c.extra_commands) }
            td data-field="extra_time_ns" data-value=(c.extra_time_ns) {
                @match c.max_extra_time_ns {
                    Some(m) => { (ms(c.extra_time_ns)) " / " (ms(m)) }
                    None => { "-" }
                }
            }
            td.l data-field="errors" {
                @for (i, (e, n)) in c.errors.iter().enumerate() {
                    @if i > 0 { "; " }
                    (e) " (" (n) ")"
                }
            }
        }
    }
}

/// The closed-loop outcomes per subsection and workload, when they were computed.
fn closed_loop_section(w: Option<&WhatifSummary>) -> Markup {
    let rows: Vec<(&String, &ClosedOutcomes)> = w
        .map(|w| {
            let subs = w.subsections.iter().map(|s| (&s.name, &s.closed_loop));
            let versions = w.migrations.iter().map(|m| (&m.name, &m.closed_loop));
            subs.chain(versions)
                .filter_map(|(n, c)| Some((n, c.as_ref()?)))
                .collect()
        })
        .unwrap_or_default();
    if rows.is_empty() {
        return html! {};
    }
    let points = rows.iter().map(|(_, c)| c.points).max().unwrap_or(0);
    html! {
        section #closed-loop {
            h2 { "Closed loop: the Windows 2000 driver model resumed without the subsection" }
            p.small { "Each workload runs on the model and is migrated once, without the subsection, at one of up to "
                (points) " port accesses where QEMU sends it (evenly spaced over the candidates); the driver carries                 on against the destination and is compared with the run without migration. Rows backward and forward: the driver starts on qemu-7.2 (qemu-2.3) and the destination is a qemu-2.3 (qemu-7.2) device loaded from the state, at accesses where nothing the destination does not know is sent, compared with the run without migration on the source's version. Extra time: total /                 largest over the retries runs, ms of guest time." }
            div.scroll { table {
                tr {
                    th.l { "subsection" } th.l { "workload" } th { "candidates" } th { "runs" }
                    @for k in CLOSED_CLASSES { th { (k) } }
                    th { "extra retries" } th { "extra commands" } th { "extra time ms" } th.l { "errors" }
                }
                @for (s, c) in &rows {
                    (closed_row(s, "all", &c.all))
                    @for (wl, wc) in c.by_workload.iter().filter(|(_, wc)| wc.candidates > 0) {
                        (closed_row(s, wl, wc))
                    }
                }
            } }
        }
    }
}

fn details(r: &Report) -> Markup {
    html! {
        section #details {
            h2 { "Per trace" }
            div.scroll { table {
                tr {
                    th.l { "trace" } th.l { "guest" } th.l { "workload" } th.l { "provenance" }
                    th { "events" } th { "time s" }
                    @for s in Subsection::ALL { th { (s.name()) } }
                    th { (UNKNOWN_2_3) }
                    th.l { "idle state" }
                }
                @for t in &r.per_trace {
                    tr {
                        td.l { (t.name) } td.l { (t.guest) }
                        td.l { (t.workload.as_deref().unwrap_or_default()) } td.l { (t.provenance) }
                        td { (t.events) } td { (secs(t.duration_ns)) }
                        @for i in 0..6 { td { (share_cell(&t.summary, Some(i))) } }
                        td { (share_cell(&t.summary, None)) }
                        td.l { (t.idle.phase) ", sends " (t.idle.needed.join(" ")) }
                    }
                }
            } }
            @if !r.bad_files.is_empty() {
                h2 { "Bad files" }
                ul { @for b in &r.bad_files { li { (b.error) } } }
            }
        }
    }
}
