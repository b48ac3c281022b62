//! `fdc-replay oracle`: run a small script of port operations against real QEMU (or, with
//! `--machine model`, against the model, through the same [`Machine`] interface) and
//! print what it answered, so a disagreement with the model can be reproduced by hand.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use fdc::machine::{DmaAddress, Machine};
use fdc::{wire, Fdc, Medium, PcFloppy};
use serde_json::{json, Value};

use super::MachineArg;
use fdc_oracle::{find_qemu, DriveSpec, Oracle, OracleConfig, OracleError, BOOT_CLOCK_NS};

/// Output format of the result lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// One readable line per script line.
    #[default]
    Text,
    /// One JSON object per script line.
    Json,
}

/// Runs a script of port operations against real QEMU (`qemu-system-x86_64` 7.2).
///
/// Script lines: `outb PORT VAL`, `inb PORT`, `outw PORT VAL`, `inw PORT`, `advance NS`,
/// `clock`, `irq`, `dma ADDR COUNT MODE` (COUNT = bytes - 1), `dmamask 0|1`, `dmareq`,
/// `writemem ADDR HEX`, `readmem ADDR LEN`, `eject N`, `change N IMAGE [ro]` (inserts a
/// copy of IMAGE), `migrate`, `# comment`. Numbers are decimal or 0x-hex. Without a
/// script, runs a short demo.
#[derive(clap::Args, Debug)]
pub struct OracleArgs {
    /// Script file (`-` for stdin); without it a demo runs.
    pub script: Option<PathBuf>,
    /// Drive setup, repeatable: `N=none`, `N=empty`, `N=blank` or `N=IMAGE[,ro][,in-place]`.
    /// IMAGE (at most 64 MiB) is copied to a private file that QEMU uses, so the script
    /// never changes it; with `,in-place` QEMU opens IMAGE itself and the guest's writes
    /// change it. Default: drive 0 a fresh zero-filled 1.44 MB image, drive 1 absent.
    #[arg(long = "drive", value_name = "N=SPEC")]
    pub drives: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// QEMU binary (default: $FDC_QEMU or qemu-system-x86_64).
    #[arg(long)]
    pub qemu: Option<PathBuf>,
    /// The machine the script runs on: `qemu[=PATH]`, or `model` (started at QEMU's boot
    /// time, so that clocks read alike).
    #[arg(long, default_value = "qemu", value_name = "model|qemu[=PATH]")]
    pub machine: MachineArg,
}

/// Demo: reset, the four SENSE INTERRUPTs, a SEEK to track 5 and a migration.
const DEMO: &str = "\
# DOR reset
outb 0x3f2 0x08
outb 0x3f2 0x0c
inb 0x3f4
# SENSE INTERRUPT x4 (one per drive after a reset)
outb 0x3f5 0x08
inb 0x3f4
inb 0x3f5
inb 0x3f5
outb 0x3f5 0x08
inb 0x3f5
inb 0x3f5
outb 0x3f5 0x08
inb 0x3f5
inb 0x3f5
outb 0x3f5 0x08
inb 0x3f5
inb 0x3f5
inb 0x3f4
# SEEK drive 0 to track 5
outb 0x3f5 0x0f
outb 0x3f5 0x00
outb 0x3f5 0x05
irq
# SENSE INTERRUPT, then migrate in its result phase
outb 0x3f5 0x08
inb 0x3f4
migrate
inb 0x3f5
inb 0x3f5
inb 0x3f4
advance 1000000
clock
";

pub fn run(args: OracleArgs) -> anyhow::Result<i32> {
    let drives = parse_drives(&args.drives)?;
    let lines = parse_script(read_script(args.script.as_deref())?.as_str())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match &args.machine {
        MachineArg::Model => {
            let [c0, c1] = [drives[0].to_config()?, drives[1].to_config()?];
            let mut pc = PcFloppy::new(Fdc::new(c0, c1));
            pc.advance_ns(BOOT_CLOCK_NS)?;
            run_script(&mut pc, &lines, args.format, &mut out)
        }
        MachineArg::Qemu(path) => {
            let qemu = path
                .clone()
                .or(args.qemu.clone())
                .unwrap_or_else(|| args.machine.qemu_binary());
            if let Err(e) = find_qemu(&qemu) {
                eprintln!("fdc-replay oracle: {e}");
                return Ok(2);
            }
            let cfg = OracleConfig {
                qemu,
                drives,
                ..Default::default()
            };
            let mut oracle = match Oracle::start(cfg) {
                Ok(o) => o,
                Err(e @ OracleError::QemuNotFound(_)) => {
                    eprintln!("fdc-replay oracle: {e}");
                    return Ok(2);
                }
                Err(e) => return Err(e).context("starting QEMU"),
            };
            run_script(&mut oracle, &lines, args.format, &mut out)
        }
    }
}

