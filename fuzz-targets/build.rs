//! Sets `cfg(fdc_fuzz_qemu)` when `FDC_FUZZ_QEMU` is set: the tests that run the known
//! differences on real QEMU are otherwise compiled as `#[ignore]`d, so `cargo test`
//! reports them as ignored, not passed.
fn main() {
    println!("cargo::rerun-if-env-changed=FDC_FUZZ_QEMU");
    println!("cargo::rustc-check-cfg=cfg(fdc_fuzz_qemu)");
    if std::env::var_os("FDC_FUZZ_QEMU").is_some() {
        println!("cargo::rustc-cfg=fdc_fuzz_qemu");
    }
}
