//! Runs one input through a target body and prints the decoded ops:
//! `cargo run -p fdc-fuzz-targets --example run_input -- fdc_pio FILE`
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (target, path) = (&args[1], &args[2]);
    let data = std::fs::read(path).expect("reading the input");
    if target == "fdc_pio" {
        let mut n = 0;
        fdc_fuzz_targets::ops::decode_input(&data, |op| {
            println!("{n:4} {op:?}");
            n += 1;
        });
        println!("config {:?}", data.first().map(|&b| fdc_fuzz_targets::ops::configs(b)));
        println!("{:?}", fdc_fuzz_targets::pio::run(&data));
    } else if target == "vmstate_load" {
        fdc_fuzz_targets::vmstate_load(&data);
    } else {
        fdc_fuzz_targets::trace_decode(&data);
    }
}
