//! The QEMU process: its private directory, its command line, its start-up (qtest on
//! stdio, QMP on a Unix socket), the two protocols' errors, and its end.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use fdc::Medium;
use serde_json::Value;

use crate::cleanup::Guard;
use crate::clock::WDT_PCI_SLOT;
use crate::error::io_err;
use crate::qmp::{Qmp, QmpFailure};
use crate::qtest::{parse_hex, Qtest, QtestFailure};
use crate::tempdir::TempDir;
use crate::{find_qemu, halt_bios, DriveSpec, Oracle, OracleConfig, OracleError, FLOPPY_144_BYTES};

/// Quotes a path for the `sh -c` that QEMU's `exec:` migration uses.
pub(crate) fn shell_quote(path: &Path) -> Result<String, OracleError> {
    let s = path.to_str().ok_or_else(|| {
        OracleError::InvalidArgument(format!("path {} is not UTF-8", path.display()))
    })?;
    if s.contains('\'') {
        return Err(OracleError::InvalidArgument(format!(
            "path {s} contains a single quote"
        )));
    }
    Ok(format!("'{s}'"))
}

/// Writes `medium` as a raw image: its sectors, its content where it has one.
pub(crate) fn write_image(path: &Path, medium: &Medium) -> Result<(), OracleError> {
    let mut f = fs::File::create(path).map_err(io_err(format!("creating {}", path.display())))?;
    match medium.to_image() {
        Some(data) => f.write_all(&data),
        None => f.set_len(medium.sectors() * fdc::media::SECTOR_LEN as u64),
    }
    .map_err(io_err(format!("writing {}", path.display())))
}

/// Builds QEMU's `-drive` value for one slot; QEMU's option parser needs commas doubled.
fn drive_arg(index: usize, spec: &DriveSpec, image: &Path) -> Option<OsString> {
    let file = |path: &Path, ro: bool| {
        let mut arg = OsString::from("file=");
        arg.push(path.as_os_str().to_string_lossy().replace(',', ",,"));
        // Locking off: a destination QEMU opens the same image while the source still holds it.
        arg.push(format!(
            ",format=raw,if=floppy,index={index},file.locking=off"
        ));
        if ro {
            arg.push(",readonly=on");
        }
        arg
    };
    match spec {
        DriveSpec::Absent => None,
        DriveSpec::Empty => Some(OsString::from(format!("if=floppy,index={index}"))),
        DriveSpec::Image { path, read_only } => Some(file(path, *read_only)),
        DriveSpec::Blank => Some(file(image, false)),
        DriveSpec::Medium(m) => Some(file(image, m.read_only())),
    }
}

/// The private files of a QEMU: the halt BIOS, the images of `Blank` and `Medium` slots,
/// the QMP socket and QEMU's standard error.
struct Files {
    dir: TempDir,
    bios: PathBuf,
    images: [PathBuf; 2],
    sock: PathBuf,
    stderr: PathBuf,
}

impl Files {
    fn create(cfg: &OracleConfig) -> Result<Files, OracleError> {
        for (i, d) in cfg.drives.iter().enumerate() {
            if let DriveSpec::Image { path, .. } = d {
                if !path.is_file() {
                    return Err(OracleError::InvalidArgument(format!(
                        "drive {i}: image {} does not exist",
                        path.display()
                    )));
                }
            }
        }
        let dir = TempDir::new(cfg.workdir.as_deref())?;
        let bios = dir.0.join("halt.bin");
        fs::write(&bios, halt_bios()).map_err(io_err(format!("writing {}", bios.display())))?;
        let images = [dir.0.join("drive0.img"), dir.0.join("drive1.img")];
        for (spec, path) in cfg.drives.iter().zip(&images) {
            match spec {
                DriveSpec::Blank => {
                    write_image(path, &Medium::blank(FLOPPY_144_BYTES, false))?;
                }
                DriveSpec::Medium(m) => write_image(path, m)?,
                _ => {}
            }
        }
        let sock = dir.0.join("qmp.sock");
        if sock.as_os_str().len() > 100 {
            return Err(OracleError::InvalidArgument(format!(
                "socket path {} is too long for a Unix socket; use a shorter workdir",
                sock.display()
            )));
        }
        let stderr = dir.0.join("qemu.stderr");
        Ok(Files {
            bios,
            images,
            sock,
            stderr,
            dir,
        })
    }

