//! Prints criterion baselines side by side as a Markdown table.
//!
//! ```text
//! cargo run --release --example compare_baselines -- [--dir DIR] [--filter F] [--paired] A B [C ...]
//! ```
//!
//! Reads `DIR/<group>/<bench>/<name>/estimates.json` for each baseline name
//! and prints, for every bench found under any of them, criterion's median
//! for each baseline in nanoseconds. With two baselines the last column is
//! the ratio B / A; with three or more it is the median across them (for
//! repeated runs on one machine). `DIR` defaults to `$CRITERION_HOME`, then
//! `$CARGO_TARGET_DIR/criterion`, then `target/criterion`, the places
//! criterion itself writes to. `--filter` keeps the benches whose id
//! contains `F` (e.g. `map/`).
//!
//! With `--paired`, the names are pairs `A1 B1 A2 B2 ...` from interleaved
//! runs of two builds (`scripts/bench-orderings.sh` with `ROUNDS=N`): the
//! table gives the median of each side, every pair's ratio B / A, and the
//! median of those ratios, which cancels drift that hits both halves of a
//! pair alike.
//!
//! Baselines come from `cargo bench --bench fences -- --save-baseline NAME`.
//! To compare two machines, copy one machine's `criterion/` tree over the
//! other's (the baseline names must differ) and run this once.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Bench id (`group/bench`) to its median under each baseline, in the
/// order the baselines were named.
type Table = BTreeMap<String, Vec<Option<f64>>>;

fn default_dir() -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from("target/criterion")
}

/// The `point_estimate` of the `"median"` object in criterion's
/// `estimates.json`. A scan rather than a JSON parser: the file's shape is
/// fixed and this keeps the example free of dependencies.
fn median_ns(json: &str) -> Option<f64> {
    let mut rest = json;
    loop {
        let at = rest.find("\"median\"")?;
        rest = &rest[at + "\"median\"".len()..];
        // `"median_abs_dev"` also starts with `"median`, but not with the
        // closing quote, so this finds the right key; still check the colon.
        if rest.trim_start().starts_with(':') {
            break;
        }
    }
    let at = rest.find("\"point_estimate\"")?;
    let value = rest[at + "\"point_estimate\"".len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

/// Walks `dir`, filing every `<bench>/<baseline>/estimates.json` whose
/// baseline is one of `names` under its bench id.
fn collect(root: &Path, dir: &Path, names: &[String], table: &mut Table) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name();
        let is_baseline = names.iter().any(|n| name.to_str() == Some(n.as_str()));
        let estimates = path.join("estimates.json");
        if !(is_baseline && estimates.is_file()) {
            collect(root, &path, names, table);
            continue;
        }
        let Ok(bench) = dir.strip_prefix(root) else {
            continue;
        };
        let id = bench.to_string_lossy().replace('\\', "/");
        let median = fs::read_to_string(&estimates)
            .ok()
            .and_then(|s| median_ns(&s));
        let row = table.entry(id).or_insert_with(|| vec![None; names.len()]);
        for (slot, n) in names.iter().enumerate() {
            if name.to_str() == Some(n.as_str()) {
                row[slot] = median;
            }
        }
    }
}

/// Formats nanoseconds with three significant figures.
fn ns(v: Option<f64>) -> String {
    match v {
        None => "–".to_string(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The median of the values present, if any.
fn median(values: &[Option<f64>]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().flatten().copied().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Removes `flag VALUE` from `args` and returns the value.
fn take_option(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, String> {
    let Some(i) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    if i + 1 >= args.len() {
        return Err(format!("{flag} needs a value"));
    }
    let value = args.remove(i + 1);
    args.remove(i);
    Ok(Some(value))
}

/// The `--paired` table: medians of the A and B sides, each pair's B / A, and
/// the median of those ratios.
fn print_paired(names: &[String], table: &Table) {
    // `acqrel-1` → `acqrel`: the pairs share a name up to the round number.
    let side = |n: &str| n.rsplit_once('-').map_or(n, |(s, _)| s).to_string();
    println!(
        "| bench | {a} median (ns/op) | {b} median (ns/op) | {b} / {a} per pair | median ratio |",
        a = side(&names[0]),
        b = side(&names[1])
    );
    println!("|---|---:|---:|---|---:|");
    for (id, values) in table {
        let a: Vec<Option<f64>> = values.iter().step_by(2).copied().collect();
        let b: Vec<Option<f64>> = values.iter().skip(1).step_by(2).copied().collect();
        let ratios: Vec<Option<f64>> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) if *a > 0.0 => Some(b / a),
                _ => None,
            })
            .collect();
        let each: Vec<String> = ratios
            .iter()
            .map(|r| r.map_or_else(|| "–".to_string(), |r| format!("{r:.2}")))
            .collect();
        let mid = median(&ratios).map_or_else(|| "–".to_string(), |r| format!("{r:.3}"));
        println!(
            "| {id} | {} | {} | {} | {mid} |",
            ns(median(&a)),
            ns(median(&b)),
            each.join(", ")
        );
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = env::args().skip(1).collect();
    let (dir, filter) = match (
        take_option(&mut args, "--dir"),
        take_option(&mut args, "--filter"),
    ) {
        (Ok(dir), Ok(filter)) => (
            dir.map_or_else(default_dir, PathBuf::from),
            filter.unwrap_or_default(),
        ),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let paired = match args.iter().position(|a| a == "--paired") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let names = args;
    if paired && (names.len() < 2 || names.len() % 2 != 0) {
        eprintln!("--paired needs an even number of baselines: A1 B1 A2 B2 ...");
        return ExitCode::FAILURE;
    }
    if names.len() < 2 {
        eprintln!(
            "usage: compare_baselines [--dir DIR] [--filter F] [--paired] BASELINE_A BASELINE_B [MORE ...]"
        );
        return ExitCode::FAILURE;
    }

    let mut table = Table::new();
    collect(&dir, &dir, &names, &mut table);
    table.retain(|id, _| id.contains(&filter));
    if table.is_empty() {
        eprintln!(
            "no benches with baselines {names:?} under {} matching {filter:?}",
            dir.display()
        );
        return ExitCode::FAILURE;
    }

    if paired {
        print_paired(&names, &table);
        return ExitCode::SUCCESS;
    }
    let last = if names.len() == 2 {
        format!("{} / {}", names[1], names[0])
    } else {
        "median".to_string()
    };
    let heads: Vec<String> = names.iter().map(|n| format!("{n} (ns/op)")).collect();
    println!("| bench | {} | {last} |", heads.join(" | "));
    println!("|---|{}---:|", "---:|".repeat(names.len()));
    for (id, values) in &table {
        let cells: Vec<String> = values.iter().map(|v| ns(*v)).collect();
        let summary = if names.len() == 2 {
            match (values[0], values[1]) {
                (Some(a), Some(b)) if a > 0.0 => format!("{:.2}", b / a),
                _ => "–".to_string(),
            }
        } else {
            ns(median(values))
        };
        println!("| {id} | {} | {summary} |", cells.join(" | "));
    }
    ExitCode::SUCCESS
}
