//! Minimal Prometheus primitives: labelled counters and histograms. On the hot path, once a
//! label set exists, recording is a read lock, a hash lookup with a thread-local key (no
//! allocation) and an atomic add; through a held [`Counter`] or [`Histogram`] (per route, see
//! [`super::route::RouteMetrics`]) only the atomic add.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Separates label values inside a key (no label value carries this byte).
const SEP: char = '\u{1f}';

thread_local! {
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with the label values joined into a reusable thread-local key.
fn with_key<R>(labels: &[&str], f: impl FnOnce(&str) -> R) -> R {
    KEY.with(|key| {
        let mut key = key.borrow_mut();
        key.clear();
        for (i, label) in labels.iter().enumerate() {
            if i > 0 {
                key.push(SEP);
            }
            key.push_str(label);
        }
        f(&key)
    })
}

/// The label values of a key.
fn split(key: &str) -> Vec<String> {
    if key.is_empty() {
        Vec::new()
    } else {
        key.split(SEP).map(str::to_owned).collect()
    }
}

/// Entries sorted by key, so a family renders in a stable order.
fn sorted<V>(map: &HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// A family's series: one value per label set, made at first use.
struct Series<V>(RwLock<HashMap<String, Arc<V>>>);

impl<V> Series<V> {
    fn new() -> Series<V> {
        Series(RwLock::new(HashMap::new()))
    }

    /// Runs `f` on the value of `labels`, made with `new` if the label set is new; a known one
    /// costs only the read lock.
    fn with(&self, labels: &[&str], new: fn() -> V, f: impl FnOnce(&V)) {
        with_key(labels, |key| {
            if let Some(value) = self.0.read().expect("metrics lock").get(key) {
                f(value);
                return;
            }
            f(&self.get_or_insert(key, new));
        });
    }

    /// The value of `labels`, held by the caller to record without a lookup (the series exists
    /// from now on).
    fn handle(&self, labels: &[&str], new: fn() -> V) -> Arc<V> {
        with_key(labels, |key| self.get_or_insert(key, new))
    }

    fn get_or_insert(&self, key: &str, new: fn() -> V) -> Arc<V> {
        self.0
            .write()
            .expect("metrics lock")
            .entry(key.to_owned())
            .or_insert_with(|| Arc::new(new()))
            .clone()
    }
}

/// A counter family (`name{labels} value`).
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Series<AtomicU64>,
}

impl CounterVec {
    /// A counter family `name` with `help` text and label names `labels`.
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        CounterVec {
            name,
            help,
            labels,
            values: Series::new(),
        }
    }

    /// Adds one to the series of `labels` (values in `labels`' order).
    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1);
    }

    /// Adds `n` to the series of `labels`.
    pub fn add(&self, labels: &[&str], n: u64) {
        self.values.with(labels, zero, |slot| {
            slot.fetch_add(n, Ordering::Relaxed);
        });
    }

    /// The counter of one label set, to count on without a lookup (the series exists from now
    /// on, at 0 until counted).
    pub fn handle(&self, labels: &[&str]) -> Counter {
        Counter(self.values.handle(labels, zero))
    }

    /// Appends the family in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter",
            self.name, self.help, self.name
        );
        let values = self.values.0.read().expect("metrics lock");
        for (key, value) in sorted(&values) {
            let labels = label_text(self.labels, &split(key), None);
            let _ = writeln!(
                out,
                "{}{labels} {}",
                self.name,
                value.load(Ordering::Relaxed)
            );
        }
    }
}

fn zero() -> AtomicU64 {
    AtomicU64::new(0)
}

/// One series of a [`CounterVec`], held to count without a lookup.
#[derive(Clone)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
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

impl HistogramData {
    fn new() -> HistogramData {
        HistogramData {
            buckets: LATENCY_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    fn observe(&self, seconds: f64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
}

/// One series of a [`HistogramVec`], held to observe without a lookup.
#[derive(Clone)]
pub struct Histogram(Arc<HistogramData>);

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, seconds: f64) {
        self.0.observe(seconds);
    }
}

/// A histogram family of durations.
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Series<HistogramData>,
}

impl HistogramVec {
    /// A histogram family `name` with `help` text and label names `labels`.
    pub fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        HistogramVec {
            name,
            help,
            labels,
            values: Series::new(),
        }
    }

    /// Records one duration in the series of `labels`.
    pub fn observe(&self, labels: &[&str], seconds: f64) {
        self.values
            .with(labels, HistogramData::new, |data| data.observe(seconds));
    }

    /// The histogram of one label set, to observe without a lookup (the series exists from now
    /// on, empty until observed).
    pub fn handle(&self, labels: &[&str]) -> Histogram {
        Histogram(self.values.handle(labels, HistogramData::new))
    }

    /// Appends the family in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} histogram",
            self.name, self.help, self.name
        );
        let values = self.values.0.read().expect("metrics lock");
        for (key, data) in sorted(&values) {
            let labels = split(key);
            let mut cumulative = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&data.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = format!("{bound}");
                let text = label_text(self.labels, &labels, Some(&le));
                let _ = writeln!(out, "{}_bucket{text} {cumulative}", self.name);
            }
            let count = data.count.load(Ordering::Relaxed);
            let text = label_text(self.labels, &labels, Some("+Inf"));
            let _ = writeln!(out, "{}_bucket{text} {count}", self.name);
            let sum = data.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let text = label_text(self.labels, &labels, None);
            let _ = writeln!(out, "{}_sum{text} {sum}", self.name);
            let _ = writeln!(out, "{}_count{text} {count}", self.name);
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

/// Escapes a label value for the text format (backslash, quote, newline).
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
