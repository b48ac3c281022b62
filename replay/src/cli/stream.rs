//! `fdc-replay stream show|drop|set|add`: inspect and edit QEMU 7.2 migration streams
//! (see [`fdc_oracle::stream`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

use fdc_oracle::stream::{self, show, Edit, MigrationStream, SectionRef};

/// Inspect or edit a QEMU 7.2 migration stream (the file `migrate` to `exec:cat > FILE`
/// writes): its header, configuration, ram and device sections, the fdc section's
/// subsections and fields, and the vmdesc JSON at its end.
///
/// Edits change only the bytes they name and keep the vmdesc consistent (subsection lists,
/// struct sizes, its length prefix), so `drop` then `add` of the same value gives back the
/// original file byte for byte. Every error names the file and the byte offset; the exit
/// status is 1 on any error.
#[derive(clap::Args, Debug)]
pub struct StreamArgs {
    #[command(subcommand)]
    pub command: StreamCommand,
}

/// The `stream` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum StreamCommand {
    /// List every section with its offset and size; for `fdc`, its subsections and fields.
    ///
    /// `--format json` prints one JSON document (format "fdc-replay-stream/1", documented
    /// in `oracle::stream::show`): `.fdc.sent` lists the fdc subsections the stream
    /// carries, `.fdc.subsections` each record with its drive, offset, size and value,
    /// `.fdc.state` every decoded field, `.sections` every record of the stream.
    Show(ShowArgs),
    /// Write the stream with a subsection removed (every record of it, or one drive's).
    Drop(DropArgs),
    /// Write the stream with fields replaced.
    Set(SetArgs),
    /// Write the stream with a subsection added (fdc section only), in QEMU's order.
    Add(AddArgs),
}

/// Output format of `stream show`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ShowFormat {
    #[default]
    Text,
    Json,
}

/// `stream show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The migration stream.
    pub file: PathBuf,
    /// `text` (a listing) or `json` (stable, for scripts).
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    pub format: ShowFormat,
}

/// `stream drop`.
#[derive(clap::Args, Debug)]
pub struct DropArgs {
    /// The migration stream.
    pub file: PathBuf,
    /// Subsection to remove, e.g. `fdc/reset_sensei`, `fdrive/media_changed`
    /// (repeatable).
    #[arg(long = "subsection", value_name = "NAME", required = true)]
    pub subsections: Vec<String>,
    /// Only this drive's record (0 or 1) of an `fdrive/*` subsection.
    #[arg(long)]
    pub drive: Option<usize>,
    /// Device section to edit: `NAME` or `NAME:INSTANCE` (default `fdc`).
    #[arg(long, value_name = "NAME[:INSTANCE]", default_value = "fdc")]
    pub section: SectionRef,
    /// Where to write the edited stream.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

/// `stream set`.
#[derive(clap::Args, Debug)]
pub struct SetArgs {
    /// The migration stream.
    pub file: PathBuf,
    /// `PATH=VALUE` (repeatable). PATH: `msr`, `drives[0].track`, `fifo[3]`, or the
    /// field of a present subsection (`reset_sensei`, `drives[1].media_rate`, `phase`).
    /// VALUE: decimal or 0x-hex (negative for signed fields), `true`/`false`, or
    /// `hex:BYTES` for any field of that many bytes.
    #[arg(long = "field", value_name = "PATH=VALUE", required = true)]
    pub fields: Vec<String>,
    /// Device section to edit: `NAME` or `NAME:INSTANCE` (default `fdc`).
    #[arg(long, value_name = "NAME[:INSTANCE]", default_value = "fdc")]
    pub section: SectionRef,
    /// Where to write the edited stream.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

/// `stream add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The migration stream.
    pub file: PathBuf,
    /// `NAME=VALUE`, e.g. `fdc/phase=2`, `fdrive/perpendicular=1`, `fdc/result_timer=-1`.
    #[arg(long = "subsection", value_name = "NAME=VALUE", required = true)]
    pub subsection: String,
    /// Add an `fdrive/*` subsection to this drive only (default: every drive lacking it).
    #[arg(long)]
    pub drive: Option<usize>,
    /// Device section to edit (only `fdc` has known subsection layouts).
    #[arg(long, value_name = "NAME[:INSTANCE]", default_value = "fdc")]
    pub section: SectionRef,
    /// Where to write the edited stream.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
}

fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

fn write_edited(input: &Path, out: &Path, before: &[u8], after: &[u8]) -> anyhow::Result<()> {
    let tmp = out.with_extension("fdc-replay-tmp");
    std::fs::write(&tmp, after).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    let names = |b: &[u8]| {
        stream::find_fdc_section(b)
            .map(|s| s.subsections.join(", "))
            .unwrap_or_else(|_| "-".into())
    };
    eprintln!(
        "{}: {} bytes -> {}: {} bytes; fdc subsections [{}] -> [{}]",
        input.display(),
        before.len(),
        out.display(),
        after.len(),
        names(before),
        names(after)
    );
    Ok(())
}

fn edit(file: &Path, out: &Path, edits: &[Edit]) -> anyhow::Result<i32> {
    let bytes = read(file)?;
    let edited = stream::apply_all(&bytes, edits).with_context(|| file.display().to_string())?;
    write_edited(file, out, &bytes, &edited)?;
    Ok(0)
}

/// Runs a `stream` subcommand.
pub fn run(args: StreamArgs) -> anyhow::Result<i32> {
    match args.command {
        StreamCommand::Show(a) => {
            let bytes = read(&a.file)?;
            let parsed =
                MigrationStream::parse(&bytes).with_context(|| a.file.display().to_string())?;
            let name = a.file.display().to_string();
            match a.format {
                ShowFormat::Text => crate::out!("{}", show::to_text(&parsed, &name))?,
                ShowFormat::Json => crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&show::to_json(&parsed, Some(&name)))?
                )?,
            }
            Ok(0)
        }
        StreamCommand::Drop(a) => {
            let edits: Vec<Edit> = a
                .subsections
                .iter()
                .map(|name| Edit::Drop {
                    section: a.section.clone(),
                    name: name.clone(),
                    drive: a.drive,
                })
                .collect();
            edit(&a.file, &a.output, &edits)
        }
        StreamCommand::Set(a) => {
            let edits = a
                .fields
                .iter()
                .map(|f| {
                    let (path, value) = f.split_once('=').with_context(|| {
                        format!("--field {f}: expected PATH=VALUE, e.g. msr=0x80")
                    })?;
                    Ok(Edit::Set {
                        section: a.section.clone(),
                        path: path.trim().into(),
                        value: value.trim().into(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            edit(&a.file, &a.output, &edits)
        }
        StreamCommand::Add(a) => {
            let (name, value) = a.subsection.split_once('=').with_context(|| {
                format!(
                    "--subsection {}: expected NAME=VALUE, e.g. fdc/phase=2",
                    a.subsection
                )
            })?;
            edit(
                &a.file,
                &a.output,
                &[Edit::Add {
                    section: a.section.clone(),
                    name: name.trim().into(),
                    value: value.trim().into(),
                    drive: a.drive,
                }],
            )
        }
    }
}
