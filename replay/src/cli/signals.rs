//! SIGINT, SIGTERM and SIGHUP end `fdc-replay` cleanly: the QEMU process groups it
//! started (each in its own group, so a terminal's Ctrl-C does not reach them) are
//! killed and its temporary files and directories removed ([`fdc_oracle::cleanup`]),
//! then it exits with 128 + the signal number, as a shell reports a signal.
//!
//! The signals are blocked in every thread (threads inherit the mask of the thread that
//! creates them, so [`install`] runs first thing in `main`) and taken by one thread in
//! `sigwait`, where the cleanup runs as ordinary code, not in a signal handler. Child
//! processes start with an empty mask (the standard library resets it when spawning).

use std::sync::atomic::{AtomicBool, Ordering};

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Set (before the cleanup kills anything) once a signal arrived.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Ends the process with `code`, unless a signal arrived: then the signal thread is
/// cleaning up and ends the process itself (with 128 + the signal), so the caller waits
/// for it. Whatever failed because the cleanup killed QEMU is then not reported.
pub fn exit(code: i32, error: Option<&anyhow::Error>) -> ! {
    if !SIGNALLED.load(Ordering::SeqCst) {
        if let Some(e) = error {
            eprintln!("fdc-replay: {}", super::output::describe(e));
        }
        if !SIGNALLED.load(Ordering::SeqCst) {
            std::process::exit(code);
        }
    }
    loop {
        std::thread::park();
    }
}

/// Blocks the signals and starts the thread that waits for them. Call it before any
/// other thread is started.
pub fn install() {
    // SAFETY: sigemptyset/sigaddset initialise and fill the local set; pthread_sigmask
    // only changes this thread's mask. A zeroed sigset_t is a valid argument for
    // sigemptyset, which initialises it.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        set
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is an initialised signal set and `sig` a valid out-pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                SIGNALLED.store(true, Ordering::SeqCst);
                let (groups, paths) = fdc_oracle::cleanup::run();
                eprintln!(
                    "fdc-replay: {}: stopped {groups} QEMU process group(s), removed {paths} temporary path(s)",
                    signal_name(sig)
                );
                std::process::exit(128 + sig);
            }
        });
    if spawned.is_err() {
        // No waiting thread: unblock again, so the signals keep their default effect.
        // SAFETY: as above, on this thread's mask only.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

fn signal_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGINT => "interrupted (SIGINT)",
        libc::SIGTERM => "terminated (SIGTERM)",
        libc::SIGHUP => "hung up (SIGHUP)",
        _ => "signal",
    }
}
