//! The trace's drive table as the `fdc` model's configuration: the conversions at the
//! boundary between the two crates, refusing what the model cannot represent.

use crate::format::{Drive, DriveType, Medium, TraceHeader};

/// Why a trace's drives cannot be set up on the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// A drive unit other than 0 and 1.
    #[error(
        "drive unit {0} cannot be replayed: the PC floppy controller model has units 0 and 1 only"
    )]
    Unit(u8),
    /// A drive type other than `auto`.
    #[error(
        "drive {unit}: drive type {drive_type:?} cannot be replayed: the model picks the drive \
         type from the medium, as QEMU's default (auto) does"
    )]
    DriveType {
        /// The drive unit.
        unit: u8,
        /// The type the trace asks for.
        drive_type: DriveType,
    },
}

/// The medium a replay starts with: the embedded image when the trace has it, else a
/// blank medium of the recorded size (its reads then give zeros).
impl From<&Medium> for fdc::Medium {
    fn from(m: &Medium) -> fdc::Medium {
        match &m.image {
            Some(img) => fdc::Medium::from_bytes(img, m.read_only),
            None => fdc::Medium::blank(m.size, m.read_only),
        }
    }
}

/// A present drive: empty, or with its starting medium. Only `auto` drives convert (the
/// model resolves the type from the medium as QEMU does for `auto`).
impl TryFrom<&Drive> for fdc::DriveConfig {
    type Error = SetupError;

    fn try_from(d: &Drive) -> Result<fdc::DriveConfig, SetupError> {
        if d.drive_type != DriveType::Auto {
            return Err(SetupError::DriveType {
                unit: d.unit,
                drive_type: d.drive_type,
            });
        }
        Ok(match &d.medium {
            None => fdc::DriveConfig::Empty,
            Some(m) => fdc::DriveConfig::Medium(m.into()),
        })
    }
}

impl TraceHeader {
    /// The configuration of the model's two drive slots (absent unless listed).
    pub fn drive_configs(&self) -> Result<[fdc::DriveConfig; 2], SetupError> {
        let mut cfg = [fdc::DriveConfig::Absent, fdc::DriveConfig::Absent];
        for d in &self.drives {
            let Some(slot) = cfg.get_mut(usize::from(d.unit)) else {
                return Err(SetupError::Unit(d.unit));
            };
            *slot = d.try_into()?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auto_drives_of_units_0_and_1_convert() {
        let drive = |unit, drive_type| Drive {
            unit,
            drive_type,
            medium: Some(Medium {
                size: 737_280,
                ..Medium::default()
            }),
        };
        let h = TraceHeader {
            drives: vec![drive(1, DriveType::Auto)],
            ..TraceHeader::default()
        };
        let [a, b] = h.drive_configs().unwrap();
        assert_eq!(a, fdc::DriveConfig::Absent);
        assert_eq!(
            b,
            fdc::DriveConfig::Medium(fdc::Medium::blank(737_280, false))
        );
        let h = TraceHeader {
            drives: vec![drive(0, DriveType::Fd144)],
            ..TraceHeader::default()
        };
        assert!(matches!(
            h.drive_configs(),
            Err(SetupError::DriveType { unit: 0, .. })
        ));
        let h = TraceHeader {
            drives: vec![drive(2, DriveType::Auto)],
            ..TraceHeader::default()
        };
        assert_eq!(h.drive_configs(), Err(SetupError::Unit(2)));
    }
}
