//! Sizes of the usual PC floppy formats, so a command line can say `720K` instead of
//! `737280`. The sizes are cylinders × heads × sectors per track × 512.

/// A known format: its canonical name, other names, and size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    /// Canonical name (`1.44M`).
    pub name: &'static str,
    /// Other accepted names.
    pub aliases: &'static [&'static str],
    /// Cylinders.
    pub cylinders: u32,
    /// Heads.
    pub heads: u32,
    /// Sectors per track.
    pub sectors: u32,
}

impl Format {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors) * 512
    }
}

/// The geometry table.
pub const FORMATS: &[Format] = &[
    Format {
        name: "160K",
        aliases: &[],
        cylinders: 40,
        heads: 1,
        sectors: 8,
    },
    Format {
        name: "180K",
        aliases: &[],
        cylinders: 40,
        heads: 1,
        sectors: 9,
    },
    Format {
        name: "320K",
        aliases: &[],
        cylinders: 40,
        heads: 2,
        sectors: 8,
    },
    Format {
        name: "360K",
        aliases: &[],
        cylinders: 40,
        heads: 2,
        sectors: 9,
    },
    Format {
        name: "720K",
        aliases: &[],
        cylinders: 80,
        heads: 2,
        sectors: 9,
    },
    Format {
        name: "800K",
        aliases: &[],
        cylinders: 80,
        heads: 2,
        sectors: 10,
    },
    Format {
        name: "820K",
        aliases: &[],
        cylinders: 82,
        heads: 2,
        sectors: 10,
    },
    Format {
        name: "1.2M",
        aliases: &["1200K", "1.2MB"],
        cylinders: 80,
        heads: 2,
        sectors: 15,
    },
    Format {
        name: "1.44M",
        aliases: &["1440K", "1.44MB"],
        cylinders: 80,
        heads: 2,
        sectors: 18,
    },
    Format {
        name: "1.6M",
        aliases: &["1600K"],
        cylinders: 80,
        heads: 2,
        sectors: 20,
    },
    Format {
        name: "1.64M",
        aliases: &["1640K"],
        cylinders: 82,
        heads: 2,
        sectors: 20,
    },
    Format {
        name: "1.68M",
        aliases: &["1680K", "1.68MB"],
        cylinders: 80,
        heads: 2,
        sectors: 21,
    },
    Format {
        name: "1.72M",
        aliases: &["1720K", "1.72MB"],
        cylinders: 82,
        heads: 2,
        sectors: 21,
    },
    Format {
        name: "2.88M",
        aliases: &["2880K", "2.88MB"],
        cylinders: 80,
        heads: 2,
        sectors: 36,
    },
];

/// Looks up a format by name (case-insensitive; `KB`/`MB` suffixes accepted).
pub fn by_name(name: &str) -> Option<&'static Format> {
    let n = name.trim().to_ascii_uppercase();
    let n = n
        .strip_suffix('B')
        .filter(|s| s.ends_with('K') || s.ends_with('M'))
        .unwrap_or(&n);
    FORMATS.iter().find(|f| {
        f.name.eq_ignore_ascii_case(n)
            || f.aliases
                .iter()
                .any(|a| a.trim_end_matches('B').eq_ignore_ascii_case(n))
    })
}

/// The format of a given size, if it is in the table.
pub fn by_size(size: u64) -> Option<&'static Format> {
    FORMATS.iter().find(|f| f.size() == size)
}

/// Parses a size: a format name from the table or a plain byte count.
/// Returns the size and the format name when the table knows it.
pub fn parse_size(s: &str) -> Option<(u64, Option<&'static str>)> {
    let s = s.trim();
    if let Some(f) = by_name(s) {
        return Some((f.size(), Some(f.name)));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = s.parse().ok()?;
        return Some((n, by_size(n).map(|f| f.name)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_sizes() {
        let cases = [
            ("1.44M", 1474560),
            ("720K", 737280),
            ("2.88M", 2949120),
            ("1.2M", 1228800),
            ("360K", 368640),
            ("1.68M", 1720320),
            ("1.72M", 1763328),
            ("820K", 839680),
            ("1.44mb", 1474560),
            ("1440K", 1474560),
        ];
        for (name, size) in cases {
            assert_eq!(parse_size(name).map(|p| p.0), Some(size), "{name}");
        }
        assert_eq!(parse_size("1474560"), Some((1474560, Some("1.44M"))));
        assert_eq!(parse_size("1000"), Some((1000, None)));
        assert_eq!(parse_size("1.44X"), None);
        assert_eq!(parse_size(""), None);
    }
}
