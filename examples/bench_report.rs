//! Turns benchmark output into the charts and tables of `docs/benchmarks.md`.
//!
//! ```text
//! cargo run --release --example bench_report -- [--criterion DIR] [--results DIR]
//!                                              [--baselines r1,r2,r3] [--docs DIR]
//! ```
//!
//! Inputs, all written by runs, none typed in:
//!
//! - criterion's estimates of `benches/peers.rs` and `benches/hot_read.rs`:
//!   `DIR/<group>/<bench>/<param>/<baseline>/{estimates,benchmark}.json`, one
//!   baseline per run (`cargo bench --bench peers -- --save-baseline r1`).
//!   Every baseline found is a run unless `--baselines` names them; with no
//!   named baseline, criterion's latest (`new`) is the only run. `DIR`
//!   defaults to `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, then
//!   `target/criterion`, where criterion writes.
//! - the JSON files of `growth_latency`, `memory` and `churn`, one per run,
//!   under `--results` (default `$BENCH_RESULTS`, `$CARGO_TARGET_DIR/bench-results`,
//!   then `target/bench-results`).
//!
//! Every figure is the median over runs; every ratio is computed within one
//! run (epochmap and the peer measured minutes apart on the same machine),
//! and then its median is taken. Outputs: SVG charts in `DOCS/img/`, a copy of
//! the inputs in `DOCS/data/` and, in `DOCS/benchmarks.md`, the text between
//! each `<!-- report:NAME -->` and `<!-- /report:NAME -->` pair replaced by
//! freshly generated Markdown (the prose around the markers is left alone).

use plotters::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

type Error = Box<dyn std::error::Error>;

/// The mixed workloads: criterion group and title.
const WORKLOADS: [(&str, &str); 3] = [
    ("peers-read-heavy", "ReadHeavy"),
    ("peers-exchange", "Exchange"),
    ("peers-rapid-grow", "RapidGrow"),
];
/// Dependencies whose versions the docs state.
const CRATES: [&str; 9] = [
    "papaya",
    "dashmap",
    "scc",
    "flurry",
    "hashbrown",
    "ahash",
    "crossbeam-epoch",
    "criterion",
    "hdrhistogram",
];

struct Opts {
    criterion: PathBuf,
    results: PathBuf,
    baselines: Option<Vec<String>>,
    docs: PathBuf,
}

fn env_dir(var: &str, sub: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var) {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join(sub)
}

