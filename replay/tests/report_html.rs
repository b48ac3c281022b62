//! `report --format html` in a real browser: Debian's headless Chromium renders the
//! corpus' page, takes a screenshot and dumps the DOM, which must hold one timeline per
//! trace with one lane per subsection, and verdict numbers equal to the JSON's.
//!
//! Needs `chromium` (`bash scripts/install-deps.sh --browser`; or `FDC_CHROMIUM=PATH`).
//! Without it the test is skipped with a message saying so, unless
//! `FDC_REQUIRE_CHROMIUM=1`, which makes a missing browser a failure.
#![allow(clippy::unwrap_used, reason = "tests and their helpers unwrap")]

mod analysis_util;
use analysis_util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FDC_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args`; returns its standard output.
fn browse(chrome: &Path, profile: &Path, page: &Path, args: &[&str]) -> Vec<u8> {
    let o = Command::new("timeout")
        .arg("180")
        .arg(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// The text of every element that starts with `open` (up to its next `<`).
fn texts<'a>(dom: &'a str, open: &str) -> Vec<&'a str> {
    dom.match_indices(open)
        .map(|(i, _)| {
            let rest = &dom[i..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest[start..].find('<').unwrap();
            &rest[start..start + end]
        })
        .collect()
}

/// The value of attribute `name` in every tag that starts with `open`.
fn attrs<'a>(dom: &'a str, open: &str, name: &str) -> Vec<&'a str> {
    dom.match_indices(open)
        .map(|(i, _)| {
            let tag = &dom[i..i + dom[i..].find('>').unwrap()];
            let key = format!("{name}=\"");
            let at = tag.find(&key).unwrap() + key.len();
            &tag[at..at + tag[at..].find('"').unwrap()]
        })
        .collect()
}

fn pct(x: &serde_json::Value) -> String {
    format!("{:.2}%", x.as_f64().unwrap() * 100.0)
}

fn check_dom(dom: &str, j: &serde_json::Value) {
    // One timeline per trace, in the report's order.
    let traces: Vec<&str> = j["per_trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        attrs(dom, "<figure class=\"timeline\"", "data-trace"),
        traces
    );
    // One lane per subsection in each.
    let six: Vec<&str> = j["summary"]["subsections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subsection"].as_str().unwrap())
        .collect();
    assert_eq!(six.len(), 6);
    for fig in dom.split("<figure class=\"timeline\"").skip(1) {
        let fig = &fig[..fig.find("</figure>").unwrap()];
        assert_eq!(attrs(fig, "<g class=\"lane\"", "data-subsection"), six);
        assert!(fig.contains("<g class=\"phase-band\">") && fig.contains("<g class=\"axis\">"));
    }
    // The verdict numbers are the JSON's.
    let s = j["summary"]["subsections"].as_array().unwrap();
    let time: Vec<String> = s.iter().map(|x| pct(&x["time_share"])).collect();
    let events: Vec<String> = s.iter().map(|x| pct(&x["event_share"])).collect();
    assert_eq!(texts(dom, "<td data-field=\"time_share\""), time);
    assert_eq!(texts(dom, "<td data-field=\"event_share\""), events);
    let guests = j["summary"]["backward_per_guest"].as_array().unwrap();
    let bars = attrs(dom, "<g class=\"bar\"", "data-p");
    assert_eq!(
        bars.len(),
        guests.len() + 1,
        "a bar per guest and one for all"
    );
    for (bar, g) in bars.iter().zip(guests) {
        let want = g["failure"]["estimate"].as_f64().unwrap();
        assert_eq!(bar.parse::<f64>().unwrap(), want, "{}", g["guest"]);
    }
    let idle = texts(dom, "<p id=\"idle\"")[0];
    let iv = &j["summary"]["idle"];
    assert!(
        idle.contains(&format!("in {} of {}", iv["prevalent"], iv["traces"])),
        "{idle}"
    );
}

#[test]
fn html_report_renders_in_chromium() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var("FDC_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "FDC_REQUIRE_CHROMIUM=1 and no chromium found"
        );
        eprintln!(
            "SKIPPED html_report_renders_in_chromium: chromium is not installed \
             (bash scripts/install-deps.sh --browser, or FDC_CHROMIUM=PATH)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/traces");
    let page = dir.path().join("report.html");
    let c = corpus.to_str().unwrap();
    let o = run(&[
        "report",
        c,
        "--quiet",
        "--format",
        "html",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["report", c, "--quiet", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let profile = dir.path().join("profile");
    let dom = String::from_utf8(browse(&chrome, &profile, &page, &["--dump-dom"])).unwrap();
    check_dom(&dom, &j);
    // The screenshot: a PNG of the page at 1280 px.
    let shot = dir.path().join("report.png");
    let arg = format!("--screenshot={}", shot.display());
    browse(&chrome, &profile, &page, &[&arg, "--window-size=1280,1600"]);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280);
    assert!(
        png.len() > 30_000,
        "a blank page is small: {} bytes",
        png.len()
    );
    // Printable: Chromium's print-to-PDF lays the page out on paper.
    let pdf = dir.path().join("report.pdf");
    let arg = format!("--print-to-pdf={}", pdf.display());
    browse(&chrome, &profile, &page, &[&arg, "--no-pdf-header-footer"]);
    let pdf = std::fs::read(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let pages = pdf
        .windows(11)
        .filter(|w| w == b"/Type /Page" || w == b"/Type/Page\n")
        .count();
    assert!(
        pages >= 3,
        "{pages} pages: the timelines did not reach the paper"
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-html.png");
    std::fs::copy(&shot, &keep).unwrap();
    eprintln!("screenshot: {}", keep.display());
}
