//! `fdc-replay import` subcommand (placeholder).
#[derive(clap::Args, Debug)]
pub struct ImportArgs {}

pub fn run(_args: ImportArgs) -> anyhow::Result<i32> {
    anyhow::bail!("import: not implemented yet")
}