fn opts() -> Result<Opts, Error> {
    let mut o = Opts {
        criterion: env_dir("CRITERION_HOME", "criterion"),
        results: env_dir("BENCH_RESULTS", "bench-results"),
        baselines: None,
        docs: PathBuf::from("docs"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--criterion" => o.criterion = value()?.into(),
            "--results" => o.results = value()?.into(),
            "--docs" => o.docs = value()?.into(),
            "--baselines" => o.baselines = Some(value()?.split(',').map(String::from).collect()),
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    Ok(o)
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

// ------------------------------------------------------------------ criterion

/// Criterion's median time per iteration and elements per iteration, by
/// (bench, param, run) within one group.
type Estimates = BTreeMap<(String, String, String), (f64, f64)>;

/// The runs: named baselines present in `group`, or `new` when there are none.
fn runs_of(dir: &Path, group: &str, wanted: &Option<Vec<String>>) -> Vec<String> {
    if let Some(w) = wanted {
        return w.clone();
    }
    let mut found = BTreeSet::new();
    for bench in subdirs(&dir.join(group)) {
        for param in subdirs(&dir.join(group).join(&bench)) {
            for b in subdirs(&dir.join(group).join(&bench).join(&param)) {
                if !["new", "base", "change", "report"].contains(&b.as_str()) {
                    found.insert(b);
                }
            }
        }
    }
    if found.is_empty() {
        vec!["new".to_string()]
    } else {
        found.into_iter().collect()
    }
}

fn estimates(dir: &Path, group: &str, runs: &[String]) -> Estimates {
    let mut out = Estimates::new();
    for bench in subdirs(&dir.join(group))
        .into_iter()
        .filter(|b| b != "report")
    {
        for param in subdirs(&dir.join(group).join(&bench))
            .into_iter()
            .filter(|b| b != "report")
        {
            for run in runs {
                let d = dir.join(group).join(&bench).join(&param).join(run);
                let (Some(est), Some(meta)) = (
                    read_json(&d.join("estimates.json")),
                    read_json(&d.join("benchmark.json")),
                ) else {
                    continue;
                };
                let Some(ns) = est["median"]["point_estimate"].as_f64() else {
                    continue;
                };
                let elements = meta["throughput"]["Elements"].as_f64().unwrap_or(1.0);
                out.insert((bench.clone(), param.clone(), run.clone()), (ns, elements));
            }
        }
    }
    out
}

/// The peer a mode is compared with: every non-epochmap variant of that mode,
/// plus the lock-based maps, which have one form that serves both.
fn competes_in(variant: &str, mode: &str) -> bool {
    !variant.starts_with("epochmap")
        && (!(variant.ends_with("-pinned") || variant.ends_with("-per-op"))
            || variant.ends_with(mode))
}

/// Peers results: Mops/s by (variant, threads) → per run.
struct Peers {
    runs: Vec<String>,
    mops: BTreeMap<(String, usize), BTreeMap<String, f64>>,
}

impl Peers {
    fn load(dir: &Path, group: &str, wanted: &Option<Vec<String>>) -> Peers {
        let runs = runs_of(dir, group, wanted);
        let mut mops: BTreeMap<(String, usize), BTreeMap<String, f64>> = BTreeMap::new();
        for ((bench, param, run), (ns, elements)) in estimates(dir, group, &runs) {
            if let Ok(t) = param.parse() {
                mops.entry((bench, t))
                    .or_default()
                    .insert(run, elements / ns * 1e3);
            }
        }
        Peers { runs, mops }
    }

    fn variants(&self) -> Vec<String> {
        let mut v: Vec<String> = self.mops.keys().map(|k| k.0.clone()).collect();
        v.dedup();
        // epochmap first, then the order the bench runs them in.
        let order = ["epochmap", "papaya", "flurry", "dashmap", "scc", "rwlock"];
        v.sort_by_key(|s| {
            (
                order.iter().position(|o| s.starts_with(o)),
                !s.ends_with("pinned"),
            )
        });
        v
    }

    fn threads(&self) -> Vec<usize> {
        let t: BTreeSet<usize> = self.mops.keys().map(|k| k.1).collect();
        t.into_iter().collect()
    }

    fn median(&self, variant: &str, t: usize) -> Option<f64> {
        let runs = self.mops.get(&(variant.to_string(), t))?;
        Some(median(runs.values().copied().collect()))
    }

    /// Per run: epochmap's `mode` variant over the best competitor, and that competitor.
    fn ratios(&self, mode: &str, t: usize, only: Option<&str>) -> Vec<(f64, String)> {
        let own = format!("epochmap-{mode}");
        let mut out = Vec::new();
        for run in &self.runs {
            let get = |v: &str| {
                self.mops
                    .get(&(v.to_string(), t))
                    .and_then(|r| r.get(run))
                    .copied()
            };
            let Some(x) = get(&own) else { continue };
            let best = self
                .variants()
                .into_iter()
                .filter(|v| competes_in(v, mode))
                .filter(|v| only.map_or(true, |o| v == o))
                .filter_map(|v| get(&v).map(|y| (y, v)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((y, v)) = best {
                out.push((x / y, v));
            }
        }
        out
    }
}

/// "1.23× (runs: 1.20, 1.23, 1.31; best peer papaya-pinned)".
fn ratio_text(r: &[(f64, String)]) -> String {
    if r.is_empty() {
        return "no data".into();
    }
    let mut peers: Vec<&str> = r.iter().map(|x| x.1.as_str()).collect();
    peers.sort_unstable();
    peers.dedup();
    let runs: Vec<String> = r.iter().map(|x| format!("{:.2}", x.0)).collect();
    format!(
        "**{:.2}×** (runs: {}; best peer: {})",
        median(r.iter().map(|x| x.0).collect()),
        runs.join(", "),
        peers.join(", ")
    )
}

fn peers_table(p: &Peers) -> String {
    let variants = p.variants();
    let mut s = String::from("| threads |");
    for v in &variants {
        write!(s, " {v} |").unwrap();
    }
    s.push_str(" epochmap-pinned / best peer | epochmap-per-op / best peer |\n|");
    s.push_str(&"---|".repeat(variants.len() + 3));
    s.push('\n');
    for t in p.threads() {
        write!(s, "| {t} |").unwrap();
        for v in &variants {
            match p.median(v, t) {
                Some(x) => write!(s, " {x:.2} |").unwrap(),
                None => s.push_str(" – |"),
            }
        }
        for mode in ["pinned", "per-op"] {
            let r = p.ratios(mode, t, None);
            if r.is_empty() {
                s.push_str(" – |");
            } else {
                write!(
                    s,
                    " {:.2}× ({}) |",
                    median(r.iter().map(|x| x.0).collect()),
                    r[0].1
                )
                .unwrap();
            }
        }
        s.push('\n');
    }
    let partial: Vec<String> = variants
        .iter()
        .filter_map(|v| {
            let n = p
                .mops
                .iter()
                .filter(|(k, _)| &k.0 == v)
                .map(|(_, r)| r.len())
                .max()
                .unwrap_or(0);
            (n < p.runs.len()).then(|| format!("{v} ({n} of {} runs)", p.runs.len()))
        })
        .collect();
    if !partial.is_empty() {
        write!(
            s,
            "\nMeasured in fewer runs than the others: {}.\n",
            partial.join(", ")
        )
        .unwrap();
    }
    s
}

// ------------------------------------------------------------------ charts

/// One hue per map; the pin-per-operation variant in a lighter shade.
fn color(name: &str) -> RGBColor {
    let hues = [
        ("epochmap", RGBColor(200, 30, 30)),
        ("papaya", RGBColor(30, 90, 200)),
        ("flurry", RGBColor(30, 150, 60)),
        ("dashmap", RGBColor(150, 80, 180)),
        ("scc", RGBColor(220, 150, 20)),
        ("rwlock", RGBColor(90, 90, 90)),
    ];
    let RGBColor(r, g, b) = hues
        .iter()
        .find(|h| name.starts_with(h.0))
        .map_or(BLACK, |h| h.1);
    if name.ends_with("-per-op") {
        let light = |c: u8| ((u16::from(c) + 255) / 2) as u8;
        RGBColor(light(r), light(g), light(b))
    } else {
        RGBColor(r, g, b)
    }
}

/// "12 ns", "3.4 µs", "15 ms" for latency axes.
fn duration_label(ns: &f64) -> String {
    match *ns {
        x if x >= 1e6 => format!("{} ms", x / 1e6),
        x if x >= 1e3 => format!("{} µs", x / 1e3),
        x => format!("{x} ns"),
    }
}

/// A line chart of named series; `log_y` for latencies. `x_label` formats ticks.
/// The y range leaves headroom above the data for the legend (top right).
struct Chart<'a> {
    title: String,
    x_desc: &'a str,
    y_desc: &'a str,
    series: Vec<(String, Vec<(f64, f64)>)>,
    log_y: bool,
    x_label: &'a dyn Fn(&f64) -> String,
}

impl Chart<'_> {
    fn draw(&self, path: &Path) -> Result<(), Error> {
        let points = || self.series.iter().flat_map(|s| s.1.iter());
        let (x0, x1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
            (a.0.min(p.0), a.1.max(p.0))
        });
        let (y0, y1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |a, p| {
            (a.0.min(p.1), a.1.max(p.1))
        });
        if !x0.is_finite() {
            return Ok(());
        }
        let pad = ((x1 - x0) * 0.05).max(0.25);
        let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(&self.title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70);
        let x_range = (x0 - pad)..(x1 + pad);
        if self.log_y {
            let mut chart = builder
                .build_cartesian_2d(x_range, ((y0 * 0.8).max(1.0)..y1 * 40.0).log_scale())?;
            chart
                .configure_mesh()
                .x_desc(self.x_desc)
                .y_desc(self.y_desc)
                .x_label_formatter(self.x_label)
                .y_label_formatter(&duration_label)
                .light_line_style(RGBColor(238, 238, 238))
                .draw()?;
            self.lines(&mut chart)?;
        } else {
            let mut chart = builder.build_cartesian_2d(x_range, 0.0..y1 * 1.6)?;
            chart
                .configure_mesh()
                .x_desc(self.x_desc)
                .y_desc(self.y_desc)
                .x_label_formatter(self.x_label)
                .light_line_style(RGBColor(238, 238, 238))
                .draw()?;
            self.lines(&mut chart)?;
        }
        root.present()?;
        Ok(())
    }

    fn lines<'a, DB: DrawingBackend + 'a, CT>(
        &self,
        chart: &mut ChartContext<'a, DB, CT>,
    ) -> Result<(), Error>
    where
        CT: CoordTranslate<From = (f64, f64)>,
        DB::ErrorType: 'static,
    {
        for (name, pts) in &self.series {
            let c = color(name);
            let style = if name.starts_with("epochmap") {
                c.stroke_width(3)
            } else {
                c.stroke_width(1)
            };
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), style))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    }
}