/// The script's text: the demo, standard input (`-`) or a file.
fn read_script(path: Option<&std::path::Path>) -> anyhow::Result<String> {
    Ok(match path {
        None => DEMO.to_string(),
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the script from stdin")?;
            s
        }
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
    })
}

/// Parses every line first, so a typo does not waste a QEMU start.
fn parse_script(script: &str) -> anyhow::Result<Vec<ScriptLine>> {
    script
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            parse_line(line)
                .transpose()
                .map(|r| r.with_context(|| format!("script line {}: {line}", i + 1)))
        })
        .collect()
}

/// Runs the script on `m`, one result line per script line.
fn run_script<M: Machine>(
    m: &mut M,
    lines: &[ScriptLine],
    format: Format,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    for line in lines {
        let result = run_line(m, line).with_context(|| format!("`{}`", line.text))?;
        let text = match format {
            Format::Json => result.to_string(),
            Format::Text => text_line(&result),
        };
        writeln!(out, "{text}")?;
    }
    Ok(0)
}

fn parse_drives(specs: &[String]) -> anyhow::Result<[DriveSpec; 2]> {
    let mut drives = [DriveSpec::Blank, DriveSpec::Absent];
    for spec in specs {
        let (n, what) = spec
            .split_once('=')
            .ok_or_else(|| anyhow!("--drive {spec}: expected N=SPEC"))?;
        let n: usize = match n {
            "0" => 0,
            "1" => 1,
            _ => bail!("--drive {spec}: drive must be 0 or 1"),
        };
        drives[n] = match what {
            "none" => DriveSpec::Absent,
            "empty" => DriveSpec::Empty,
            "blank" => DriveSpec::Blank,
            path => image_spec(path)?,
        };
    }
    Ok(drives)
}

/// `IMAGE[,ro][,in-place]` (the options in any order): a copy of IMAGE, or with
/// `in-place` the file itself.
fn image_spec(spec: &str) -> anyhow::Result<DriveSpec> {
    let (mut path, mut read_only, mut in_place) = (spec, false, false);
    loop {
        if let Some(p) = path.strip_suffix(",ro") {
            (path, read_only) = (p, true);
        } else if let Some(p) = path.strip_suffix(",in-place") {
            (path, in_place) = (p, true);
        } else {
            break;
        }
    }
    let path = PathBuf::from(path);
    if in_place {
        return Ok(DriveSpec::Image { path, read_only });
    }
    let image = fdc_oracle::read_image(&path)?;
    Ok(DriveSpec::Medium(Medium::from_image(image, read_only)))
}

/// One script line.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptLine {
    /// What it asks for.
    pub cmd: ScriptCmd,
    /// The line as written (without its comment).
    pub text: String,
}

/// What a script line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptCmd {
    /// `outb PORT VAL`
    Outb(u16, u8),
    /// `inb PORT`
    Inb(u16),
    /// `outw PORT VAL`
    Outw(u16, u16),
    /// `inw PORT`
    Inw(u16),
    /// `advance NS`
    Advance(u64),
    /// `clock`
    Clock,
    /// `irq`
    Irq,
    /// `dma ADDR COUNT MODE`
    Dma(DmaAddress, u16, u8),
    /// `dmamask 0|1`
    DmaMask(bool),
    /// `dmareq`
    DmaReq,
    /// `writemem ADDR HEX`
    WriteMem(u64, Vec<u8>),
    /// `readmem ADDR LEN`
    ReadMem(u64, usize),
    /// `eject N`
    Eject(u8),
    /// `change N IMAGE [ro]`
    Change(u8, PathBuf, bool),
    /// `migrate`
    Migrate,
}

fn num<T: TryFrom<u64>>(word: Option<&str>, what: &str) -> anyhow::Result<T> {
    let w = word.ok_or_else(|| anyhow!("missing {what}"))?;
    let v = match w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => w.replace('_', "").parse::<u64>(),
    }
    .with_context(|| format!("{what} `{w}` is not a number"))?;
    T::try_from(v).map_err(|_| anyhow!("{what} `{w}` is out of range"))
}

