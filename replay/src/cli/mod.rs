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
pub mod stream;

use std::path::PathBuf;
use std::str::FromStr;

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
