//! `fdc-replay bench`: measures decode + replay + analysis throughput and memory on a
//! generated trace ([`crate::analysis::bench`], which also describes the method and the
//! figures measured).

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::progress::Progress;
use crate::analysis::bench::{
    cpu_seconds, generate, generate_header, pattern_image, peak_rss_kb, reset_peak_rss,
    synthetic_header, synthetic_header_with,
};
use crate::analysis::replay::{analyze_reader, AnalyzeOptions};
use crate::analysis::report::{Report, Table};

/// The largest `--events` (a bound on the generated file and the time it takes).
pub const MAX_BENCH_EVENTS: u64 = 200_000_000;

/// `fdc-replay bench` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Events in the generated trace (1 to 200,000,000: about 600 MB of gzip trace).
    #[arg(long, default_value_t = 10_000_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BENCH_EVENTS))]
    pub events: u64,
    /// Embed a patterned image of this many bytes (at most 64 MiB, the format's cap) as
    /// drive 0's medium instead of a blank 1.44 MB one, so that every WRITE DATA changes
    /// it: the peak RSS column then measures what model checkpoints cost with a medium.
    #[arg(long, value_parser = clap::value_parser!(u64).range(512..=fdc_trace::format::MAX_MEDIUM_BYTES))]
    pub image_bytes: Option<u64>,
    /// Where to write the trace (default: a temporary file, removed afterwards).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Reuse an existing trace at --trace instead of generating one.
    #[arg(long)]
    pub reuse: bool,
    /// Thread count of the "all threads" run, 1 to 1024 (default: all cores; at most 4 per
    /// core are started).
    #[arg(short = 'j', long = "jobs", value_parser = super::jobs_parser())]
    pub jobs: Option<usize>,
    /// Also replay a shorter trace through real QEMU (oracle) and print the speed ratio.
    #[arg(long)]
    pub oracle: bool,
    /// Events replayed through QEMU with --oracle.
    #[arg(long, default_value_t = 20_000)]
    pub oracle_events: u64,
    /// Write the trace body uncompressed.
    #[arg(long)]
    pub no_gzip: bool,
    /// The corpus of the what-if/report CPU ratio (default: corpora/traces).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// Only measure the what-if/report CPU ratio on the corpus (no generated trace).
    #[arg(long)]
    pub whatif_only: bool,
    /// No progress bars (drawn on standard error only when that is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

struct Measure {
    label: String,
    secs: f64,
    cpu: f64,
    events: u64,
    rss_kb: Option<u64>,
}

fn measure(
    label: &str,
    threads: usize,
    f: impl FnOnce() -> anyhow::Result<u64> + Send,
) -> anyhow::Result<Measure> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let reset = reset_peak_rss();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let events = pool.install(f)?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    Ok(Measure {
        label: label.to_string(),
        secs,
        cpu,
        events,
        rss_kb: if reset { peak_rss_kb() } else { None },
    })
}

/// Entry point of `fdc-replay bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<i32> {
    let corpus = args
        .corpus
        .clone()
        .unwrap_or_else(|| super::analysis::default_corpora().join("traces"));
    let ratio_rows = whatif_ratio(&corpus)?;
    if args.whatif_only {
        return Ok(0);
    }
    drop(ratio_rows);
    let path = args.trace.clone().unwrap_or_else(|| tempfile_path("bench"));
    // A temporary trace is removed on a signal too (one given with --trace is kept).
    let _cleanup = args
        .trace
        .is_none()
        .then(|| fdc_oracle::cleanup::Guard::path(&path));
    let all = super::effective_jobs(args.jobs);
    if !(args.reuse && path.exists()) {
        let t0 = Instant::now();
        let progress = Progress::events("bench: generating", Some(args.events), args.quiet);
        let opts = fdc_trace::WriteOptions {
            gzip: !args.no_gzip,
            ..Default::default()
        };
        let header = match args.image_bytes {
            None => synthetic_header(),
            Some(n) => synthetic_header_with(Some(pattern_image(n as usize))),
        };
        generate_header(&path, &header, args.events, 1, opts, progress.callback())?;
        progress.finish();
        if let Some(n) = args.image_bytes {
            crate::outln!(
                "drive 0: embedded patterned image of {n} bytes (every WRITE DATA changes it)"
            )?;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        crate::outln!(
            "generated {} events in {:.2} s: {} ({} bytes)",
            args.events,
            t0.elapsed().as_secs_f64(),
            path.display(),
            size
        )?;
    }
    let progress = Progress::traces(
        "bench: decode only",
        std::slice::from_ref(&path),
        args.quiet,
    );
    let mut rows = vec![measure("decode only, 1 thread", 1, || {
        decode_only(&path, &progress)
    })?];
    progress.finish();
    let (replays, reports, notes) = replay_runs(&path, all, args.quiet)?;
    rows.extend(replays);
    crate::out!("{}", table(&rows).render(false))?;
    for n in &notes {
        crate::outln!("{n}")?;
    }
    let one = rows.get(1).map_or(0.0, |r| r.events as f64 / r.secs);
    let many = rows.get(2).map_or(0.0, |r| r.events as f64 / r.secs);
    crate::outln!("speed-up with {all} threads: {:.2}x", many / one)?;
    let same = reports.first() == reports.get(1);
    crate::outln!(
        "reports identical for 1 and {all} threads: {}",
        if same { "yes" } else { "NO" }
    )?;
    let mut code = if same { 0 } else { 1 };
    if args.oracle {
        match oracle_speed(args.oracle_events) {
            Ok((n, secs)) => {
                let q = n as f64 / secs;
                crate::outln!("QEMU (oracle, qtest outb/inb): {n} events in {secs:.2} s = {:.0} events/s; model/QEMU speed ratio (1 thread): {:.0}x", q, one / q)?;
            }
            Err(e) => {
                eprintln!("fdc-replay bench: oracle: {e}");
                code = 1;
            }
        }
    }
    if args.trace.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    Ok(code)
}

