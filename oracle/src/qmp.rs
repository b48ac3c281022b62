//! Minimal QMP client over a Unix socket, with a read timeout on every reply.
//!
//! Events (RESUME, STOP, WATCHDOG, ...) can arrive before a command's reply; they are queued
//! so a later wait for STOP does not miss one that raced ahead of the `cont` reply.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub(crate) enum QmpFailure {
    Timeout,
    Closed,
    Io(std::io::Error),
    /// QEMU answered with an error object.
    Error {
        class: String,
        desc: String,
    },
    Garbage(String),
}

pub(crate) struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    events: VecDeque<Value>,
}

impl Qmp {
    /// Reads the greeting and negotiates capabilities.
    pub(crate) fn handshake(stream: UnixStream, timeout: Duration) -> Result<Qmp, QmpFailure> {
        let writer = stream.try_clone().map_err(QmpFailure::Io)?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            events: VecDeque::new(),
        };
        let greeting = qmp.read_message(timeout)?;
        if greeting.get("QMP").is_none() {
            return Err(QmpFailure::Garbage(format!(
                "expected the QMP greeting, got {greeting}"
            )));
        }
        qmp.execute("qmp_capabilities", None, timeout)?;
        Ok(qmp)
    }

    fn read_message(&mut self, timeout: Duration) -> Result<Value, QmpFailure> {
        let deadline = Instant::now() + timeout;
        let mut line = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(QmpFailure::Timeout);
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(QmpFailure::Io)?;
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err(QmpFailure::Closed),
                Ok(_) if line.ends_with('\n') => break,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(QmpFailure::Timeout)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(QmpFailure::Io(e)),
            }
        }
        serde_json::from_str(line.trim()).map_err(|e| QmpFailure::Garbage(format!("{e}: {line}")))
    }

    /// Runs one command and returns its `return` value.
    pub(crate) fn execute(
        &mut self,
        command: &str,
        arguments: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, QmpFailure> {
        let mut msg = json!({ "execute": command });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer.write_all(text.as_bytes()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                QmpFailure::Closed
            } else {
                QmpFailure::Io(e)
            }
        })?;
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self.read_message(deadline.saturating_duration_since(Instant::now()))?;
            if reply.get("event").is_some() {
                self.events.push_back(reply);
                continue;
            }
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(err) = reply.get("error") {
                let field = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                return Err(QmpFailure::Error {
                    class: field("class"),
                    desc: field("desc"),
                });
            }
            return Err(QmpFailure::Garbage(reply.to_string()));
        }
    }

    /// Forgets queued events (so a stale STOP cannot satisfy a new wait).
    pub(crate) fn clear_events(&mut self) {
        self.events.clear();
    }

    /// Waits for the event named `name`, dropping others.
    pub(crate) fn wait_event(
        &mut self,
        name: &str,
        timeout: Duration,
    ) -> Result<Value, QmpFailure> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(ev) = self.events.pop_front() {
                if ev.get("event").and_then(Value::as_str) == Some(name) {
                    return Ok(ev);
                }
            }
            let msg = self.read_message(deadline.saturating_duration_since(Instant::now()))?;
            if msg.get("event").is_some() {
                self.events.push_back(msg);
            } else {
                return Err(QmpFailure::Garbage(format!(
                    "unexpected reply while waiting for {name}: {msg}"
                )));
            }
        }
    }
}
