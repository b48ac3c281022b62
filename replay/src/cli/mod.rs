//! Command-line front ends: argument structs (clap) and the code that runs them.

pub mod analysis;
pub mod bench;
pub mod conformance;
pub mod import;
pub mod merge;
pub mod oracle;
pub mod output;
pub mod progress;
pub mod record;
pub mod regress;
pub mod signals;
pub mod stream;
pub mod whatif;

use std::path::PathBuf;
use std::str::FromStr;

/// The largest `-j` accepted; a larger value is refused by the argument parser.
pub const MAX_JOBS: u64 = 1024;

/// Threads started per core at most: a larger `-j` is capped to this many per core
/// (more threads than that only add scheduling on a replay that is CPU-bound).
pub const JOBS_PER_CORE: usize = 4;

/// The parser of every `-j`: 1 to [`MAX_JOBS`] (0 and larger values are errors).
pub fn jobs_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_JOBS)
}

/// The cores of this machine (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The threads to start for `-j`: all cores by default, else the value capped at
/// [`JOBS_PER_CORE`] per core (saying so on standard error when it caps).
pub fn effective_jobs(jobs: Option<usize>) -> usize {
    let cores = cores();
    let Some(n) = jobs else { return cores };
    let cap = cores.saturating_mul(JOBS_PER_CORE).max(1);
    if n > cap {
        eprintln!(
            "fdc-replay: -j {n}: starting {cap} threads ({JOBS_PER_CORE} per core on {cores} cores)"
        );
        return cap;
    }
    n.max(1)
}

/// Which machine a command drives: `model` (the `fdc` model) or `qemu[=PATH]` (real QEMU
/// through the oracle; PATH defaults to `$FDC_QEMU`, else `qemu-system-x86_64`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MachineArg {
    /// The model.
    Model,
    /// Real QEMU, this binary or the default one.
    Qemu(Option<PathBuf>),
}

impl MachineArg {
    /// The QEMU binary to use (for [`MachineArg::Qemu`]).
    pub fn qemu_binary(&self) -> PathBuf {
        match self {
            MachineArg::Qemu(Some(p)) => p.clone(),
            _ => fdc_oracle::default_qemu(),
        }
    }
}

impl FromStr for MachineArg {
    type Err = String;

    fn from_str(s: &str) -> Result<MachineArg, String> {
        match s {
            "model" => Ok(MachineArg::Model),
            "qemu" => Ok(MachineArg::Qemu(None)),
            _ => match s.strip_prefix("qemu=") {
                Some(p) if !p.is_empty() => Ok(MachineArg::Qemu(Some(PathBuf::from(p)))),
                _ => Err(format!("{s:?}: expected `model`, `qemu` or `qemu=PATH`")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_args() {
        assert_eq!("model".parse(), Ok(MachineArg::Model));
        assert_eq!("qemu".parse(), Ok(MachineArg::Qemu(None)));
        assert_eq!(
            "qemu=/opt/q/bin/qemu-system-x86_64".parse(),
            Ok(MachineArg::Qemu(Some(PathBuf::from(
                "/opt/q/bin/qemu-system-x86_64"
            ))))
        );
        assert!("qemu=".parse::<MachineArg>().is_err());
        assert!("bochs".parse::<MachineArg>().is_err());
    }
}
