//! Live progress: bars on a terminal, one plain line per event otherwise, or nothing.
//!
//! On a terminal the overall bar shows the ETA from the task estimates
//! (`observe::eta`: the remaining critical path, or the remaining work over the slots,
//! whichever is longer), and each running task's line its id, title, model and attempt.
//! Ids, titles and error messages are shown escaped (`dagent_core::display`): a plan or a
//! server cannot send escape sequences to the terminal through them.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dagent_core::display::{Escaped, escape, shorten};
use dagent_core::{RunEvent, RunEventKind, RunObserver, format_duration};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::observe::eta::{EtaModel, Left};

/// What a running task's line names: its title and the model it is routed to.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskLabel {
    /// The task's title.
    pub(crate) title: String,
    /// Its model (`None` in a simulation).
    pub(crate) model: Option<String>,
}

/// A running task's line: `id  title · model · attempt N` (the title cut to 40
/// characters, everything escaped).
pub(crate) fn task_line(id: &str, label: &TaskLabel, attempt: u32) -> String {
    let mut out = format!("{}", Escaped(id));
    if !label.title.is_empty() && label.title != id {
        out.push_str("  ");
        out.push_str(&shorten(&label.title, 40));
    }
    if let Some(model) = &label.model {
        out.push_str(" · ");
        out.push_str(&shorten(model, 40));
    }
    out.push_str(&format!(" · attempt {attempt}"));
    out
}

/// The overall bar's message: `ETA 1m 20s`, or nothing without estimates.
pub(crate) fn eta_message(eta: Option<Duration>) -> String {
    eta.map(|d| {
        // Whole seconds: the estimate is not more precise than that.
        let secs = d.as_secs_f64().ceil() as u64;
        if secs == 0 {
            "ETA 0s".to_owned()
        } else {
            format!("ETA {}", format_duration(Duration::from_secs(secs)))
        }
    })
    .unwrap_or_default()
}

/// How progress is shown.
pub(crate) enum Progress {
    /// Nothing (`--quiet`).
    Quiet,
    /// One line per event on stderr (not a terminal: logs, CI, pipes).
    Lines(Mutex<std::io::Stderr>),
    /// An overall bar and a line per running task.
    Bars(Box<Bars>),
}

pub(crate) struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<Running>,
}

/// The running tasks' bars, and where every task is (for the ETA); the labels and the ETA
/// model grow when a loop appends tasks.
#[derive(Default)]
struct Running {
    bars: HashMap<usize, ProgressBar>,
    since: HashMap<usize, Instant>,
    done: Vec<bool>,
    labels: Vec<TaskLabel>,
    eta: Option<EtaModel>,
}

impl Running {
    fn left(&self, now: Instant) -> Vec<Left> {
        (0..self.done.len())
            .map(|i| {
                if self.done[i] {
                    Left::Done
                } else if let Some(at) = self.since.get(&i) {
                    Left::Running(now - *at)
                } else {
                    Left::Waiting
                }
            })
            .collect()
    }
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise, nothing when quiet. `labels` has
    /// one entry per task; `eta` is `None` when the plan has no estimates.
    pub(crate) fn new(quiet: bool, labels: Vec<TaskLabel>, eta: Option<EtaModel>) -> Self {
        let tasks = labels.len();
        if quiet {
            return Self::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Self::Lines(Mutex::new(std::io::stderr()));
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(tasks as u64));
        overall.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {pos}/{len} done {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(120));
        overall.set_message(eta_message(
            eta.as_ref().map(|e| e.eta(&vec![Left::Waiting; tasks])),
        ));
        Self::Bars(Box::new(Bars {
            multi,
            overall,
            running: Mutex::new(Running {
                done: vec![false; tasks],
                labels,
                eta,
                ..Running::default()
            }),
        }))
    }

    /// Recomputes the ETA on the bar (running tasks get closer to their estimates between
    /// events); call it every second or so.
    pub(crate) fn refresh(&self) {
        if let Self::Bars(b) = self
            && let Ok(running) = b.running.lock()
        {
            b.show_eta(&running);
        }
    }

    /// Whether there is a bar to refresh.
    pub(crate) fn has_bars(&self) -> bool {
        matches!(self, Self::Bars(_))
    }

    /// Clears the bars.
    pub(crate) fn finish(&self) {
        if let Self::Bars(b) = self {
            if let Ok(mut running) = b.running.lock() {
                for (_, bar) in running.bars.drain() {
                    bar.finish_and_clear();
                }
            }
            b.overall.finish_and_clear();
            let _ = b.multi.clear();
        }
    }
}

/// The plain one-line form of an event, escaped for a terminal.
pub(crate) fn line(e: &RunEvent) -> String {
    escape(&raw_line(e)).into_owned()
}

