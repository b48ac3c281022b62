#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fdc_fuzz_targets::qemu_log_import(data));
