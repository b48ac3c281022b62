//! Command-line front ends that live outside the analysis modules.

pub mod import;
pub mod oracle;
