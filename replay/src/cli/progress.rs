//! Progress bars of the long commands, and the one way the commands open a trace.
//!
//! A [`Progress`] draws one bar on standard error, with the events done, the elapsed time
//! and an estimate of the time left; it draws nothing with `-q` or when standard error is
//! not a terminal, so output written to standard output or a file is never affected.
//!
//! Two kinds of bar:
//! - [`Progress::traces`]: commands that read traces (`check`, `report`, `points`,
//!   `regress`, `bench`'s replays). The bar advances with the bytes read from the trace
//!   files (known in advance, so the estimate is sound however the events are spread over
//!   the files) and shows the number of events read; open every trace with
//!   [`Progress::open`] so both are counted.
//! - [`Progress::events`]: commands that produce events (`import`, `bench`'s trace
//!   generation, `conformance`, `record-driver-model`, what-if runs): the caller adds what
//!   it did with [`Progress::inc`]; with a total the bar has an estimate, without one it
//!   is a counter with the elapsed time.
//!
//! ```no_run
//! # use fdc_replay::cli::progress::Progress;
//! # fn main() -> Result<(), fdc_trace::TraceError> {
//! let paths = vec![std::path::PathBuf::from("a.fdctrace")];
//! let progress = Progress::traces("check", &paths, false);
//! for p in &paths {
//!     let reader = progress.open(p)?; // counts bytes and events as they are read
//!     for ev in reader { let _ = ev?; }
//! }
//! progress.finish();
//! # Ok(()) }
//! ```

use fdc_trace::{TraceError, TraceReader};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What [`Progress::open`] reads: a file, or standard input for `-`.
pub type Input = Box<dyn Read + Send>;

/// The path that names standard input.
pub const STDIN: &str = "-";

/// A progress bar on standard error (or nothing, see the module documentation).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    events: Arc<AtomicU64>,
}

/// Whether a bar would be drawn: not quiet, and standard error is a terminal.
pub fn visible(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

impl Progress {
    /// No bar at all (counting still works).
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            events: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A bar over the bytes of the trace files `paths` (standard input and files whose
    /// size is unknown count as empty), labelled `what`.
    pub fn traces(what: &str, paths: &[PathBuf], quiet: bool) -> Progress {
        if !visible(quiet) {
            return Progress::hidden();
        }
        let total: u64 = paths
            .iter()
            .filter(|p| p.as_os_str() != STDIN)
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let events = Arc::new(AtomicU64::new(0));
        let shown = events.clone();
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:25}] {events} events, {percent}%, {elapsed} elapsed, ETA {eta}",
        )
        .map(|s| {
            s.with_key(
                "events",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", shown.load(Ordering::Relaxed));
                },
            )
            .progress_chars("=> ")
        });
        Progress::draw(ProgressBar::new(total), style.ok(), what, events)
    }

    /// A bar over `total` events (a counter when `None`), labelled `what`, advanced by
    /// [`Progress::inc`].
    pub fn events(what: &str, total: Option<u64>, quiet: bool) -> Progress {
        if !visible(quiet) {
            return Progress::hidden();
        }
        let (bar, template) = match total {
            Some(n) => (
                ProgressBar::new(n),
                "{prefix} [{bar:25}] {human_pos}/{human_len} events, {elapsed} elapsed, ETA {eta}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{prefix} {spinner} {human_pos} events, {elapsed} elapsed",
            ),
        };
        let style = ProgressStyle::with_template(template)
            .map(|s| s.progress_chars("=> "))
            .ok();
        Progress::draw(bar, style, what, Arc::new(AtomicU64::new(0)))
    }

    fn draw(
        bar: ProgressBar,
        style: Option<ProgressStyle>,
        what: &str,
        events: Arc<AtomicU64>,
    ) -> Progress {
        if let Some(s) = style {
            bar.set_style(s);
        }
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar: Some(bar),
            events,
        }
    }

    /// Adds `n` events done (bars made by [`Progress::events`]).
    pub fn inc(&self, n: u64) {
        self.events.fetch_add(n, Ordering::Relaxed);
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// A callback that adds one event per call, for producers that take one
    /// (`TraceWriter::on_event`); `None` when nothing is drawn.
    pub fn callback(&self) -> Option<Box<dyn FnMut() + Send>> {
        let p = self.clone();
        self.bar
            .as_ref()
            .map(|_| Box::new(move || p.inc(1)) as Box<dyn FnMut() + Send>)
    }

    /// Events counted so far.
    pub fn count(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Opens the trace `path` (`-`: standard input) to be read once, counting the bytes
    /// and events read into this bar. Errors name the file.
    pub fn open(&self, path: &Path) -> Result<TraceReader<Input>, TraceError> {
        let input: Input = if path.as_os_str() == STDIN {
            Box::new(std::io::stdin())
        } else {
            let f =
                std::fs::File::open(path).map_err(|e| TraceError::from(e).with_file(Some(path)))?;
            Box::new(f)
        };
        let input: Input = match &self.bar {
            Some(bar) => Box::new(Counted {
                inner: input,
                bar: bar.clone(),
            }),
            None => input,
        };
        let mut reader = TraceReader::with_name(input, Some(path.to_path_buf()))?;
        reader.count_events(self.events.clone());
        Ok(reader)
    }

    /// Prints `line` on standard error above the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Draws the final state, then removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish();
            b.finish_and_clear();
        }
    }
}

/// A reader that advances a bar by the bytes read.
struct Counted {
    inner: Input,
    bar: ProgressBar,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
