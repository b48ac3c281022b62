//! Typed errors of the stream parser and editor. Every parse error names the byte offset
//! in the stream where it was detected.

/// Why a migration stream could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The stream ends inside a record.
    #[error("offset {offset}: the stream ends while reading {what}")]
    Truncated {
        /// Where the truncated record starts.
        offset: usize,
        /// What was being read.
        what: String,
    },
    /// The first four bytes are not `QEVM`.
    #[error("offset 0: not a QEMU migration stream (no QEVM magic)")]
    BadMagic,
    /// A stream version other than 3.
    #[error("offset 4: stream version {0}, only version 3 (QEMU 2.x and later) is supported")]
    BadVersion(u32),
    /// A record that QEMU's loader would refuse, or that contradicts the rest of the stream.
    #[error("offset {offset}: {reason}")]
    Malformed {
        /// Where the record starts.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A valid record this parser does not handle (multifd, RDMA hooks, postcopy commands,
    /// iterative sections other than `ram`).
    #[error("offset {offset}: unsupported: {what}")]
    Unsupported {
        /// Where the record starts.
        offset: usize,
        /// What it is.
        what: String,
    },
    /// A record of the `ram` section that `ram_load_precopy` would refuse.
    #[error("offset {offset}: ram section: {reason}")]
    Ram {
        /// Where the record starts.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The vmdesc JSON at the end of the stream is missing its parts or is not JSON.
    #[error("offset {offset}: vmdesc: {reason}")]
    Vmdesc {
        /// Stream offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A device section needs the vmdesc to be walked and the stream has none.
    #[error("offset {offset}: device section `{section}` cannot be walked: the stream has no vmdesc JSON")]
    NoVmdesc {
        /// Where the section starts.
        offset: usize,
        /// The section's name.
        section: String,
    },
    /// A device section's bytes disagree with its vmdesc description.
    #[error(
        "offset {offset}: section `{section}` disagrees with its vmdesc description: {reason}"
    )]
    VmdescMismatch {
        /// Where the disagreement was found.
        offset: usize,
        /// The section's name.
        section: String,
        /// What disagrees.
        reason: String,
    },
    /// The `fdc` section does not decode with the controller's layout (`fdc::wire`).
    #[error("offset {offset}: fdc section: {reason}")]
    Fdc {
        /// Stream offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The stream has no `fdc` section.
    #[error("the migration stream has no `fdc` section")]
    NoFdcSection,
}

impl StreamError {
    /// The stream offset the error names, if any.
    pub fn offset(&self) -> Option<usize> {
        match self {
            StreamError::Truncated { offset, .. }
            | StreamError::Malformed { offset, .. }
            | StreamError::Unsupported { offset, .. }
            | StreamError::Ram { offset, .. }
            | StreamError::Vmdesc { offset, .. }
            | StreamError::NoVmdesc { offset, .. }
            | StreamError::VmdescMismatch { offset, .. }
            | StreamError::Fdc { offset, .. } => Some(*offset),
            StreamError::BadMagic => Some(0),
            StreamError::BadVersion(_) => Some(4),
            StreamError::NoFdcSection => None,
        }
    }
}

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The input stream does not parse.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// No device section with that name (and instance id).
    #[error("no device section `{0}` in the stream")]
    NoSection(String),
    /// The named subsection is not in the section (or not in that drive).
    #[error("section `{section}` has no subsection `{name}`{}", drive_note(*.drive))]
    NoSubsection {
        /// The section.
        section: String,
        /// The subsection.
        name: String,
        /// The drive asked for.
        drive: Option<usize>,
    },
    /// The subsection to add is already there.
    #[error("section `{section}` already has subsection `{name}`{}", drive_note(*.drive))]
    AlreadyPresent {
        /// The section.
        section: String,
        /// The subsection.
        name: String,
        /// The drive asked for.
        drive: Option<usize>,
    },
    /// A subsection this editor does not know how to lay out (only the fdc's six).
    #[error("cannot add `{name}` to section `{section}`: its layout is known only for the fdc's subsections (fdc/phase, fdc/reset_sensei, fdc/result_timer, fdrive/media_changed, fdrive/media_rate, fdrive/perpendicular)")]
    UnknownLayout {
        /// The section.
        section: String,
        /// The subsection.
        name: String,
    },
    /// `--drive` given for a subsection that is not a drive's, or a drive other than 0/1.
    #[error("{0}")]
    BadDrive(String),
    /// No field at that path.
    #[error("section `{section}` has no field `{path}`{hint}")]
    NoField {
        /// The section.
        section: String,
        /// The path asked for.
        path: String,
        /// Extra advice (e.g. the subsection holding it is absent).
        hint: String,
    },
    /// The value does not fit the field.
    #[error("field `{path}`: bad value `{value}`: {reason}")]
    BadValue {
        /// The field.
        path: String,
        /// The value given.
        value: String,
        /// Why it does not fit.
        reason: String,
    },
    /// The section's vmdesc description disagrees with its bytes, so it cannot be kept
    /// consistent by an edit.
    #[error("offset {offset}: section `{section}`: its vmdesc description disagrees with its bytes ({reason}); refusing to edit it")]
    InconsistentVmdesc {
        /// The section.
        section: String,
        /// Where.
        offset: usize,
        /// The disagreement.
        reason: String,
    },
    /// The edited stream failed its own re-parse: a bug in the editor.
    #[error("internal error: the edited stream does not parse back: {0}")]
    Internal(String),
}

fn drive_note(drive: Option<usize>) -> String {
    drive.map(|d| format!(" in drive {d}")).unwrap_or_default()
}
