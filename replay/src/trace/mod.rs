//! Trace format and QEMU-log import (placeholder).
pub mod import;
