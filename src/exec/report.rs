//! The performance report: one self-contained HTML page drawn from [`RunStats`], like Dask's
//! `performance_report`, with inline SVG (no JavaScript, no external resources), so it opens
//! in any browser, from disk or as a CI artifact.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::exec::RunStats;

/// Colours of operations, in plan order (repeating past the end); spills are grey.
const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#17becf", "#8cd17d", "#d37295",
];
const SPILL_COLOUR: &str = "#7f7f7f";

/// Width of the plots' drawing area, and the left margin for labels.
const PLOT_W: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;

impl RunStats {
    /// The run as a self-contained HTML page: a summary (wall time, tasks, threads, bytes
    /// read, written and spilled, peak memory against the budget, peak RSS), a table of the
    /// operations (tasks, busy time, bytes produced), the task stream (one row per worker
    /// thread, one bar per task coloured by operation, with a tooltip) and the memory pool
    /// over time with the memory limit. See [`to_html`](Self::to_html).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
    /// let (_, stats) = (&x - x.mean_axes(&[0])).std(0.0).compute_with_stats(&Config::default())?;
    /// let html = stats.html();
    /// assert!(html.contains(r#"<svg id="task-stream""#) && html.contains(r#"<svg id="memory""#));
    /// assert!(!html.contains("<script"));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn html(&self) -> String {
        let mut h = String::with_capacity(4096 + self.timeline.events.len() * 120);
        h.push_str(concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<title>rask performance report</title>\n<style>\n",
            "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\n",
            "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\n",
            "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;",
            "text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\n",
            ".sub,.note{color:#666}.sw{display:inline-block;width:12px;height:12px;",
            "vertical-align:middle;margin-right:4px}\n",
            ".legend span{margin-right:14px;white-space:nowrap}\n",
            "svg{display:block;background:#fff}svg text{font:11px system-ui,sans-serif;fill:#444}\n",
            "svg .axis{stroke:#999;stroke-width:1}svg .grid{stroke:#eee;stroke-width:1}\n",
        ));
        let n_ops = self.ops.len();
        for i in 0..n_ops {
            let _ = writeln!(h, ".o{i}{{fill:{}}}", self.colour(i));
        }
        h.push_str("</style>\n</head>\n<body>\n<h1>rask performance report</h1>\n");
        let _ = writeln!(
            h,
            "<p class=\"sub\">rask {}: {} tasks on {} worker threads in {}</p>",
            env!("CARGO_PKG_VERSION"),
            self.tasks,
            self.threads,
            seconds(self.wall_s)
        );
        self.summary(&mut h);
        self.ops_table(&mut h);
        self.task_stream(&mut h);
        self.memory_plot(&mut h);
        h.push_str("</body>\n</html>\n");
        h
    }

    /// Writes [`html`](Self::html) to `path` (through a temporary file beside it, renamed into
    /// place, so the report is complete or absent). Open it in any browser.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let path = std::env::temp_dir().join(format!("rask-doc-report-{}.html", std::process::id()));
    /// let (_, stats) = ChunkedArray::<f64>::random(&[500, 500], &[100, 100])
    ///     .sum()
    ///     .compute_with_stats(&Config::default())?;
    /// stats.to_html(&path)?;
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("Task stream"));
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn to_html(&self, path: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "RunStats::to_html";
        let path = path.as_ref();
        let name = path
            .file_name()
            .ok_or_else(|| Error::arg(OP, format!("{} does not name a file", path.display())))?;
        let tmp = path.with_file_name(format!(
            ".{}.rask-{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&tmp, self.html()).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(OP, tmp.display(), e)
        })?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(OP, path.display(), e)
        })
    }

    fn colour(&self, op: usize) -> &'static str {
        if self.ops.get(op).is_some_and(|o| o.kind == "spill") {
            SPILL_COLOUR
        } else {
            PALETTE[op % PALETTE.len()]
        }
    }

    fn summary(&self, h: &mut String) {
        h.push_str("<h2>Summary</h2>\n<table class=\"summary\">\n");
        let busy: f64 = self
            .ops
            .iter()
            .filter(|o| o.kind != "spill")
            .map(|o| o.busy_s)
            .sum();
        let capacity = self.wall_s * self.threads.max(1) as f64;
        let mut row = |k: &str, v: String| {
            let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
        };
        row("Wall time", seconds(self.wall_s));
        row("Tasks", self.tasks.to_string());
        row("Worker threads", self.threads.to_string());
        row(
            "Busy (tasks' time / wall × threads)",
            if capacity > 0.0 {
                format!("{} ({:.0}%)", seconds(busy), 100.0 * busy / capacity)
            } else {
                seconds(busy)
            },
        );
        row("Bytes read", bytes(self.bytes_read));
        row("Bytes written", bytes(self.bytes_written));
        row(
            "Bytes spilled",
            format!(
                "{} ({} blocks)",
                bytes(self.bytes_spilled),
                self.blocks_spilled
            ),
        );
        row(
            "Bytes read again",
            format!(
                "{} ({} blocks dropped)",
                bytes(self.bytes_reread),
                self.blocks_reread
            ),
        );
        row(
            "Blocks made in recycled buffers",
            self.blocks_recycled.to_string(),
        );
        let pct = if self.memory_limit > 0 {
            format!(
                " ({:.0}% of the limit)",
                100.0 * self.peak_memory_bytes as f64 / self.memory_limit as f64
            )
        } else {
            String::new()
        };
        row(
            "Peak memory (blocks held + running tasks)",
            format!("{}{pct}", bytes(self.peak_memory_bytes as u64)),
        );
        row("Memory limit", bytes(self.memory_limit as u64));
        row("Peak held blocks", bytes(self.peak_block_bytes as u64));
        row(
            "Peak RSS (process)",
            self.peak_rss_bytes
                .map_or_else(|| "not measured".to_string(), bytes),
        );
        h.push_str("</table>\n");
    }

    fn ops_table(&self, h: &mut String) {
        h.push_str(concat!(
            "<h2>Operations</h2>\n<table class=\"ops\">\n<tr><th>#</th><th>operation</th>",
            "<th>kind</th><th>tasks</th><th>busy</th><th>share</th><th>per task</th>",
            "<th>bytes out</th></tr>\n"
        ));
        let busy: f64 = self.ops.iter().map(|o| o.busy_s).sum();
        for (i, o) in self.ops.iter().enumerate() {
            let _ = writeln!(
                h,
                "<tr><td class=\"n\"><span class=\"sw\" style=\"background:{}\"></span>{i}</td>\
                 <td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{:.1}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                self.colour(i),
                esc(&o.name),
                esc(&o.kind),
                o.tasks,
                seconds(o.busy_s),
                if busy > 0.0 {
                    100.0 * o.busy_s / busy
                } else {
                    0.0
                },
                if o.tasks > 0 {
                    seconds(o.busy_s / o.tasks as f64)
                } else {
                    "-".into()
                },
                bytes(o.bytes_out),
            );
        }
        h.push_str("</table>\n");
    }

    /// The horizontal extent of the plots, in seconds.
    fn span_s(&self) -> f64 {
        let last = self
            .timeline
            .events
            .iter()
            .map(|e| e.end_s)
            .chain(self.timeline.memory.iter().map(|m| m.0))
            .fold(0.0, f64::max);
        self.wall_s.max(last).max(1e-9)
    }

    fn task_stream(&self, h: &mut String) {
        let tl = &self.timeline;
        let workers = tl.workers.max(1);
        let row_h = (360.0 / workers as f64).clamp(4.0, 20.0);
        let top = 8.0;
        let height = top + row_h * workers as f64 + 28.0;
        let span = self.span_s();
        let x = |t: f64| LEFT + t / span * PLOT_W;
        h.push_str("<h2>Task stream</h2>\n");
        let drawn = if tl.stride > 1 {
            format!(
                "{} of {} tasks drawn (every {}th); ",
                tl.events.len(),
                self.tasks,
                tl.stride
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            h,
            "<p class=\"note\">{drawn}one row per worker thread, one bar per task, coloured by \
             operation; hover over a bar for its operation and times.</p>"
        );
        let _ = writeln!(
            h,
            "<svg id=\"task-stream\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
             height=\"{height:.0}\" viewBox=\"0 0 {w} {height:.0}\">",
            w = LEFT + PLOT_W + RIGHT
        );
        let bottom = top + row_h * workers as f64;
        self.time_axis(h, top, bottom, span);
        for w in 0..workers {
            let y = top + row_h * w as f64;
            let _ = writeln!(
                h,
                "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">\
                 worker {w}</text>",
                LEFT - 6.0,
                y + row_h / 2.0
            );
        }
        let names: Vec<String> = self.ops.iter().map(|o| short(&o.name, 48)).collect();
        let bar_h = (row_h - 1.0).max(1.0);
        for e in &tl.events {
            let x0 = x(e.start_s);
            let w = (x(e.end_s) - x0).max(0.5);
            let y = top + row_h * e.worker.min(workers - 1) as f64;
            let _ = writeln!(
                h,
                "<rect class=\"t o{}\" x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
                 height=\"{bar_h:.1}\"><title>{}: {} to {} ({})</title></rect>",
                e.op,
                names.get(e.op).map_or("?", |s| s.as_str()),
                seconds(e.start_s),
                seconds(e.end_s),
                seconds(e.end_s - e.start_s),
            );
        }
        h.push_str("</svg>\n<div class=\"legend\">");
        for (i, o) in self.ops.iter().enumerate() {
            let _ = write!(
                h,
                "<span><i class=\"sw\" style=\"background:{}\"></i>{}</span>",
                self.colour(i),
                esc(&short(&o.name, 80))
            );
        }
        h.push_str("</div>\n");
    }

    /// Vertical grid lines and time labels under a plot spanning `top..bottom`.
    fn time_axis(&self, h: &mut String, top: f64, bottom: f64, span: f64) {
        let step = nice_step(span / 8.0);
        let mut t = 0.0;
        while t <= span * 1.0001 {
            let x = LEFT + t / span * PLOT_W;
            let _ = writeln!(
                h,
                "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 14.0,
                seconds(t)
            );
            t += step;
        }
        let _ = writeln!(
            h,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{bottom:.1}\" x2=\"{:.1}\" y2=\"{bottom:.1}\"/>",
            LEFT + PLOT_W
        );
    }

    fn memory_plot(&self, h: &mut String) {
        let tl = &self.timeline;
        let (top, plot_h) = (12.0, 200.0);
        let bottom = top + plot_h;
        let height = bottom + 28.0;
        let span = self.span_s();
        let peak = tl
            .memory
            .iter()
            .map(|m| m.1)
            .max()
            .unwrap_or(0)
            .max(self.peak_memory_bytes as u64)
            .max(1);
        let limit = self.memory_limit as u64;
        // The limit is drawn when it is within reach of the data; a limit far above it (half
        // the machine's memory by default) would flatten the curve.
        let limit_drawn = limit > 0 && limit <= peak.saturating_mul(4);
        let ymax = if limit_drawn { peak.max(limit) } else { peak } as f64 * 1.08;
        let y = |b: u64| bottom - b as f64 / ymax * plot_h;
        h.push_str("<h2>Memory</h2>\n");
        let _ = writeln!(
            h,
            "<p class=\"note\">Bytes of blocks held plus the reservations of running tasks (the \
             memory pool the limit applies to); each point is the highest level since the one \
             before.</p>"
        );
        let _ = writeln!(
            h,
            "<svg id=\"memory\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" \
             height=\"{height:.0}\" viewBox=\"0 0 {w} {height:.0}\">",
            w = LEFT + PLOT_W + RIGHT
        );
        self.time_axis(h, top, bottom, span);
        let ystep = nice_bytes_step(ymax / 4.0);
        let mut b = 0u64;
        while (b as f64) <= ymax {
            let yy = y(b);
            let _ = writeln!(
                h,
                "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\"/>\
                 <text x=\"{:.0}\" y=\"{yy:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">\
                 {}</text>",
                LEFT + PLOT_W,
                LEFT - 6.0,
                bytes(b)
            );
            b += ystep;
        }
        let _ = writeln!(
            h,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{bottom}\"/>"
        );
        let mut pts = String::with_capacity(tl.memory.len() * 14);
        for &(t, m) in &tl.memory {
            let _ = write!(pts, "{:.1},{:.1} ", LEFT + t / span * PLOT_W, y(m));
        }
        let _ = writeln!(
            h,
            "<polyline fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"1.5\" points=\"{}\"/>",
            pts.trim_end()
        );
        if limit_drawn {
            let yl = y(limit);
            let _ = writeln!(
                h,
                "<line x1=\"{LEFT}\" y1=\"{yl:.1}\" x2=\"{:.1}\" y2=\"{yl:.1}\" stroke=\"#e15759\" \
                 stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" \
                 text-anchor=\"end\" style=\"fill:#e15759\">memory limit {}</text>",
                LEFT + PLOT_W,
                LEFT + PLOT_W - 4.0,
                yl - 4.0,
                bytes(limit)
            );
        } else {
            let _ = writeln!(
                h,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" style=\"fill:#e15759\">\
                 memory limit {} (far above the plot)</text>",
                LEFT + PLOT_W - 4.0,
                top + 10.0,
                bytes(limit)
            );
        }
        h.push_str("</svg>\n");
    }
}

