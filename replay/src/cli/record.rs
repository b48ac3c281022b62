//! `fdc-replay record-driver-model`: runs a Windows 2000 driver-model workload
//! ([`crate::drivermodel::workloads`]) and records its trace.

use anyhow::bail;
use std::path::PathBuf;

use super::progress::Progress;
use super::MachineArg;
use crate::drivermodel::workloads::{record_file_counted, Target, WORKLOADS};

/// `record-driver-model` arguments.
#[derive(clap::Args, Debug)]
pub struct RecordArgs {
    /// Workload to run (see --list).
    #[arg(long)]
    pub workload: Option<String>,
    /// Output trace.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// List the workloads.
    #[arg(long)]
    pub list: bool,
    /// The machine the driver runs on: `qemu[=PATH]` (every recorded answer is real
    /// QEMU's) or `model`.
    #[arg(long, default_value = "qemu", value_name = "model|qemu[=PATH]")]
    pub machine: MachineArg,
    /// No progress bar (it is drawn on standard error only when that is a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

/// Entry point of `fdc-replay record-driver-model`.
pub fn run_cli(args: RecordArgs) -> anyhow::Result<i32> {
    if args.list {
        for (n, d) in WORKLOADS {
            crate::outln!("{n:<14} {d}")?;
        }
        return Ok(0);
    }
    let Some(name) = args.workload else {
        bail!("--workload NAME is required (see --list)")
    };
    let Some(out) = args.output else {
        bail!("-o OUT.fdctrace is required")
    };
    let target = match &args.machine {
        MachineArg::Model => Target::Model,
        m @ MachineArg::Qemu(_) => Target::Qemu(m.qemu_binary()),
    };
    let recorder = std::env::args().collect::<Vec<_>>().join(" ");
    // A trace cut short by a signal is removed like one cut short by an error.
    let cleanup = fdc_oracle::cleanup::Guard::path(&out);
    let progress = Progress::events(&format!("record-driver-model {name}"), None, args.quiet);
    let recorded = record_file_counted(&name, &out, &recorder, &target, progress.callback());
    progress.finish();
    let s = match recorded {
        Ok(s) => s,
        Err(e) => {
            // Do not leave a truncated trace behind.
            let _ = std::fs::remove_file(&out);
            return Err(e.into());
        }
    };
    drop(cleanup);
    crate::outln!("{name}: {} events ({} commands, {} transfers, {} IRPs, {} retries; {} recording(s) for an exact one) -> {}",
        s.events, s.stats.commands, s.stats.transfers, s.stats.irps, s.stats.retries, s.attempts, out.display())?;
    Ok(0)
}
