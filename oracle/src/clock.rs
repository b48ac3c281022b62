//! QEMU's virtual clock, stepped exactly: the HPET marks the target, the i6300esb
//! watchdog stops the VM (see the crate docs for the measured behaviour).

use std::time::Duration;

use crate::error::ClockError;
use crate::qmp::QmpFailure;
use crate::qtest::parse_hex;
use crate::{Oracle, OracleError, BOOT_CLOCK_NS, CLOCK_STEP_NS};

/// Watchdog tick at its 1 MHz scale (32 PCI clocks of 30 ns).
const WDT_TICK_NS: u64 = 960;
/// How long a time step waits for the watchdog's STOP before stopping the VM itself.
const LOST_STOP_WAIT: Duration = Duration::from_secs(2);

/// HPET registers (the PC machine's HPET at 0xFED00000).
const HPET_BASE: u64 = 0xfed0_0000;
const HPET_CONFIG: u64 = HPET_BASE + 0x10;
const HPET_COUNTER: u64 = HPET_BASE + 0xf0;
const HPET_T0_CMP: u64 = HPET_BASE + 0x108;
/// QEMU's HPET counts at 100 MHz.
const HPET_TICK_NS: u64 = 10;

/// The watchdog sits at a fixed PCI slot so its config-space address is known.
pub(crate) const WDT_PCI_SLOT: u32 = 5;
const WDT_BAR: u32 = 0xfebf_0000;
/// PCI vendor/device id of the i6300esb, checked so a misplaced device is caught early.
const WDT_ID: u32 = 0x25ab_8086;

impl Oracle {
    /// Programs the watchdog's PCI BAR and starts the HPET counter at virtual time 0, so
    /// that counter × 10 ns is the virtual time from then on.
    pub(crate) fn setup_clock(&mut self) -> Result<(), OracleError> {
        let id = self.pci_read32(0x00)?;
        if id != WDT_ID {
            return Err(ClockError::Watchdog(id).into());
        }
        self.pci_write(0x10, WDT_BAR, 4)?;
        self.pci_write(0x04, 0x0002, 2)?; // memory space enable
        self.qtest_cmd(&format!("writel {HPET_CONFIG:#x} 0x1"))?;
        // Boot hop: leave prelaunch with the watchdog one tick (960 ns) ahead, the shortest
        // deadline that cannot fire before `cont`. The CPU reaches its `hlt`, nothing else is
        // pending, so the VM stops at exactly BOOT_CLOCK_NS with the virtual clock gated.
        self.watchdog_hop(1)?;
        self.clock = self.read_clock()?;
        if self.clock != BOOT_CLOCK_NS {
            return Err(ClockError::Boot(self.clock).into());
        }
        Ok(())
    }

    fn pci_addr(reg: u8) -> u32 {
        0x8000_0000 | (WDT_PCI_SLOT << 11) | u32::from(reg & 0xfc)
    }

