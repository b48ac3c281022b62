//! What can go wrong driving QEMU. Messages name the command that failed, because a
//! failing oracle test is only useful if it says what QEMU was asked.

use std::path::PathBuf;
use std::time::Duration;

use crate::stream::StreamError;
use crate::{BOOT_CLOCK_NS, CLOCK_STEP_NS, MIN_FIRST_INCOMING_ADVANCE_NS, QEMU_ENV};

/// Errors from driving QEMU.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The QEMU binary is not there.
    #[error(
        "QEMU binary `{0}` not found: install it with `apt-get install qemu-system-x86` \
         (or point ${QEMU_ENV} at a qemu-system-x86_64)"
    )]
    QemuNotFound(PathBuf),
    /// QEMU could not be started.
    #[error("cannot start `{path}`: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// QEMU did not answer in time.
    #[error("QEMU did not answer `{command}` within {timeout:?}")]
    Timeout {
        /// The command.
        command: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// QEMU is gone.
    #[error("QEMU exited while handling `{command}` ({status}){stderr}")]
    QemuExited {
        /// The command.
        command: String,
        /// Its exit status.
        status: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// A qtest command failed or gave an unexpected answer.
    #[error("qtest `{command}` failed: {reply}")]
    Qtest {
        /// The command.
        command: String,
        /// What QEMU answered.
        reply: String,
    },
    /// A QMP command failed.
    #[error("QMP `{command}` failed: {class}: {desc}")]
    Qmp {
        /// The command.
        command: String,
        /// QEMU's error class.
        class: String,
        /// QEMU's description.
        desc: String,
    },
    /// A QMP answer did not have the expected shape.
    #[error("QMP `{command}`: unexpected answer: {detail}")]
    QmpProtocol {
        /// The command.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// A migration failed (QEMU's description).
    #[error("migration failed: {0}")]
    Migration(String),
    /// The migration stream cannot be parsed.
    #[error("migration stream: {0}")]
    Stream(#[from] StreamError),
    /// The fdc section QEMU sent does not decode as, or is not laid out like, the
    /// model's encoding of the same state ([`fdc::wire`]).
    #[error("migration stream: the fdc section {0}")]
    Section(String),
    /// The virtual clock did not do what was asked.
    #[error("virtual clock: {0}")]
    Clock(#[from] ClockError),
    /// An argument QEMU cannot take.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// How stepping QEMU's virtual clock failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The step is not a multiple of [`CLOCK_STEP_NS`].
    #[error(
        "cannot advance by {ns} ns: QEMU's HPET, which marks the target, has a \
         {CLOCK_STEP_NS} ns resolution"
    )]
    Resolution {
        /// The step asked for.
        ns: u64,
    },
    /// The first step after a load or a migration is shorter than
    /// [`MIN_FIRST_INCOMING_ADVANCE_NS`].
    #[error(
        "the first advance on a migration destination, or after a migration, must be at \
         least {MIN_FIRST_INCOMING_ADVANCE_NS} ns, got {ns} ns"
    )]
    FirstAdvanceTooShort {
        /// The step asked for.
        ns: u64,
    },
    /// The VM stopped after the target (a lost watchdog stop under load); the clock is at
    /// `reached` and every later answer is still QEMU's.
    #[error("overshot: advancing from {from} to {target} ns stopped at {reached} ns")]
    Overshoot {
        /// Where the step started.
        from: u64,
        /// Where it should have ended.
        target: u64,
        /// Where it ended.
        reached: u64,
    },
    /// Time did not move for three hops.
    #[error("no progress at {now} ns while advancing to {target} ns")]
    NoProgress {
        /// Where it is stuck.
        now: u64,
        /// Where it should go.
        target: u64,
    },
    /// The target time does not fit in 64 bits.
    #[error("{start} + {ns} ns overflows")]
    Overflow {
        /// The current time.
        start: u64,
        /// The step asked for.
        ns: u64,
    },
    /// The HPET counter, times 10 ns, does not fit in 64 bits.
    #[error("HPET counter {0:#x} overflows")]
    Counter(u64),
    /// The watchdog is not where the oracle put it.
    #[error("expected the i6300esb watchdog at PCI 00:05.0, found id {0:#010x}")]
    Watchdog(u32),
    /// The boot hop did not stop where it always does.
    #[error("boot stopped at {0} ns, expected {BOOT_CLOCK_NS} ns")]
    Boot(u64),
}

/// Maps an I/O error to [`OracleError::Io`] with `context`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> OracleError {
    let context = context.into();
    move |source| OracleError::Io { context, source }
}