/// `1`, `2` or `5` times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * p)
}

/// A power of two of bytes times 1, 2 or 5 (rounded to KiB, MiB, ...), at least `raw`.
fn nice_bytes_step(raw: f64) -> u64 {
    let raw = raw.max(1.0);
    let unit = [1u64 << 30, 1 << 20, 1 << 10, 1]
        .into_iter()
        .find(|&u| u as f64 <= raw)
        .unwrap_or(1);
    (nice_step(raw / unit as f64).ceil() as u64).max(1) * unit
}

/// Bytes in binary units: `512 B`, `8.0 MiB`, `1.50 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if v < 10.0 {
        format!("{v:.2} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Seconds with a unit that suits them: `850 µs`, `12.3 ms`, `4.56 s`.
fn seconds(s: f64) -> String {
    if s == 0.0 {
        "0 s".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// `s` cut to `n` characters with an ellipsis, escaped for HTML.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        esc(s)
    } else {
        let cut: String = s.chars().take(n - 1).collect();
        esc(&format!("{cut}…"))
    }
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_units() {
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_bytes_step(3.0 * 1048576.0), 5 << 20);
        assert_eq!(bytes(8 << 20), "8.00 MiB");
        assert_eq!(bytes(1000), "1000 B");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(short("abcdef", 4), "abc…");
    }

    #[test]
    fn empty_stats_render() {
        let html = RunStats::default().html();
        assert!(html.contains("<svg id=\"task-stream\""));
        assert!(html.contains("<svg id=\"memory\""));
        assert!(html.ends_with("</html>\n"));
    }
}