fn raw_line(e: &RunEvent) -> String {
    let at = format!("[{:>9.2}s]", e.at.as_secs_f64());
    match &e.kind {
        RunEventKind::Started { attempt: 1 } => format!("{at} start     {}", e.id),
        RunEventKind::Started { attempt } => format!("{at} start     {} (attempt {attempt})", e.id),
        RunEventKind::Retrying {
            attempt,
            delay,
            error,
        } => {
            format!(
                "{at} retry     {} in {} after attempt {attempt}: {error}",
                e.id,
                format_duration(*delay)
            )
        }
        RunEventKind::Succeeded => format!("{at} ok        {}", e.id),
        RunEventKind::Failed { error } => format!("{at} FAILED    {}: {error}", e.id),
        RunEventKind::Skipped { reason } => format!("{at} skipped   {}: {reason}", e.id),
        RunEventKind::Cancelled => format!("{at} cancelled {}", e.id),
        RunEventKind::Reused => format!("{at} reused    {} (its stored result)", e.id),
        RunEventKind::Appended { .. } => format!("{at} appended  {}", e.id),
        _ => format!("{at} event     {}", e.id),
    }
}

impl RunObserver for Progress {
    fn on_event(&self, e: &RunEvent) {
        match self {
            Self::Quiet => {}
            Self::Lines(err) => {
                if let Ok(mut err) = err.lock() {
                    let _ = writeln!(err, "{}", line(e));
                }
            }
            Self::Bars(b) => b.on_event(e),
        }
    }
}

impl Bars {
    fn on_event(&self, e: &RunEvent) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        let label = running.labels.get(e.task).cloned().unwrap_or_default();
        match &e.kind {
            RunEventKind::Appended {
                copy_of,
                title,
                depends_on,
            } => {
                // A loop's next iteration: one more task to run, counted on the bar and in
                // the ETA.
                let model = running.labels.get(*copy_of).and_then(|l| l.model.clone());
                if running.labels.len() <= e.task {
                    running.labels.resize(e.task + 1, TaskLabel::default());
                }
                running.labels[e.task] = TaskLabel {
                    title: title.clone(),
                    model,
                };
                if running.done.len() <= e.task {
                    running.done.resize(e.task + 1, false);
                }
                if let Some(eta) = &mut running.eta {
                    eta.append(e.task, *copy_of, depends_on);
                }
                if let Some(len) = self.overall.length()
                    && e.task as u64 >= len
                {
                    self.overall.set_length(e.task as u64 + 1);
                }
            }
            RunEventKind::Started { attempt } => {
                running.since.insert(e.task, Instant::now());
                let bar = running.bars.entry(e.task).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                bar.set_message(task_line(e.id.as_str(), &label, *attempt));
            }
            RunEventKind::Retrying { delay, .. } => {
                running.since.remove(&e.task);
                if let Some(bar) = running.bars.get(&e.task) {
                    bar.set_message(format!(
                        "{} — retrying in {}",
                        Escaped(e.id.as_str()),
                        format_duration(*delay)
                    ));
                }
            }
            _ => {
                running.since.remove(&e.task);
                if let Some(done) = running.done.get_mut(e.task) {
                    *done = true;
                }
                if let Some(bar) = running.bars.remove(&e.task) {
                    bar.finish_and_clear();
                }
                // Tasks appended by a loop's next iteration lengthen the bar.
                if let Some(len) = self.overall.length()
                    && e.task as u64 >= len
                {
                    self.overall.set_length(e.task as u64 + 1);
                }
                self.overall.inc(1);
                if !matches!(e.kind, RunEventKind::Succeeded | RunEventKind::Reused) {
                    let _ = self.multi.println(line(e));
                }
            }
        }
        self.show_eta(&running);
    }

    fn show_eta(&self, running: &Running) {
        if let Some(eta) = &running.eta {
            let left = running.left(Instant::now());
            self.overall.set_message(eta_message(Some(eta.eta(&left))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_task_line_names_title_model_and_attempt_escaped() {
        let label = TaskLabel {
            title: "Research Tokyo attractions".into(),
            model: Some("deepseek-chat".into()),
        };
        assert_eq!(
            task_line("tokyo", &label, 2),
            "tokyo  Research Tokyo attractions · deepseek-chat · attempt 2"
        );
        let sim = TaskLabel {
            title: "tokyo".into(),
            model: None,
        };
        assert_eq!(task_line("tokyo", &sim, 1), "tokyo · attempt 1");
        let hostile = TaskLabel {
            title: format!("\u{1b}[2Jwipe {}", "x".repeat(80)),
            model: None,
        };
        let shown = task_line("t", &hostile, 1);
        assert!(!shown.contains('\u{1b}'), "{shown}");
        assert!(shown.chars().count() < 70, "the title is cut: {shown}");
    }

    #[test]
    fn the_eta_message_is_in_whole_seconds_or_empty() {
        assert_eq!(eta_message(None), "");
        assert_eq!(eta_message(Some(Duration::ZERO)), "ETA 0s");
        assert_eq!(
            eta_message(Some(Duration::from_millis(79_200))),
            format!("ETA {}", format_duration(Duration::from_secs(80)))
        );
    }
}