fn hex_bytes(w: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let w = w.ok_or_else(|| anyhow!("missing HEX data"))?;
    let w = w.strip_prefix("0x").unwrap_or(w);
    if w.len() % 2 != 0 {
        bail!("HEX data `{w}` has an odd number of digits");
    }
    (0..w.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&w[i..i + 2], 16).with_context(|| format!("bad HEX data `{w}`"))
        })
        .collect()
}

/// Parses one script line; `None` for blank lines and comments.
pub fn parse_line(line: &str) -> anyhow::Result<Option<ScriptLine>> {
    let text = line.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    let mut w = text.split_whitespace();
    let word = w.next().unwrap_or("");
    let cmd = match word {
        "outb" => ScriptCmd::Outb(num(w.next(), "PORT")?, num(w.next(), "VAL")?),
        "inb" => ScriptCmd::Inb(num(w.next(), "PORT")?),
        "outw" => ScriptCmd::Outw(num(w.next(), "PORT")?, num(w.next(), "VAL")?),
        "inw" => ScriptCmd::Inw(num(w.next(), "PORT")?),
        "advance" => ScriptCmd::Advance(num(w.next(), "NS")?),
        "clock" => ScriptCmd::Clock,
        "irq" => ScriptCmd::Irq,
        "dma" => ScriptCmd::Dma(
            DmaAddress::try_from(num::<u32>(w.next(), "ADDR")?)?,
            num(w.next(), "COUNT")?,
            num(w.next(), "MODE")?,
        ),
        "dmamask" => ScriptCmd::DmaMask(num::<u8>(w.next(), "0|1")? != 0),
        "dmareq" => ScriptCmd::DmaReq,
        "writemem" => ScriptCmd::WriteMem(num(w.next(), "ADDR")?, hex_bytes(w.next())?),
        "readmem" => ScriptCmd::ReadMem(num(w.next(), "ADDR")?, num(w.next(), "LEN")?),
        "eject" => ScriptCmd::Eject(num(w.next(), "N")?),
        "change" => {
            let n = num(w.next(), "N")?;
            let image = PathBuf::from(w.next().ok_or_else(|| anyhow!("missing IMAGE"))?);
            let ro = match w.next() {
                None => false,
                Some("ro") => true,
                Some(other) => bail!("expected `ro`, got `{other}`"),
            };
            ScriptCmd::Change(n, image, ro)
        }
        "migrate" => ScriptCmd::Migrate,
        other => bail!("unknown operation `{other}`"),
    };
    if let Some(extra) = w.next() {
        if !matches!(cmd, ScriptCmd::Change(..)) {
            bail!("unexpected `{extra}`");
        }
    }
    Ok(Some(ScriptLine {
        cmd,
        text: text.to_string(),
    }))
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one script line on `m` and describes the result.
fn run_line<M: Machine>(m: &mut M, line: &ScriptLine) -> anyhow::Result<Value> {
    let mut v = match &line.cmd {
        ScriptCmd::Outb(p, x) => {
            m.outb(*p, *x)?;
            json!({"op": "outb", "port": p, "value": x})
        }
        ScriptCmd::Inb(p) => json!({"op": "inb", "port": p, "value": m.inb(*p)?}),
        ScriptCmd::Outw(p, x) => {
            m.outw(*p, *x)?;
            json!({"op": "outw", "port": p, "value": x})
        }
        ScriptCmd::Inw(p) => json!({"op": "inw", "port": p, "value": m.inw(*p)?}),
        ScriptCmd::Advance(ns) => {
            m.advance_ns(*ns)?;
            json!({"op": "advance", "ns": ns, "clock": m.now_ns()?})
        }
        ScriptCmd::Clock => json!({"op": "clock", "clock": m.now_ns()?}),
        ScriptCmd::Irq => json!({"op": "irq"}),
        ScriptCmd::Dma(a, c, mode) => {
            m.dma_program(*a, *c, *mode)?;
            json!({"op": "dma", "addr": a.get(), "count": c, "mode": mode})
        }
        ScriptCmd::DmaMask(masked) => {
            m.dma_mask(*masked)?;
            json!({"op": "dmamask", "masked": masked})
        }
        ScriptCmd::DmaReq => {
            m.dma_request()?;
            json!({"op": "dmareq"})
        }
        ScriptCmd::WriteMem(a, d) => {
            m.write_mem(*a, d)?;
            json!({"op": "writemem", "addr": a, "len": d.len()})
        }
        ScriptCmd::ReadMem(a, n) => {
            json!({"op": "readmem", "addr": a, "data": hex(&m.read_mem(*a, *n)?)})
        }
        ScriptCmd::Eject(n) => {
            m.eject(*n)?;
            json!({"op": "eject", "drive": n})
        }
        ScriptCmd::Change(n, p, ro) => {
            let image = fdc_oracle::read_image(p)?;
            m.insert(*n, &Medium::from_image(image, *ro))?;
            json!({"op": "change", "drive": n, "image": p.display().to_string(), "ro": ro})
        }
        ScriptCmd::Migrate => {
            let clock = m.now_ns()?;
            let state = m.save_state()?;
            let subsections: Vec<&str> = wire::subsection_order(&state)
                .into_iter()
                .map(|s| s.name())
                .collect();
            json!({"op": "migrate", "clock": clock, "subsections": subsections,
                   "fdc_section": hex(&wire::encode(&state))})
        }
    };
    v["irq"] = json!(m.irq()?);
    Ok(v)
}

fn text_line(v: &Value) -> String {
    let op = v["op"].as_str().unwrap_or("?");
    let irq = if v["irq"].as_bool() == Some(true) {
        "irq=1"
    } else {
        "irq=0"
    };
    let port = v["port"].as_u64().unwrap_or(0);
    let val = v["value"].as_u64().unwrap_or(0);
    let body = match op {
        "outb" => format!("outb {port:#05x} <- {val:#04x}"),
        "inb" => format!("inb  {port:#05x} -> {val:#04x}"),
        "outw" => format!("outw {port:#05x} <- {val:#06x}"),
        "inw" => format!("inw  {port:#05x} -> {val:#06x}"),
        "advance" => format!("advance {} ns -> clock {} ns", v["ns"], v["clock"]),
        "clock" => format!("clock {} ns", v["clock"]),
        "irq" => "irq".to_string(),
        "migrate" => {
            let subs: Vec<&str> = v["subsections"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            format!(
                "migrate at {} ns: subsections [{}]\n  fdc section: {}",
                v["clock"],
                subs.join(", "),
                v["fdc_section"].as_str().unwrap_or("")
            )
        }
        "readmem" => format!(
            "readmem {:#x} -> {}",
            v["addr"].as_u64().unwrap_or(0),
            v["data"].as_str().unwrap_or("")
        ),
        _ => {
            let mut o = v.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("irq");
                m.remove("op");
            }
            format!("{op} {o}")
        }
    };
    format!("{body}  {irq}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_script_lines() {
        assert_eq!(parse_line("  # just a comment").unwrap(), None);
        assert_eq!(parse_line("").unwrap(), None);
        let op = parse_line("outb 0x3f2 12 # reset").unwrap().unwrap();
        assert_eq!(op.cmd, ScriptCmd::Outb(0x3f2, 12));
        assert_eq!(
            parse_line("advance 19_999_000").unwrap().unwrap().cmd,
            ScriptCmd::Advance(19_999_000)
        );
        assert_eq!(
            parse_line("writemem 0x1000 0a0B").unwrap().unwrap().cmd,
            ScriptCmd::WriteMem(0x1000, vec![0x0a, 0x0b])
        );
        assert_eq!(
            parse_line("change 1 /x.img ro").unwrap().unwrap().cmd,
            ScriptCmd::Change(1, PathBuf::from("/x.img"), true)
        );
        assert!(parse_line("outb 0x3f2 0x100").is_err());
        assert!(parse_line("frob 1").is_err());
        assert!(parse_line("inb 1 2").is_err());
        for line in DEMO.lines() {
            parse_line(line).unwrap();
        }
    }

    #[test]
    fn parses_drive_specs() {
        let d = parse_drives(&["1=/a,b.img,ro,in-place".into(), "0=empty".into()]).unwrap();
        assert_eq!(d[0], DriveSpec::Empty);
        assert_eq!(
            d[1],
            DriveSpec::Image {
                path: PathBuf::from("/a,b.img"),
                read_only: true
            }
        );
        // Without `in-place`: a copy of the file's content.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x,y.img");
        std::fs::write(&p, [7u8; 1024]).unwrap();
        let d = parse_drives(&[format!("0={},ro", p.display())]).unwrap();
        assert_eq!(
            d[0],
            DriveSpec::Medium(Medium::from_image(vec![7; 1024], true))
        );
        // A device that never ends is refused after the cap.
        let e = parse_drives(&["0=/dev/zero".into()]).unwrap_err();
        assert!(format!("{e:#}").contains("too large"), "{e:#}");
        assert!(parse_drives(&["0=/no/such.img".into()]).is_err());
        assert!(parse_drives(&["2=none".into()]).is_err());
        assert_eq!(
            parse_drives(&[]).unwrap(),
            [DriveSpec::Blank, DriveSpec::Absent]
        );
    }
}