    fn pci_read32(&mut self, reg: u8) -> Result<u32, OracleError> {
        self.qtest_cmd(&format!("outl 0xcf8 {:#x}", Self::pci_addr(reg)))?;
        let cmd = "inl 0xcfc";
        let reply = self.qtest_cmd(cmd)?;
        parse_hex(&reply)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| OracleError::Qtest {
                command: cmd.into(),
                reply,
            })
    }

    fn pci_write(&mut self, reg: u8, val: u32, size: u8) -> Result<(), OracleError> {
        self.qtest_cmd(&format!("outl 0xcf8 {:#x}", Self::pci_addr(reg)))?;
        let port = 0xcfc + u16::from(reg & 3);
        let op = match size {
            1 => "outb",
            2 => "outw",
            _ => "outl",
        };
        self.qtest_cmd(&format!("{op} {port:#x} {val:#x}"))
            .map(drop)
    }

    /// Current virtual time in ns, read from the HPET counter (started at time 0).
    pub(crate) fn read_clock(&mut self) -> Result<u64, OracleError> {
        let ticks = self.qtest_value(&format!("readq {HPET_COUNTER:#x}"))?;
        let ns = ticks
            .checked_mul(HPET_TICK_NS)
            .ok_or(ClockError::Counter(ticks))?;
        self.clock = ns;
        Ok(ns)
    }

    /// Advances virtual time by exactly `ns` (a multiple of 10), firing every device timer
    /// due before the new time at its own deadline; see the crate docs for the convention
    /// at the exact end time.
    pub(crate) fn advance_clock(&mut self, ns: u64) -> Result<(), OracleError> {
        if ns == 0 {
            return Ok(());
        }
        if !ns.is_multiple_of(CLOCK_STEP_NS) {
            return Err(ClockError::Resolution { ns }.into());
        }
        let start = self.read_clock()?;
        let target = start
            .checked_add(ns)
            .ok_or(ClockError::Overflow { start, ns })?;
        let cmp = target / HPET_TICK_NS;
        // High half first: the comparator is re-armed on each write, the last one counts.
        self.qtest_cmd(&format!("writel {:#x} {:#x}", HPET_T0_CMP + 4, cmp >> 32))?;
        self.qtest_cmd(&format!("writel {HPET_T0_CMP:#x} {:#x}", cmp & 0xffff_ffff))?;
        let mut now = start;
        let mut stalls = 0;
        while now < target {
            let preload = if self.clock_gated {
                0
            } else {
                // Not gated yet: a zero timeout would fire before `cont` (see `clock_gated`),
                // so the first hop needs the watchdog at least one tick ahead, before target.
                let ticks = (target - now - 1) / WDT_TICK_NS;
                if ticks == 0 {
                    return Err(ClockError::FirstAdvanceTooShort { ns }.into());
                }
                ticks.min(0xf_ffff) as u32
            };
            self.watchdog_hop(preload)?;
            let reached = self.read_clock()?;
            if reached > target {
                let kind = ClockError::Overshoot {
                    from: start,
                    target,
                    reached,
                };
                return Err(kind.into());
            }
            if reached == now {
                stalls += 1;
                if stalls >= 3 {
                    return Err(ClockError::NoProgress { now, target }.into());
                }
            } else {
                stalls = 0;
            }
            now = reached;
        }
        Ok(())
    }

    /// Lets the VM run until the watchdog fires after `preload` ticks of 960 ns (0: at once),
    /// then one more warp to the next pending deadline, and stop there.
    fn watchdog_hop(&mut self, preload: u32) -> Result<(), OracleError> {
        // The watchdog resets itself after acting, so it is programmed from scratch each time.
        // Config: 1 MHz scale (bit 2), output enabled (bit 5 clear), interrupt type 1 (none).
        self.pci_write(0x60, 0x0005, 2)?;
        for (reg, preload) in [(0x0u32, preload), (0x4, 0)] {
            // Preload writes need the unlock sequence each time.
            self.qtest_cmd(&format!("writel {:#x} 0x80", WDT_BAR + 0xc))?;
            self.qtest_cmd(&format!("writel {:#x} 0x86", WDT_BAR + 0xc))?;
            self.qtest_cmd(&format!("writel {:#x} {preload:#x}", WDT_BAR + reg))?;
        }
        self.qmp.clear_events();
        // Enabling (lock register bit 1) starts stage 1; stage 2 follows at once.
        self.pci_write(0x68, 0x02, 1)?;
        self.qmp_exec("cont", None)?;
        // Rarely (a few times in 10^4 hops under load) the watchdog's pause request is lost
        // and no STOP comes. With only the HPET marker pending, the idle VM then waits at
        // the target; stop it by hand and let the caller's loop check where time stands.
        let first_wait = self.timeout.min(LOST_STOP_WAIT);
        let (waited, command) = match self.qmp.wait_event("STOP", first_wait) {
            Err(QmpFailure::Timeout) => {
                self.lost_stops += 1;
                self.qmp_exec("stop", None)?;
                (
                    self.qmp.wait_event("STOP", self.timeout),
                    "stop (after a lost watchdog STOP)",
                )
            }
            other => (other, "cont (waiting for the watchdog STOP)"),
        };
        match waited {
            Ok(_) => {
                self.clock_gated = true;
                Ok(())
            }
            Err(f) => Err(self.qmp_failure(command, f)),
        }
    }
}
