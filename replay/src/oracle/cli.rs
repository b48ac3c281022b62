//! `fdc-replay oracle` subcommand (placeholder).
#[derive(clap::Args, Debug)]
pub struct OracleArgs {}

pub fn run(_args: OracleArgs) -> anyhow::Result<i32> {
    anyhow::bail!("oracle: not implemented yet")
}
