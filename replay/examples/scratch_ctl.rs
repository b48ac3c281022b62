use fdc_replay::analysis::{apply, ReplayModel};
use fdc_replay::analysis::whatif::engine::read_trace;
fn main() {
    let p = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let (h, ev, _) = read_trace(&p).unwrap();
    let mut m = ReplayModel::from_header(&h, &p).unwrap();
    let mut shown = 0;
    for (i, e) in ev.iter().enumerate() {
        let c = fdc::destination::migrate_without(&m.fdc, &[(fdc::Subsection::MediaRate, None)]).unwrap();
        if c != m.fdc && shown < 3 {
            let a = format!("{:#?}", m.fdc); let b = format!("{:#?}", c);
            for (x, y) in a.lines().zip(b.lines()) { if x != y { println!("{i}: {x} | {y}"); } }
            shown += 1;
        }
        apply(&mut m, e, &ev[i+1..]).unwrap();
    }
}
