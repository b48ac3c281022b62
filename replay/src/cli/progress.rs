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
        self.reader(path, input)
    }

    /// [`Progress::open`] for a command that reads the trace more than once: the file is
    /// opened once, and [`Again::reader`] reads it again after the first reader is done,
    /// from the same open file (rewound: a file replaced meanwhile is not seen) or, for
    /// standard input, a pipe or any file that cannot be rewound, from the bytes the first
    /// reader kept. Only the first read is counted into the bar.
    pub fn open_again(&self, path: &Path) -> Result<(TraceReader<Input>, Again), TraceError> {
        let named = |e: std::io::Error| TraceError::from(e).with_file(Some(path));
        let file = if path.as_os_str() == STDIN {
            None
        } else {
            let f = std::fs::File::open(path).map_err(named)?;
            let regular = f.metadata().map_err(named)?.is_file();
            Some((f, regular))
        };
        let (input, src): (Input, AgainSrc) = match file {
            Some((f, true)) => (Box::new(f.try_clone().map_err(named)?), AgainSrc::File(f)),
            other => {
                let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
                let inner: Input = match other {
                    Some((f, _)) => Box::new(f),
                    None => Box::new(std::io::stdin()),
                };
                let tee = Tee {
                    inner,
                    kept: kept.clone(),
                };
                (Box::new(tee), AgainSrc::Kept(kept))
            }
        };
        let again = Again {
            path: path.to_path_buf(),
            src,
        };
        Ok((self.reader(path, input)?, again))
    }

    fn reader(&self, path: &Path, input: Input) -> Result<TraceReader<Input>, TraceError> {
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

/// A trace opened once and read again (see [`Progress::open_again`]).
pub struct Again {
    path: PathBuf,
    src: AgainSrc,
}

enum AgainSrc {
    /// A regular file: rewound.
    File(std::fs::File),
    /// The bytes the first reader read, still being filled.
    Kept(Arc<std::sync::Mutex<Vec<u8>>>),
    /// Those bytes, taken once the first reader was done.
    Shared(Arc<Vec<u8>>),
}

impl Again {
    /// A new reader of the trace from its start; call it only once the previous reader
    /// is done with the file.
    pub fn reader(&mut self) -> Result<TraceReader<Input>, TraceError> {
        let named = |e: std::io::Error| TraceError::from(e).with_file(Some(&self.path));
        let input: Input = match &mut self.src {
            AgainSrc::File(f) => {
                use std::io::Seek;
                f.rewind().map_err(named)?;
                Box::new(f.try_clone().map_err(named)?)
            }
            AgainSrc::Kept(kept) => {
                let bytes = match kept.lock() {
                    Ok(mut v) => std::mem::take(&mut *v),
                    Err(_) => Vec::new(),
                };
                let bytes = Arc::new(bytes);
                // The next reader reads the same bytes, without a copy.
                self.src = AgainSrc::Shared(bytes.clone());
                Box::new(std::io::Cursor::new(SharedBytes(bytes)))
            }
            AgainSrc::Shared(bytes) => Box::new(std::io::Cursor::new(SharedBytes(bytes.clone()))),
        };
        TraceReader::with_name(input, Some(self.path.clone()))
    }
}

/// Bytes kept for [`Again`], shared by its readers.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A reader that keeps a copy of what it reads.
struct Tee {
    inner: Input,
    kept: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut k) = self.kept.lock() {
            k.extend_from_slice(&buf[..n]);
        }
        Ok(n)
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
