//! Where a command's output goes (standard output or `-o FILE`), with errors that say
//! which: "writing standard output: No space left on device". A closed pipe
//! (`fdc-replay points T | head`) is not an error: [`is_broken_pipe`] lets `main` exit
//! quietly.

use std::io::Write;
use std::path::Path;

/// A buffered output that remembers the first write error.
pub struct Output {
    inner: Box<dyn Write>,
    name: String,
    failed: Option<std::io::Error>,
}

impl Output {
    /// Standard output, or the file `path` (created or truncated).
    pub fn create(path: Option<&Path>) -> anyhow::Result<Output> {
        Ok(match path {
            Some(p) => {
                let f = std::fs::File::create(p).map_err(|e| {
                    anyhow::Error::new(e).context(format!("creating {}", p.display()))
                })?;
                Output {
                    inner: Box::new(std::io::BufWriter::new(f)),
                    name: p.display().to_string(),
                    failed: None,
                }
            }
            None => Output {
                inner: Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                name: "standard output".into(),
                failed: None,
            },
        })
    }

    /// Flushes; the first error met while writing, naming the output.
    pub fn finish(mut self) -> anyhow::Result<()> {
        let flushed = self.inner.flush();
        match self.failed.take() {
            Some(e) => Err(anyhow::Error::new(e).context(format!("writing {}", self.name))),
            None => {
                flushed.map_err(|e| anyhow::Error::new(e).context(format!("writing {}", self.name)))
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.remember(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.remember(e))
    }
}

impl Output {
    fn remember(&mut self, e: &std::io::Error) {
        if self.failed.is_none() {
            self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
    }
}

/// Writes `text` to standard output or `path`; errors name which.
pub fn write_all(path: Option<&Path>, text: &str) -> anyhow::Result<()> {
    let mut o = Output::create(path)?;
    let _ = o.write_all(text.as_bytes());
    o.finish()
}

/// True when `err` comes from writing to a pipe whose reader has gone.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `err` with its causes, "outer: inner: ...", leaving out a cause whose text the one
/// before it already ends with (errors that print their source, then list it again).
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !last.is_empty() && last.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        last = text;
    }
    out
}

/// Writes `args` to standard output now (flushed); the error says "writing standard
/// output". Used through [`crate::outln!`] / [`crate::out!`] instead of `println!`, which
/// panics when the write fails.
pub fn print(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut so = std::io::stdout().lock();
    so.write_fmt(args)
        .and_then(|()| so.flush())
        .map_err(|e| anyhow::Error::new(e).context("writing standard output"))
}

/// `println!` that returns the write error ([`print()`]).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::cli::output::print(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// `print!` that returns the write error ([`print()`]).
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {
        $crate::cli::output::print(format_args!($($t)*))
    };
}
