//! Live progress: bars on a terminal, one plain line per event otherwise, or nothing.
//!
//! Ids and error messages are shown escaped (`dagent_core::display`): a plan or a server
//! cannot send escape sequences to the terminal through them.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use dagent_core::display::{Escaped, escape};
use dagent_core::{RunEvent, RunEventKind, RunObserver, format_duration};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
pub(crate) enum Progress {
    /// Nothing (`--quiet`).
    Quiet,
    /// One line per event on stderr (not a terminal: logs, CI, pipes).
    Lines(Mutex<std::io::Stderr>),
    /// An overall bar and a line per running task.
    Bars(Bars),
}

pub(crate) struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<usize, ProgressBar>>,
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise, nothing when quiet.
    pub(crate) fn new(quiet: bool, tasks: usize) -> Self {
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
        Self::Bars(Bars {
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
        })
    }

    /// Clears the bars.
    pub(crate) fn finish(&self) {
        if let Self::Bars(b) = self {
            if let Ok(mut running) = b.running.lock() {
                for (_, bar) in running.drain() {
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
        match &e.kind {
            RunEventKind::Started { attempt } => {
                let bar = running.entry(e.task).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                });
                let suffix = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                bar.set_message(format!("{}{suffix}", Escaped(e.id.as_str())));
            }
            RunEventKind::Retrying { delay, .. } => {
                if let Some(bar) = running.get(&e.task) {
                    bar.set_message(format!(
                        "{} — retrying in {}",
                        Escaped(e.id.as_str()),
                        format_duration(*delay)
                    ));
                }
            }
            _ => {
                if let Some(bar) = running.remove(&e.task) {
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
    }
}