    /// QEMU's command line: a PC without PIT, with HPET and the watchdog the clock uses,
    /// stopped, on qtest, with the drives of `cfg`.
    fn command(
        &self,
        qemu: &Path,
        cfg: &OracleConfig,
        incoming: Option<&Path>,
    ) -> Result<Command, OracleError> {
        let mut cmd = Command::new(qemu);
        cmd.args(["-machine", "pc,pit=off,hpet=on", "-accel", "tcg"])
            .args(["-icount", "shift=0,sleep=off", "-S", "-m", "16"])
            .arg("-bios")
            .arg(&self.bios)
            .args(["-display", "none", "-nodefaults", "-no-user-config"])
            .args(["-qtest", "stdio", "-qtest-log", "/dev/null"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", self.sock.display()))
            .args(["-device", &format!("i6300esb,addr={WDT_PCI_SLOT:#04x}.0")])
            .args(["-action", "watchdog=pause"]);
        for (i, spec) in cfg.drives.iter().enumerate() {
            if let Some(arg) = drive_arg(i, spec, &self.images[i]) {
                cmd.arg("-drive").arg(arg);
            }
        }
        if let Some(stream) = incoming {
            cmd.arg("-incoming")
                .arg(format!("exec:cat {}", shell_quote(stream)?));
        }
        let stderr =
            fs::File::create(&self.stderr).map_err(io_err("creating the QEMU stderr file"))?;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        // Own process group: Drop kills QEMU together with the `cat` helpers it forks.
        cmd.process_group(0);
        Ok(cmd)
    }
}

/// Starts QEMU; kills it again if it does not come up.
fn launch(
    mut cmd: Command,
    qemu: &Path,
) -> Result<(Child, Guard, ChildStdin, ChildStdout), OracleError> {
    let mut child = cmd.spawn().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            OracleError::QemuNotFound(qemu.to_path_buf())
        } else {
            OracleError::Spawn {
                path: qemu.to_path_buf(),
                source,
            }
        }
    })?;
    // Registered at once, so that a signal from now on kills the group (the guard is
    // dropped only after `kill_group` reaped QEMU).
    let Some(guard) = Guard::group(i32::try_from(child.id()).unwrap_or(0)) else {
        kill_group(&mut child);
        return Err(OracleError::Spawn {
            path: qemu.to_path_buf(),
            source: std::io::Error::other("the process is shutting down"),
        });
    };
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        kill_group(&mut child);
        return Err(OracleError::Spawn {
            path: qemu.to_path_buf(),
            source: std::io::Error::other("no stdio pipes"),
        });
    };
    Ok((child, guard, stdin, stdout))
}