/// Reads and decodes every chunk (on the current pool), replaying nothing.
fn decode_only(path: &Path, progress: &Progress) -> anyhow::Result<u64> {
    use rayon::prelude::*;
    let sc = progress.open(path)?.into_chunks();
    let n = std::sync::atomic::AtomicU64::new(0);
    let err = std::sync::Mutex::new(None);
    sc.par_bridge().for_each(
        |c| match c.and_then(|c| fdc_trace::compact::decode_chunk(&c)) {
            Ok(c) => {
                n.fetch_add(c.events.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => {
                if let Ok(mut g) = err.lock() {
                    *g = Some(e);
                }
            }
        },
    );
    if let Ok(Some(e)) = err.into_inner() {
        return Err(e.into());
    }
    Ok(n.into_inner())
}

/// The whole analysis on one thread and on `all`: the measures, the JSON reports (which
/// must be equal) and the per-part CPU notes.
fn replay_runs(
    path: &Path,
    all: usize,
    quiet: bool,
) -> anyhow::Result<(Vec<Measure>, Vec<String>, Vec<String>)> {
    let opts = AnalyzeOptions {
        parallel_chunks: true,
    };
    let (mut rows, mut reports, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    for (label, threads) in [
        ("decode+replay+analysis, 1 thread".to_string(), 1),
        (format!("decode+replay+analysis, {all} threads"), all),
    ] {
        let mut json = String::new();
        let progress = Progress::traces(
            &format!("bench: {threads} thread(s)"),
            &[path.to_path_buf()],
            quiet,
        );
        let m = measure(&label, threads, || {
            let a = analyze_reader(path, progress.open(path)?, &opts)?;
            let n = a.events;
            let tm = a.timing;
            let (sc, pa, re) = (
                tm.scan_ns as f64 / 1e9,
                tm.parallel_ns as f64 / 1e9,
                tm.resolve_ns as f64 / 1e9,
            );
            let total = sc + pa + re;
            let bound = total / sc.max(re).max(total / threads as f64).max(1e-12);
            notes.push(format!(
                "{label}: thread CPU s: read+inflate {sc:.3} (sequential), decode+replay+analysis {pa:.3} (parallel), \
in-order resolution {re:.3} (sequential); {} events replayed twice; speed-up bound on {threads} idle cores: {bound:.2}x",
                a.replayed_again
            ));
            json = Report::build(&[Ok(a)]).to_json();
            Ok(n)
        })?;
        progress.finish();
        reports.push(json);
        rows.push(m);
    }
    Ok((rows, reports, notes))
}

/// CPU of `report` (replay + analysis of every trace, no what-if) and of `whatif` (every
/// subsection at every point) over the corpus, one thread each, in this one run; prints
/// both and their ratio (the best of three runs each, against the shared machine's noise).
fn whatif_ratio(corpus: &Path) -> anyhow::Result<Vec<Measure>> {
    use crate::analysis::whatif::WhatifOptions;
    let paths = super::analysis::collect_traces(&[corpus.to_path_buf()]).traces;
    let best =
        |label: &str, f: &(dyn Fn() -> anyhow::Result<u64> + Sync)| -> anyhow::Result<Measure> {
            let mut runs = Vec::new();
            for _ in 0..3 {
                runs.push(measure(label, 1, f)?);
            }
            runs.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
            Ok(runs.swap_remove(0))
        };
    let report = best("report over the corpus, 1 thread", &|| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        let hidden = Progress::hidden();
        let results = super::analysis::analyze_all(&paths, &pool, &hidden);
        let r = Report::build(&results);
        Ok(r.per_trace.iter().map(|t| t.events).sum())
    })?;
    let whatif = best("whatif over the corpus, 1 thread", &|| {
        let opts = WhatifOptions::default();
        let traces: Vec<_> = super::whatif::whatif_all(&paths, &opts, Some(1), true, false)?
            .into_iter()
            .filter_map(|r| r.ok().map(|(t, _)| t))
            .collect();
        let real = crate::analysis::whatif::real::load_default(None)?;
        let _ = crate::analysis::whatif::summary::summarize(&traces, &real);
        Ok(traces.iter().map(|t| t.points - 1).sum())
    })?;
    // What `report` adds for its what-if section: the what-if above plus the profile
    // replays, the version migrations and the checks under each profile.
    let section = best(
        "report's what-if section (with profiles, migrations), 1 thread",
        &|| {
            let opts = WhatifOptions::default();
            let (traces, versions): (Vec<_>, Vec<_>) =
                super::whatif::whatif_all(&paths, &opts, Some(1), true, true)?
                    .into_iter()
                    .filter_map(Result::ok)
                    .unzip();
            let s = super::whatif::report_summary(&traces, &versions, Some(1), None)?;
            Ok(s.profiles.first().map_or(0, |p| p.points))
        },
    )?;
    let rows = vec![report, whatif, section];
    print!("{}", table(&rows).render(false));
    println!(
        "whatif/report CPU ratio over {} ({} traces): {:.2}x",
        corpus.display(),
        paths.len(),
        rows[1].cpu / rows[0].cpu.max(1e-9)
    );
    println!(
        "profiles and version migrations add {:.3} CPU s to the what-if ({:.2}x the what-if alone)",
        rows[2].cpu - rows[1].cpu,
        rows[2].cpu / rows[1].cpu.max(1e-9)
    );
    Ok(rows)
}

fn table(rows: &[Measure]) -> Table {
    let mut t = Table::new(&[
        "run",
        "events",
        "wall s",
        "events/s",
        "CPU s",
        "events per CPU s",
        "peak RSS MB",
    ]);
    for r in rows {
        t.row(vec![
            r.label.clone(),
            r.events.to_string(),
            format!("{:.3}", r.secs),
            format!("{:.2} M", r.events as f64 / r.secs / 1e6),
            format!("{:.3}", r.cpu),
            format!("{:.2} M", r.events as f64 / r.cpu.max(1e-9) / 1e6),
            r.rss_kb
                .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
        ]);
    }
    t
}

fn tempfile_path(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fdc-replay-{what}-{}.fdctrace", std::process::id()))
}

/// Replays the port accesses of a generated trace of `events` events through real QEMU,
/// one qtest round trip each, through the one op interpreter (`fdc::ops::apply`); DMA
/// channel 2 is programmed once (auto-initialising, 64 KiB) so transfers complete, and
/// time is not stepped (`check --machine qemu` steps it to every event, which costs a
/// watchdog hop per gap). Returns (events, seconds): it measures speed, not agreement.
fn oracle_speed(events: u64) -> anyhow::Result<(u64, f64)> {
    use fdc::ops::{apply, Op};
    use fdc::ports::FDC_BASE;
    use fdc::Machine;
    use fdc_oracle::{Oracle, OracleConfig};
    use fdc_trace::Event;
    let path = tempfile_path("oracle");
    let _cleanup = fdc_oracle::cleanup::Guard::path(&path);
    generate(&path, events, 2, true)?;
    let (_, evs) = fdc_trace::read_all(&path)?;
    let _ = std::fs::remove_file(&path);
    let ops: Vec<Op> = evs
        .iter()
        .filter_map(|ev| match *ev {
            Event::PortRead { offset, .. } => Some(Op::In {
                port: FDC_BASE + u16::from(offset),
            }),
            Event::PortWrite { offset, value, .. } => Some(Op::Out {
                port: FDC_BASE + u16::from(offset),
                value,
            }),
            _ => None,
        })
        .collect();
    let mut q = Oracle::start(OracleConfig::default())?;
    q.dma_program(fdc::DmaAddress::from_page(1, 0), 0xffff, 0x56)?;
    q.dma_mask(false)?;
    let start = Instant::now();
    for op in &ops {
        apply(&mut q, op)?;
    }
    Ok((evs.len() as u64, start.elapsed().as_secs_f64()))
}