// ------------------------------------------------------------------ result files

/// Every run's JSON in `dir/<bench>/`, by file name.
fn result_runs(dir: &Path, bench: &str) -> Vec<(String, Value)> {
    let mut runs: Vec<(String, Value)> = fs::read_dir(dir.join(bench))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, read_json(&e.path())?)))
        .collect();
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    runs
}

/// The median over runs of `f` applied to the result entry of `map` (and value type).
fn median_of(
    runs: &[(String, Value)],
    map: &str,
    value: Option<&str>,
    f: impl Fn(&Value) -> Option<f64>,
) -> Option<f64> {
    let xs: Vec<f64> = runs
        .iter()
        .filter_map(|(_, r)| {
            r["results"]
                .as_array()?
                .iter()
                .find(|e| e["map"] == map && value.map_or(true, |v| e["value"] == v))
        })
        .filter_map(f)
        .collect();
    (!xs.is_empty()).then(|| median(xs))
}

fn maps_in(runs: &[(String, Value)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, r) in runs {
        for e in r["results"].as_array().into_iter().flatten() {
            if let Some(m) = e["map"].as_str() {
                if !names.iter().any(|n| n == m) {
                    names.push(m.to_string());
                }
            }
        }
    }
    names
}

fn run_names(runs: &[(String, Value)]) -> String {
    runs.iter()
        .map(|r| r.0.trim_end_matches(".json"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ------------------------------------------------------------------ the report

struct Report {
    opts: Opts,
    sections: BTreeMap<&'static str, String>,
    /// Rows of the targets table: target, measured, met.
    targets: Vec<(String, String, Option<bool>)>,
}

impl Report {
    fn img(&self, name: &str) -> PathBuf {
        self.opts.docs.join("img").join(name)
    }

    fn machine(&mut self) {
        let cpu = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpu
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map_or("unknown", |m| m.trim_start_matches([' ', '\t', ':']));
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let rustc = Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        let lock = fs::read_to_string("Cargo.lock").unwrap_or_default();
        let mut versions = String::new();
        let mut lines = lock.lines().peekable();
        while let Some(l) = lines.next() {
            if let Some(name) = l
                .strip_prefix("name = \"")
                .and_then(|n| n.strip_suffix('"'))
            {
                if CRATES.contains(&name) {
                    if let Some(v) = lines.peek().and_then(|v| v.strip_prefix("version = \"")) {
                        write!(versions, "{name} {}, ", v.trim_end_matches('"')).unwrap();
                    }
                }
            }
        }
        let manifest = fs::read_to_string("Cargo.toml").unwrap_or_default();
        let own = manifest
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .unwrap_or("?")
            .trim_end_matches('"');
        let s = format!(
            "- CPU: {model}, {cores} cores available (from `/proc/cpuinfo` and `available_parallelism`), shared with other jobs\n\
             - Toolchain: {rustc}; `cargo bench` profile (release, debug info on)\n\
             - Versions (from `Cargo.lock`): epochmap {own}, {}\n\
             - Every map hashes with `ahash::RandomState::with_seeds(1, 2, 3, 4)`.\n",
            versions.trim_end_matches(", ")
        );
        self.sections.insert("machine", s);
    }

    fn peers(&mut self) -> Result<(), Error> {
        let mut all = String::new();
        let mut loaded = Vec::new();
        for (group, title) in WORKLOADS {
            let p = Peers::load(&self.opts.criterion, group, &self.opts.baselines);
            if p.mops.is_empty() {
                continue;
            }
            let variants = p.variants();
            let series = variants
                .iter()
                .map(|v| {
                    let pts = p
                        .threads()
                        .into_iter()
                        .filter_map(|t| Some((t as f64, p.median(v, t)?)))
                        .collect();
                    (v.clone(), pts)
                })
                .collect();
            let file = format!("{group}.svg");
            Chart {
                title: format!(
                    "{title}: throughput by threads (median of {} runs)",
                    p.runs.len()
                ),
                x_desc: "threads",
                y_desc: "million operations per second",
                series,
                log_y: false,
                x_label: &|x| {
                    if x.fract() == 0.0 {
                        format!("{x}")
                    } else {
                        String::new()
                    }
                },
            }
            .draw(&self.img(&file))?;
            write!(
                all,
                "### {title}\n\n![{title} throughput](img/{file})\n\nMops/s, median of criterion medians over runs {}; \
                 ratios are medians of per-run ratios.\n\n{}\n",
                p.runs.join(", "),
                peers_table(&p)
            )?;
            loaded.push((title, p));
        }
        self.sections.insert("peers", all);

        let find = |t: &str| loaded.iter().find(|(title, _)| *title == t).map(|x| &x.1);
        let mut target = |name: String, r: Vec<(f64, String)>, need: f64| {
            let met = (!r.is_empty()).then(|| median(r.iter().map(|x| x.0).collect()) >= need);
            self.targets.push((name, ratio_text(&r), met));
        };
        if let Some(p) = find("ReadHeavy") {
            target(
                "ReadHeavy, 2 threads, pinned handle: ≥ 1.3× best peer".into(),
                p.ratios("pinned", 2, None),
                1.3,
            );
            target(
                "ReadHeavy, 2 threads, pin per operation: ≥ 1.1× best peer".into(),
                p.ratios("per-op", 2, None),
                1.1,
            );
            target(
                "ReadHeavy, 1 thread, pinned handle: ≥ 1.3× papaya".into(),
                p.ratios("pinned", 1, Some("papaya-pinned")),
                1.3,
            );
            target(
                "ReadHeavy, 1 thread, pin per operation: ≥ 1.3× papaya".into(),
                p.ratios("per-op", 1, Some("papaya-per-op")),
                1.3,
            );
        }
        for w in ["Exchange", "RapidGrow"] {
            if let Some(p) = find(w) {
                target(
                    format!("{w}, 2 threads, pinned handle: ≥ 1.0× best peer"),
                    p.ratios("pinned", 2, None),
                    1.0,
                );
                target(
                    format!("{w}, 2 threads, pin per operation: ≥ 1.0× best peer"),
                    p.ratios("per-op", 2, None),
                    1.0,
                );
            }
        }

        // Where the single-thread lock-based maps stand against epochmap, per thread count.
        if let Some(p) = find("ReadHeavy") {
            let mut s = String::from("| threads | vs dashmap | vs scc | vs rwlock-hashbrown | vs papaya-pinned |\n|---|---|---|---|---|\n");
            for t in p.threads() {
                write!(s, "| {t} |")?;
                for peer in ["dashmap", "scc", "rwlock-hashbrown", "papaya-pinned"] {
                    let r = p.ratios("pinned", t, Some(peer));
                    if r.is_empty() {
                        s.push_str(" – |");
                    } else {
                        write!(s, " {:.2}× |", median(r.iter().map(|x| x.0).collect()))?;
                    }
                }
                s.push('\n');
            }
            self.sections.insert("crossover", s);
        }
        Ok(())
    }

    fn hot_read(&mut self) {
        let runs = runs_of(&self.opts.criterion, "hot_read", &self.opts.baselines);
        let est = estimates(&self.opts.criterion, "hot_read", &runs);
        if est.is_empty() {
            return;
        }
        let mut benches: Vec<String> = est.keys().map(|k| k.0.clone()).collect();
        benches.dedup();
        let order = [
            "epochmap",
            "hashbrown",
            "papaya",
            "flurry",
            "dashmap",
            "scc",
            "rwlock",
        ];
        benches.sort_by_key(|b| (order.iter().position(|o| b.starts_with(o)), b.len()));
        let mut params: Vec<String> = est.keys().map(|k| k.1.clone()).collect();
        params.sort_by_key(|p| p.parse::<u64>().unwrap_or(0));
        params.dedup();
        let ns = |b: &str, p: &str, run: &str| {
            est.get(&(b.to_string(), p.to_string(), run.to_string()))
                .map(|(ns, el)| ns / el)
        };
        let mut s = format!(
            "ns per lookup, median over runs {}; the ratio is to `hashbrown` (no synchronisation), within each run.\n\n| map |",
            runs.join(", ")
        );
        for p in &params {
            write!(s, " {p} keys | ÷ hashbrown |").unwrap();
        }
        s.push_str("\n|---|");
        s.push_str(&"---|---|".repeat(params.len()));
        s.push('\n');
        for b in &benches {
            write!(s, "| {b} |").unwrap();
            for p in &params {
                let own: Vec<f64> = runs.iter().filter_map(|r| ns(b, p, r)).collect();
                let ratio: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| Some(ns(b, p, r)? / ns("hashbrown", p, r)?))
                    .collect();
                if own.is_empty() {
                    s.push_str(" – | – |");
                } else {
                    write!(s, " {:.2} | {:.2}× |", median(own), median(ratio)).unwrap();
                }
            }
            s.push('\n');
        }
        self.sections.insert("hot_read", s);
    }

    fn growth(&mut self) -> Result<(), Error> {
        let runs = result_runs(&self.opts.results, "growth_latency");
        if runs.is_empty() {
            return Ok(());
        }
        let maps = maps_in(&runs);
        let cols = ["p50", "p99", "p99.9", "p99.99", "p99.999", "max"];
        let mut s = format!(
            "Latency in ns, median over runs {} (each run: one writer, one reader).\n\n",
            run_names(&runs)
        );
        for op in ["insert", "get"] {
            write!(s, "**{op}**\n\n| map |")?;
            for c in cols {
                write!(s, " {c} |")?;
            }
            s.push_str("\n|---|");
            s.push_str(&"---|".repeat(cols.len()));
            s.push('\n');
            let mut series = Vec::new();
            for m in &maps {
                write!(s, "| {m} |")?;
                for c in cols {
                    match median_of(&runs, m, None, |e| e[op][format!("{c}_ns")].as_f64()) {
                        Some(x) => write!(s, " {x:.0} |")?,
                        None => s.push_str(" – |"),
                    }
                }
                s.push('\n');
                // Point-wise median of the runs' latency-by-percentile curves; x in "nines".
                let n = runs[0].1["results"][0][op]["curve"]
                    .as_array()
                    .map_or(0, |c| c.len());
                let pts: Vec<(f64, f64)> = (0..n)
                    .filter_map(|i| {
                        let q = runs[0].1["results"][0][op]["curve"][i][0].as_f64()?;
                        let y = median_of(&runs, m, None, |e| e[op]["curve"][i][1].as_f64())?;
                        Some((-(1.0 - q).max(1e-9).log10(), y.max(1.0)))
                    })
                    .collect();
                series.push((m.clone(), pts));
            }
            s.push('\n');
            let file = format!("growth-latency-{op}.svg");
            Chart {
                title: format!("{op} latency while the map grows to 2M keys (by percentile)"),
                x_desc: "percentile",
                y_desc: "latency (ns, log scale)",
                series,
                log_y: true,
                x_label: &|x| {
                    let p = 100.0 * (1.0 - 10f64.powf(-x));
                    if (x - x.round()).abs() < 1e-9 {
                        format!("{}%", (p * 1e4).round() / 1e4)
                    } else {
                        String::new()
                    }
                },
            }
            .draw(&self.img(&file))?;
            write!(s, "![{op} latency by percentile](img/{file})\n\n")?;
        }
        self.sections.insert("growth", s);

        // As for the throughput targets: a ratio within each run (epochmap's
        // p99.99 over the lowest peer's of the same run), then the median of
        // those ratios. Comparing medians across runs instead can pair
        // epochmap's middle run with a peer's from another run.
        let get = |e: &Value| e["get"]["p99.99_ns"].as_f64();
        let per_run: Vec<(f64, String)> = runs
            .iter()
            .filter_map(|(_, r)| {
                let entries = r["results"].as_array()?;
                let own = entries
                    .iter()
                    .find(|e| e["map"] == "epochmap")
                    .and_then(get)?;
                let (best, m) = entries
                    .iter()
                    .filter(|e| e["map"] != "epochmap")
                    .filter_map(|e| Some((get(e)?, e["map"].as_str()?.to_string())))
                    .min_by(|a, b| a.0.total_cmp(&b.0))?;
                Some((own / best, m))
            })
            .collect();
        if !per_run.is_empty() {
            let met = median(per_run.iter().map(|x| x.0).collect()) <= 1.0;
            let own = median_of(&runs, "epochmap", None, get).unwrap_or(f64::NAN);
            self.targets.push((
                "Growth: concurrent get p99.99 ≤ best peer's (ratio to the best peer of each run)"
                    .into(),
                format!(
                    "{}; epochmap's median **{own:.0} ns**",
                    ratio_text(&per_run)
                ),
                Some(met),
            ));
        }
        if let Some(own) = median_of(&runs, "epochmap", None, |e| {
            e["insert"]["p99.9_ns"].as_f64()
        }) {
            self.targets.push((
                "Growth: insert p99.9 ≤ 2 µs".into(),
                format!("**{own:.0} ns**"),
                Some(own <= 2000.0),
            ));
        }
        Ok(())
    }

    fn memory(&mut self) {
        let runs = result_runs(&self.opts.results, "memory");
        if runs.is_empty() {
            return;
        }
        let maps = maps_in(&runs);
        let mut s = format!(
            "Bytes per entry after 1M inserts into a map that was not presized, median over runs {}.\n\n\
             | map | (u64,u64) alloc | peak | RSS | (u64,[u8;128]) alloc | peak | RSS |\n|---|---|---|---|---|---|---|\n",
            run_names(&runs)
        );
        for m in &maps {
            write!(s, "| {m} |").unwrap();
            for v in ["u64", "[u8;128]"] {
                for f in [
                    "alloc_bytes_per_entry",
                    "peak_bytes_per_entry",
                    "rss_bytes_per_entry",
                ] {
                    match median_of(&runs, m, Some(v), |e| e[f].as_f64()) {
                        Some(x) => write!(s, " {x:.1} |").unwrap(),
                        None => s.push_str(" – |"),
                    }
                }
            }
            s.push('\n');
        }
        self.sections.insert("memory", s);
        if let Some(x) = median_of(&runs, "epochmap", Some("u64"), |e| {
            e["alloc_bytes_per_entry"].as_f64()
        }) {
            self.targets.push((
                "Memory (u64,u64): ≤ 40 B per entry from the allocator".into(),
                format!("**{x:.1} B**"),
                Some(x <= 40.0),
            ));
        }
    }

    fn churn(&mut self) -> Result<(), Error> {
        let runs = result_runs(&self.opts.results, "churn");
        let Some((last_name, last)) = runs.last() else {
            return Ok(());
        };
        let maps = maps_in(&runs);
        let cols = [
            ("mops_first_tenth", "Mops/s, first 10 rounds", 2),
            ("mops_last_tenth", "Mops/s, last 10 rounds", 2),
            ("mops_last_over_first", "last / first", 3),
            ("alloc_max_over_min", "allocated max / min", 3),
            (
                "worst_batch_us_median",
                "worst 64-op batch µs (median round)",
                1,
            ),
            ("worst_batch_us_max", "worst 64-op batch µs (all rounds)", 1),
        ];
        let mut s = format!("Median over runs {}.\n\n| map |", run_names(&runs));
        for c in cols {
            write!(s, " {} |", c.1)?;
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(cols.len()));
        s.push('\n');
        for m in &maps {
            write!(s, "| {m} |")?;
            for (key, _, digits) in cols {
                match median_of(&runs, m, None, |e| e["summary"][key].as_f64()) {
                    Some(x) => write!(s, " {x:.digits$} |")?,
                    None => s.push_str(" – |"),
                }
            }
            s.push('\n');
        }
        for (field, title, y_desc, scale, file) in [
            (
                "mops",
                "throughput per round",
                "million operations per second",
                1.0,
                "churn-throughput.svg",
            ),
            (
                "alloc_bytes",
                "bytes allocated after each round",
                "MB live in the allocator",
                1e-6,
                "churn-memory.svg",
            ),
        ] {
            let series = last["results"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    let pts = e["rounds"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .enumerate()
                        .filter_map(|(i, r)| Some(((i + 1) as f64, r[field].as_f64()? * scale)))
                        .collect();
                    (e["map"].as_str().unwrap_or("?").to_string(), pts)
                })
                .collect();
            Chart {
                title: format!(
                    "Churn: {title} (run {})",
                    last_name.trim_end_matches(".json")
                ),
                x_desc: "round",
                y_desc,
                series,
                log_y: false,
                x_label: &|x| format!("{x:.0}"),
            }
            .draw(&self.img(file))?;
            write!(s, "\n![churn {title}](img/{file})\n")?;
        }
        self.sections.insert("churn", s);
        Ok(())
    }

    fn targets(&mut self) {
        let mut s = String::from("| target | measured | met |\n|---|---|---|\n");
        for (t, m, met) in &self.targets {
            let met = match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "no data",
            };
            writeln!(s, "| {t} | {m} | {met} |").unwrap();
        }
        self.sections.insert("targets", s);
    }

    /// Copies the inputs next to the docs, so the tables can be checked later.
    fn keep_data(&self) -> Result<(), Error> {
        let data = self.opts.docs.join("data");
        for bench in ["growth_latency", "memory", "churn"] {
            for (name, v) in result_runs(&self.opts.results, bench) {
                fs::create_dir_all(data.join(bench))?;
                fs::write(data.join(bench).join(name), serde_json::to_string(&v)?)?;
            }
        }
        let mut criterion = BTreeMap::new();
        for group in WORKLOADS.iter().map(|w| w.0).chain(["hot_read"]) {
            let runs = runs_of(&self.opts.criterion, group, &self.opts.baselines);
            for ((bench, param, run), (ns, el)) in estimates(&self.opts.criterion, group, &runs) {
                criterion.insert(
                    format!("{group}/{bench}/{param}/{run}"),
                    serde_json::json!({"median_ns": ns, "elements": el}),
                );
            }
        }
        fs::create_dir_all(&data)?;
        fs::write(
            data.join("criterion-medians.json"),
            serde_json::to_string_pretty(&criterion)?,
        )?;
        Ok(())
    }

    fn write_markdown(&self) -> Result<(), Error> {
        let path = self.opts.docs.join("benchmarks.md");
        let mut doc = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (name, body) in &self.sections {
            let (open, close) = (
                format!("<!-- report:{name} -->"),
                format!("<!-- /report:{name} -->"),
            );
            let (Some(a), Some(b)) = (doc.find(&open), doc.find(&close)) else {
                eprintln!("no {open} … {close} in {}; section skipped", path.display());
                continue;
            };
            doc.replace_range(a + open.len()..b, &format!("\n{body}\n"));
        }
        fs::write(&path, doc)?;
        Ok(())
    }
}

fn main() -> Result<(), Error> {
    let opts = opts()?;
    fs::create_dir_all(opts.docs.join("img"))?;
    let mut r = Report {
        opts,
        sections: BTreeMap::new(),
        targets: Vec::new(),
    };
    r.machine();
    r.peers()?;
    r.hot_read();
    r.growth()?;
    r.memory();
    r.churn()?;
    r.targets();
    r.keep_data()?;
    r.write_markdown()?;
    for (name, body) in &r.sections {
        println!("## {name}\n{body}");
    }
    Ok(())
}