/// Connects to QMP (the socket appears once QEMU has parsed its options) and negotiates
/// capabilities; kills QEMU on failure.
fn connect_qmp(child: &mut Child, files: &Files, timeout: Duration) -> Result<Qmp, OracleError> {
    let deadline = Instant::now() + timeout;
    let stream = loop {
        match UnixStream::connect(&files.sock) {
            Ok(s) => break s,
            Err(e) => {
                if let Ok(Some(status)) = child.try_wait() {
                    let stderr = stderr_tail(&files.stderr);
                    kill_group(child);
                    return Err(OracleError::QemuExited {
                        command: "startup".into(),
                        status: status.to_string(),
                        stderr,
                    });
                }
                if Instant::now() > deadline {
                    kill_group(child);
                    return Err(OracleError::Io {
                        context: format!("connecting to QMP socket {}", files.sock.display()),
                        source: e,
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    Qmp::handshake(stream, timeout).map_err(|f| {
        let err = qmp_error(child, &files.stderr, "qmp_capabilities", f, timeout);
        kill_group(child);
        err
    })
}

impl Oracle {
    /// Starts QEMU with the drives of `cfg` (loading `incoming` when given) and connects
    /// qtest and QMP; the clock is not set up yet.
    pub(crate) fn spawn(
        cfg: &OracleConfig,
        incoming: Option<&Path>,
    ) -> Result<Oracle, OracleError> {
        let qemu = find_qemu(&cfg.qemu)?;
        let files = Files::create(cfg)?;
        let cmd = files.command(&qemu, cfg, incoming)?;
        let (mut child, group, stdin, stdout) = launch(cmd, &qemu)?;
        let qtest = Qtest::new(stdin, stdout);
        let qmp = connect_qmp(&mut child, &files, cfg.timeout)?;
        let mut oracle = Oracle {
            child,
            group,
            qtest,
            qmp,
            timeout: cfg.timeout,
            clock: 0,
            clock_gated: false,
            irq_stale: false,
            lost_stops: 0,
            migrations: 0,
            inserted: 0,
            drives: cfg.drives.clone(),
            dir: files.dir,
        };
        oracle.qtest_cmd("irq_intercept_in ioapic")?;
        Ok(oracle)
    }

    /// Sends one qtest command and returns the text after `OK`.
    pub(crate) fn qtest_cmd(&mut self, cmd: &str) -> Result<String, OracleError> {
        match self.qtest.command(cmd, self.timeout) {
            Ok(reply) => Ok(reply),
            Err(QtestFailure::Timeout) => Err(OracleError::Timeout {
                command: cmd.into(),
                timeout: self.timeout,
            }),
            Err(QtestFailure::Closed) => Err(self.exited(cmd)),
            Err(QtestFailure::Io(source)) => Err(OracleError::Io {
                context: format!("qtest `{cmd}`"),
                source,
            }),
            Err(QtestFailure::Fail(reply)) | Err(QtestFailure::Unexpected(reply)) => {
                Err(OracleError::Qtest {
                    command: cmd.into(),
                    reply,
                })
            }
        }
    }

    /// A qtest command whose answer is a number.
    pub(crate) fn qtest_value(&mut self, cmd: &str) -> Result<u64, OracleError> {
        let reply = self.qtest_cmd(cmd)?;
        parse_hex(&reply).ok_or_else(|| OracleError::Qtest {
            command: cmd.into(),
            reply,
        })
    }

    /// A qtest read command whose value must fit the access width.
    pub(crate) fn qtest_narrow<T: TryFrom<u64>>(&mut self, cmd: String) -> Result<T, OracleError> {
        let v = self.qtest_value(&cmd)?;
        T::try_from(v).map_err(|_| OracleError::Qtest {
            command: cmd,
            reply: format!("{v:#x}"),
        })
    }

    /// Executes one QMP command.
    pub(crate) fn qmp_exec(
        &mut self,
        command: &str,
        args: Option<Value>,
    ) -> Result<Value, OracleError> {
        match self.qmp.execute(command, args, self.timeout) {
            Ok(v) => Ok(v),
            Err(f) => Err(self.qmp_failure(command, f)),
        }
    }

    /// The error of a failed QMP exchange, describing the process when it is gone.
    pub(crate) fn qmp_failure(&mut self, command: &str, f: QmpFailure) -> OracleError {
        qmp_error(
            &mut self.child,
            &self.dir.0.join("qemu.stderr"),
            command,
            f,
            self.timeout,
        )
    }

    /// Describes a QEMU that stopped answering: its exit status and last stderr lines.
    fn exited(&mut self, command: &str) -> OracleError {
        let status = wait_briefly(&mut self.child);
        OracleError::QemuExited {
            command: command.into(),
            status,
            stderr: stderr_tail(&self.dir.0.join("qemu.stderr")),
        }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// Kills QEMU's whole process group (QEMU and its `sh`/`cat` helpers), then reaps QEMU.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: killpg only sends a signal; the group is the one this child leads, created
        // with process_group(0) at spawn, and the child has not been reaped yet.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn wait_briefly(child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => return "still running".into(),
            Err(e) => return format!("status unknown: {e}"),
        }
    }
}

fn stderr_tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let lines: Vec<&str> = text.lines().rev().take(10).collect();
    if lines.is_empty() {
        String::new()
    } else {
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        format!("; QEMU stderr:\n{}", tail.join("\n"))
    }
}

fn qmp_error(
    child: &mut Child,
    stderr: &Path,
    command: &str,
    f: QmpFailure,
    timeout: Duration,
) -> OracleError {
    match f {
        QmpFailure::Timeout => OracleError::Timeout {
            command: command.into(),
            timeout,
        },
        QmpFailure::Closed => OracleError::QemuExited {
            command: command.into(),
            status: wait_briefly(child),
            stderr: stderr_tail(stderr),
        },
        QmpFailure::Io(source) => OracleError::Io {
            context: format!("QMP `{command}`"),
            source,
        },
        QmpFailure::Error { class, desc } => OracleError::Qmp {
            command: command.into(),
            class,
            desc,
        },
        QmpFailure::Garbage(detail) => OracleError::QmpProtocol {
            command: command.into(),
            detail,
        },
    }
}
