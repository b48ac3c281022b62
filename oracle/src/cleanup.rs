//! What must not outlive the process: the QEMU process groups this process started and
//! its temporary files and directories.
//!
//! Every [`crate::Oracle`] registers its QEMU's process group and its private directory
//! here while it lives (its `Drop` kills the group and removes the directory, and
//! unregisters both). A program that ends on a signal runs no destructors, so its
//! signal handling calls [`run`], which kills every registered group and removes every
//! registered path. Other code registers its own temporary paths with [`Guard::path`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Registry {
    groups: BTreeMap<u64, i32>,
    paths: BTreeMap<u64, PathBuf>,
    /// [`run`] was called: no new directory or process may appear.
    closing: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    groups: BTreeMap::new(),
    paths: BTreeMap::new(),
    closing: false,
});

/// Creates the directory `path` (and its parents) unless [`run`] was called: under the
/// registry's lock, so that a directory made by another thread while the process is being
/// cleaned up either is removed by [`run`] or is never made.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    let r = registry();
    if r.closing {
        return Err(std::io::Error::other("the process is shutting down"));
    }
    std::fs::create_dir_all(path)
}

/// [`create_dir_all`] for one directory (`AlreadyExists` when it exists).
pub(crate) fn create_dir(path: &Path) -> std::io::Result<()> {
    let r = registry();
    if r.closing {
        return Err(std::io::Error::other("the process is shutting down"));
    }
    std::fs::create_dir(path)
}
static NEXT: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A registration, undone on drop (the registered thing itself is left alone: its owner
/// removes it, [`run`] only acts on what is still registered).
#[derive(Debug)]
pub struct Guard(u64);

impl Guard {
    /// Registers a temporary file or directory (removed, recursively, by [`run`]).
    pub fn path(path: &Path) -> Guard {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        registry().paths.insert(id, path.to_path_buf());
        Guard(id)
    }

    /// Registers the process group led by `pid` (killed by [`run`]); `None` once [`run`]
    /// was called (the caller kills the process itself).
    pub(crate) fn group(pid: i32) -> Option<Guard> {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut r = registry();
        if r.closing {
            return None;
        }
        r.groups.insert(id, pid);
        Some(Guard(id))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut r = registry();
        r.groups.remove(&self.0);
        r.paths.remove(&self.0);
    }
}

/// Kills every registered process group (SIGKILL) and removes every registered path.
/// Returns how many groups and paths it acted on. For a program about to exit on a
/// signal; registrations stay (their guards may still be dropped later).
pub fn run() -> (usize, usize) {
    let (groups, paths): (Vec<i32>, Vec<PathBuf>) = {
        let mut r = registry();
        r.closing = true;
        (
            r.groups.values().copied().collect(),
            r.paths.values().cloned().collect(),
        )
    };
    for &pid in &groups {
        // SAFETY: killpg only sends a signal, to a group this process created and whose
        // leader it has not reaped yet (the registration ends before the reaping).
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    for p in &paths {
        if p.is_dir() {
            let _ = std::fs::remove_dir_all(p);
        } else {
            let _ = std::fs::remove_file(p);
        }
    }
    (groups.len(), paths.len())
}

/// The number of registered process groups (for tests).
pub fn live_groups() -> usize {
    registry().groups.len()
}
