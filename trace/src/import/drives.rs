//! The drive table of an import: what the recorded QEMU had in its two floppy slots,
//! parsed from `N=SPEC[,ro][,type=auto|144|288|120]` arguments.

use super::error::ImportError;
use crate::format::{DriveType, MAX_MEDIUM_BYTES};
use crate::geometry;
use std::path::Path;

/// A drive slot as the recorded machine had it.
#[derive(Debug, Clone)]
pub enum DriveSetup {
    /// No drive in the slot.
    Absent,
    /// A drive, with or without a medium.
    Present {
        /// The drive type QEMU was given (`fdtypeA`/`fdtypeB`).
        drive_type: DriveType,
        /// The medium inserted at the start, `None` for an empty drive.
        medium: Option<MediumSetup>,
    },
}

/// A medium of the drive table.
#[derive(Debug, Clone)]
pub struct MediumSetup {
    /// Format name from the geometry table, when the size is in it.
    pub format: Option<&'static str>,
    /// Size in bytes.
    pub size: u64,
    /// Whether the medium was write-protected.
    pub read_only: bool,
    /// Content of an image file given by path.
    pub image: Option<Vec<u8>>,
}

impl DriveSetup {
    /// QEMU's default for slot 0 with `-drive if=floppy`: a drive with a 1.44 MB medium.
    pub fn default_drive0() -> DriveSetup {
        DriveSetup::Present {
            drive_type: DriveType::Auto,
            medium: Some(MediumSetup {
                format: Some("1.44M"),
                size: 1_474_560,
                read_only: false,
                image: None,
            }),
        }
    }

    /// Parses `N=SPEC[,ro][,type=...]`: N is 0 or 1; SPEC a size (a format name or a byte
    /// count), `none`, `empty`, or an image file path (a size name wins over a file of
    /// that name). Returns the unit and the setup.
    pub fn parse_arg(arg: &str) -> Result<(u8, DriveSetup), ImportError> {
        let fail = |msg: String| ImportError::Drive {
            arg: arg.to_string(),
            msg,
        };
        let (unit, spec) = arg
            .split_once('=')
            .ok_or_else(|| fail("expected N=SPEC, e.g. 0=1.44M".into()))?;
        let unit: u8 = match unit.trim() {
            "0" => 0,
            "1" => 1,
            other => {
                return Err(fail(format!(
                    "drive {other:?} is not 0 or 1 (QEMU's floppy controller has two drives)"
                )))
            }
        };
        let (main, read_only, drive_type) = split_options(spec).map_err(fail)?;
        let drive = match main {
            "none" => DriveSetup::Absent,
            "empty" => DriveSetup::Present {
                drive_type,
                medium: None,
            },
            _ => DriveSetup::Present {
                drive_type,
                medium: Some(parse_medium(main, read_only).map_err(fail)?),
            },
        };
        Ok((unit, drive))
    }

    /// The drive table: slot 0 [`DriveSetup::default_drive0`], slot 1 absent,
    /// overridden by `args` (see [`DriveSetup::parse_arg`]).
    pub fn table(args: &[String]) -> Result<[DriveSetup; 2], ImportError> {
        let mut table = [DriveSetup::default_drive0(), DriveSetup::Absent];
        for a in args {
            let (unit, d) = DriveSetup::parse_arg(a)?;
            table[usize::from(unit)] = d;
        }
        Ok(table)
    }
}

/// Splits the trailing options we know (`ro`, `rw`, `type=...`) off a SPEC; the rest is
/// the SPEC itself, so that a path containing commas still works.
fn split_options(spec: &str) -> Result<(&str, bool, DriveType), String> {
    let mut main = spec;
    let mut read_only = false;
    let mut drive_type = DriveType::Auto;
    while let Some((head, opt)) = main.rsplit_once(',') {
        match opt.trim() {
            "ro" => read_only = true,
            "rw" => read_only = false,
            t if t.starts_with("type=") => {
                drive_type = match &t[5..] {
                    "auto" => DriveType::Auto,
                    "144" => DriveType::Fd144,
                    "288" => DriveType::Fd288,
                    "120" => DriveType::Fd120,
                    other => {
                        return Err(format!(
                            "unknown drive type {other:?} (auto, 144, 288, 120)"
                        ))
                    }
                }
            }
            // A path containing commas.
            _ if Path::new(main).exists() => break,
            other => {
                return Err(format!(
                    "unknown drive option {other:?} (known: ro, rw, type=auto|144|288|120)"
                ))
            }
        }
        main = head;
    }
    Ok((main.trim(), read_only, drive_type))
}

/// A medium given as a size or as an image file.
fn parse_medium(main: &str, read_only: bool) -> Result<MediumSetup, String> {
    if let Some((size, format)) = geometry::parse_size(main) {
        if size == 0 || size > MAX_MEDIUM_BYTES {
            return Err(format!(
                "size {size} is out of range 1..={MAX_MEDIUM_BYTES}"
            ));
        }
        return Ok(MediumSetup {
            format,
            size,
            read_only,
            image: None,
        });
    }
    let path = Path::new(main);
    let meta = std::fs::metadata(path).map_err(|e| {
        if !main.is_empty() && main.bytes().all(|b| b.is_ascii_digit()) {
            format!("size {main} is out of range 1..={MAX_MEDIUM_BYTES}")
        } else if main.starts_with(|c: char| c.is_ascii_digit()) {
            format!(
                "{main:?} is not a known size (a byte count, or a format name such as 1.44M, \
720K, 2.88M) and no such file exists"
            )
        } else {
            format!("{main:?} is neither a known size nor a readable file: {e}")
        }
    })?;
    if meta.len() > MAX_MEDIUM_BYTES {
        return Err(format!(
            "{} is {} bytes, more than {MAX_MEDIUM_BYTES}",
            path.display(),
            meta.len()
        ));
    }
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if data.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    let size = data.len() as u64;
    Ok(MediumSetup {
        format: geometry::by_size(size).map(|f| f.name),
        size,
        read_only,
        image: Some(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_specs() {
        let t = DriveSetup::table(&[]).unwrap();
        assert!(
            matches!(&t[0], DriveSetup::Present { medium: Some(m), .. } if m.size == 1_474_560)
        );
        assert!(matches!(t[1], DriveSetup::Absent));
        let (u, d) = DriveSetup::parse_arg("1=720K,ro").unwrap();
        assert_eq!(u, 1);
        assert!(
            matches!(d, DriveSetup::Present { medium: Some(m), .. } if m.size == 737_280 && m.read_only)
        );
        assert!(matches!(
            DriveSetup::parse_arg("0=none").unwrap().1,
            DriveSetup::Absent
        ));
        assert!(matches!(
            DriveSetup::parse_arg("0=empty").unwrap().1,
            DriveSetup::Present { medium: None, .. }
        ));
        assert!(matches!(
            DriveSetup::parse_arg("0=2.88M,type=288").unwrap().1,
            DriveSetup::Present {
                drive_type: DriveType::Fd288,
                ..
            }
        ));
        assert!(DriveSetup::parse_arg("2=1.44M").is_err());
        assert!(DriveSetup::parse_arg("0=/nonexistent/x.img").is_err());
        assert!(DriveSetup::parse_arg("0").is_err());
    }
}
