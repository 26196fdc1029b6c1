//! The quick ratio run behind `make test`'s benchmark guard (`scripts/bench-quick-rust`, then
//! `scripts/bench-guard`): every ratio of `ratios.json`, measured in about two seconds instead of
//! criterion's minutes, written as the guard's JSON contract.
//!
//! Method: each figure a ratio needs (a criterion id such as `closed_pair_1_thread/recloser_error_rate`)
//! is timed over a batch of about `BATCH`, once per round, the figures in a rotating order, for
//! `ROUNDS` rounds. A figure's value is the `QUANTILE` of its rounds, not the median: load from
//! another process (builds on the same two cores) only ever adds time, and it comes and goes
//! within a run, so the low end of the rounds is the engine's own cost while the median follows
//! the load. Interleaving keeps both sides of a ratio under the same conditions.
//!
//!     cargo bench -p circuit-core --bench quick -- OUT.json

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod peers;
use peers::{Pair, Reject, engines, open_engines, two_threads};

const ROUNDS: usize = 61;
const BATCH: Duration = Duration::from_millis(2);
const QUANTILE: f64 = 0.1;

/// How one figure is timed; each returns the elapsed time of `n` operations (per thread).
enum Figure {
    OneThread(Arc<dyn Pair>),
    TwoThreads(Arc<dyn Pair>),
    Rejection(Box<dyn Reject>),
}

impl Figure {
    fn time(&self, n: u64) -> Duration {
        match self {
            Figure::OneThread(engine) => {
                let began = Instant::now();
                for _ in 0..n {
                    engine.pair();
                }
                let took = began.elapsed();
                assert!(engine.admits(), "the engine stopped admitting calls: pairs measured rejections");
                took
            }
            Figure::TwoThreads(engine) => {
                let took = two_threads(engine.as_ref(), n);
                assert!(engine.admits(), "the engine stopped admitting calls: pairs measured rejections");
                took
            }
            Figure::Rejection(engine) => {
                let mut refused = 0u64;
                let began = Instant::now();
                for _ in 0..n {
                    refused += u64::from(black_box(engine.reject()));
                }
                let took = began.elapsed();
                assert_eq!(refused, n, "the engine admitted calls: rejections measured admissions");
                took
            }
        }
    }

    /// The operation count whose batch takes about `BATCH`.
    fn calibrate(&self) -> u64 {
        let mut n = 1_000;
        loop {
            let took = self.time(n);
            if took >= BATCH / 8 {
                return ((n as f64) * BATCH.as_secs_f64() / took.as_secs_f64()).ceil() as u64;
            }
            n *= 4;
        }
    }
}

fn figure(id: &str) -> Figure {
    let (group, bench) = id.split_once('/').unwrap_or_else(|| panic!("figure id {id} is not group/bench"));
    match group {
        "closed_pair_1_thread" => Figure::OneThread(named(engines(), bench)),
        "closed_pair_2_threads" => Figure::TwoThreads(named(engines(), bench)),
        "open_rejection" => Figure::Rejection(named(open_engines(), bench)),
        _ => panic!("unknown benchmark group {group}"),
    }
}

fn named<T>(engines: Vec<(&'static str, T)>, bench: &str) -> T {
    engines.into_iter().find(|(name, _)| *name == bench).unwrap_or_else(|| panic!("no engine {bench}")).1
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let out = std::env::args().skip(1).find(|a| !a.starts_with("--")).expect("usage: quick OUT.json");
    let spec: Value = serde_json::from_str(include_str!("ratios.json")).expect("ratios.json is JSON");
    let ratios = spec["ratios"].as_array().expect("ratios.json has a ratios list");
    let text = |r: &Value, key: &str| r[key].as_str().unwrap_or_else(|| panic!("ratio without {key}")).to_owned();

    let mut ids: Vec<String> = ratios.iter().flat_map(|r| [text(r, "over"), text(r, "under")]).collect();
    // By engine, then group: the two figures of a scaling ratio are timed back to back.
    ids.sort_by(|a, b| (a.split_once('/').map(|p| p.1), a).cmp(&(b.split_once('/').map(|p| p.1), b)));
    ids.dedup();
    let figures: Vec<(Figure, u64)> = ids
        .iter()
        .map(|id| {
            let figure = figure(id);
            let n = figure.calibrate();
            (figure, n)
        })
        .collect();

    let began = Instant::now();
    let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for round in 0..=ROUNDS {
        for k in 0..figures.len() {
            let i = (k + round) % figures.len();
            let (figure, n) = &figures[i];
            let ns = figure.time(*n).as_nanos() as f64 / *n as f64;
            // Round 0 warms caches, branch predictors and thread slots; it is not kept.
            if round > 0 {
                samples.entry(&ids[i]).or_default().push(ns);
            }
        }
    }

    let mut rows = Vec::new();
    println!("{:<34} {:>8} {:>8} {:>8}", "ratio (quick)", "value", "min", "target");
    for r in ratios {
        let (over, under) = (&samples[text(r, "over").as_str()], &samples[text(r, "under").as_str()]);
        let factor = r["factor"].as_f64().unwrap_or(1.0);
        let value = factor * quantile(over, QUANTILE) / quantile(under, QUANTILE);
        let target = r["target"].as_f64();
        println!(
            "{:<34} {value:>8.2} {:>8.2} {:>8}",
            text(r, "name"),
            r["min"].as_f64().unwrap_or(0.0),
            target.map_or("-".into(), |t| format!("{t:.2}"))
        );
        rows.push(json!({
            "name": text(r, "name"), "what": text(r, "what"), "value": value,
            "target": target, "min": r["min"],
        }));
    }
    let figures: Vec<Value> = samples
        .iter()
        .map(|(id, ns)| {
            json!({
                "name": id, "what": format!("ns per operation (per thread), {QUANTILE} quantile of the rounds"),
                "value": quantile(ns, QUANTILE), "median": quantile(ns, 0.5), "unit": "ns", "rounds": ns,
            })
        })
        .collect();
    let report = json!({
        "suite": "rust",
        "method": format!(
            "{ROUNDS} interleaved rounds of ~{} ms per figure; each figure is the {QUANTILE} quantile of its rounds",
            BATCH.as_millis()
        ),
        "seconds": began.elapsed().as_secs_f64(),
        "ratios": rows,
        "figures": figures,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap() + "\n")
        .unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
}
