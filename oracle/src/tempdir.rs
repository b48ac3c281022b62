//! A private directory for one QEMU's files, removed on drop.

use std::fs;
use std::path::{Path, PathBuf};

use crate::OracleError;

/// A private directory removed on drop, so no run leaves files behind.
pub(crate) struct TempDir(
    pub(crate) PathBuf,
    #[allow(dead_code, reason = "held for its Drop")] crate::cleanup::Guard,
);

impl TempDir {
    pub(crate) fn new(parent: Option<&Path>) -> Result<TempDir, OracleError> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for attempt in 0..100u32 {
            let dir = parent.join(format!(
                "fdc-oracle-{}-{nanos:x}-{attempt}",
                std::process::id()
            ));
            match crate::cleanup::create_dir(&dir) {
                Ok(()) => {
                    let guard = crate::cleanup::Guard::path(&dir);
                    return Ok(TempDir(dir, guard));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(OracleError::Io {
                        context: format!("creating {}", dir.display()),
                        source: e,
                    })
                }
            }
        }
        Err(OracleError::Io {
            context: format!("creating a temporary directory in {}", parent.display()),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
