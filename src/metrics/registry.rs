//! Minimal Prometheus primitives: labelled counters and histograms, lock-free on the hot path
//! once a label set exists (a read lock and an atomic add).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Label values, in the family's label order.
pub type Labels = Vec<String>;

/// A counter family (`name{labels} value`).
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: RwLock<BTreeMap<Labels, Arc<AtomicU64>>>,
}

impl CounterVec {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        CounterVec {
            name,
            help,
            labels,
            values: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }

    pub fn add(&self, labels: &[&str], n: u64) {
        self.slot(labels).fetch_add(n, Ordering::Relaxed);
    }

    fn slot(&self, labels: &[&str]) -> Arc<AtomicU64> {
        let key: Labels = labels.iter().map(|l| (*l).to_owned()).collect();
        if let Some(slot) = self.values.read().expect("metrics lock").get(&key) {
            return slot.clone();
        }
        self.values
            .write()
            .expect("metrics lock")
            .entry(key)
            .or_insert_with(|| Arc::new(AtomicU64::new(0)))
            .clone()
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter",
            self.name, self.help, self.name
        );
        for (labels, value) in self.values.read().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.name,
                label_text(self.labels, labels, None),
                value.load(Ordering::Relaxed)
            );
        }
    }
}

/// Bucket bounds in seconds for request and ACME latencies.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

struct HistogramData {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in microseconds.
    sum_micros: AtomicU64,
}

/// A histogram family of durations.
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: RwLock<BTreeMap<Labels, Arc<HistogramData>>>,
}

impl HistogramVec {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        HistogramVec {
            name,
            help,
            labels,
            values: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn observe(&self, labels: &[&str], seconds: f64) {
        let key: Labels = labels.iter().map(|l| (*l).to_owned()).collect();
        let existing = self.values.read().expect("metrics lock").get(&key).cloned();
        let data = existing.unwrap_or_else(|| {
            self.values
                .write()
                .expect("metrics lock")
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(HistogramData {
                        buckets: LATENCY_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
                        count: AtomicU64::new(0),
                        sum_micros: AtomicU64::new(0),
                    })
                })
                .clone()
        });
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            data.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        data.count.fetch_add(1, Ordering::Relaxed);
        data.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} histogram",
            self.name, self.help, self.name
        );
        for (labels, data) in self.values.read().expect("metrics lock").iter() {
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&data.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = format!("{bound}");
                let _ = writeln!(
                    out,
                    "{}_bucket{} {cumulative}",
                    self.name,
                    label_text(self.labels, labels, Some(&le))
                );
            }
            let count = data.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{}_bucket{} {count}",
                self.name,
                label_text(self.labels, labels, Some("+Inf"))
            );
            let sum = data.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "{}_sum{} {sum}",
                self.name,
                label_text(self.labels, labels, None)
            );
            let _ = writeln!(
                out,
                "{}_count{} {count}",
                self.name,
                label_text(self.labels, labels, None)
            );
        }
    }
}

/// `{a="x",b="y"}` (with `le` for histogram buckets), values escaped.
pub fn label_text(names: &[&str], values: &[String], le: Option<&str>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
