//! Output files: a task's `output_file` (relative to `--out-dir`) receives its answer when it
//! succeeds, all of it or, with `extract = "code"`, only its fenced code blocks.
//!
//! Paths never leave the directory. Before anything runs (so nothing is paid for a file
//! that cannot be written), each path is checked as text: relative, no `..`, a file name,
//! no two tasks on the same file. When writing, every directory on the way is created one
//! component at a time and must be a real directory — a symbolic link anywhere below
//! `--out-dir` (a directory or the file itself) is refused, so a link planted in the
//! directory cannot redirect a write outside it. Writes are atomic: a temporary file in the
//! same directory, synced, then renamed over the target, so a reader sees the old file or
//! the new one, never half of one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use dagent_adapters::{LoadedPlan, PlanErrorKind};
use dagent_core::display::escape;
use dagent_core::{Extract, TaskId, TaskOutput};

use crate::diag::Failure;

/// The output files of a plan, checked.
#[derive(Debug)]
pub(crate) struct OutputFiles {
    dir: PathBuf,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    task: TaskId,
    path: PathBuf,
    shown: String,
    extract: Option<Extract>,
}

/// What happened to one output file.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Written: its path under the directory and its size in bytes, with a note.
    Written(String, usize, Option<&'static str>),
    /// Not written because the task did not succeed.
    NotRun(String),
    /// Writing failed.
    Failed(String, String),
}

/// Checks a path as text: relative, inside the directory, naming a file.
fn lexical(p: &str) -> Result<PathBuf, &'static str> {
    if p.trim().is_empty() {
        return Err("it is empty");
    }
    if p.contains('\0') {
        return Err("it contains a NUL character");
    }
    if p.ends_with('/') {
        return Err("it names a directory, not a file");
    }
    let path = Path::new(p);
    let mut parts = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("it contains \"..\""),
            Component::RootDir | Component::Prefix(_) => return Err("it is absolute"),
        }
    }
    if parts.as_os_str().is_empty() {
        return Err("it names no file");
    }
    Ok(parts)
}

/// Checks every task's `output_file` before the run. `None` when no task has one.
pub(crate) fn check(
    loaded: &LoadedPlan,
    out_dir: Option<&Path>,
) -> Result<Option<OutputFiles>, Failure> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, t) in loaded.plan.tasks.iter().enumerate() {
        let Some(p) = &t.output_file else { continue };
        let path = lexical(p).map_err(|why| {
            Failure::from(loaded.error_at_task(
                PlanErrorKind::Schema,
                i,
                None,
                format!(
                    "task \"{}\": output_file {:?} is refused: {why} (output files are written inside --out-dir)",
                    t.id, p
                ),
            ))
        })?;
        if let Some(other) = entries.iter().find(|e| e.path == path) {
            return Err(Failure::from(loaded.error_at_task(
                PlanErrorKind::Schema,
                i,
                None,
                format!(
                    "task \"{}\": output_file {:?} is also task \"{}\"'s: each task needs its own file",
                    t.id, p, other.task
                ),
            )));
        }
        entries.push(Entry {
            task: t.id.clone(),
            shown: path.display().to_string(),
            path,
            extract: t.extract,
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let dir = out_dir.unwrap_or(Path::new(".")).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::bad_input(format!(
            "error: --out-dir {}: cannot create it: {e} (checked before running, so nothing was spent)",
            dir.display()
        ))
    })?;
    if !dir.is_dir() {
        return Err(Failure::bad_input(format!(
            "error: --out-dir {}: not a directory (checked before running, so nothing was spent)",
            dir.display()
        )));
    }
    Ok(Some(OutputFiles { dir, entries }))
}

/// The fenced code blocks of a Markdown answer, without their fences, each ending in a
/// newline and separated by a blank line; `None` when there are none.
pub(crate) fn code_blocks(answer: &str) -> Option<String> {
    use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(answer) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => current = Some(String::new()),
            Event::Text(t) => {
                if let Some(c) = &mut current {
                    c.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some(mut c) = current.take() {
                    if !c.ends_with('\n') {
                        c.push('\n');
                    }
                    blocks.push(c);
                }
            }
            _ => {}
        }
    }
    (!blocks.is_empty()).then(|| blocks.join("\n"))
}

/// Creates `rel`'s parent directories under `root` one component at a time, refusing any
/// component that is a symbolic link or not a directory; returns the parent.
fn safe_parent(root: &Path, rel: &Path) -> Result<PathBuf, String> {
    let mut at = root.to_path_buf();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for c in parent.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link: output files never follow links",
                    at.display()
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", at.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&at)
                    .map_err(|e| format!("cannot create {}: {e}", at.display()))?;
            }
            Err(e) => return Err(format!("{}: {e}", at.display())),
        }
    }
    Ok(at)
}

/// Writes `bytes` to `target` atomically: a new temporary file in the same directory,
/// synced, then renamed over it.
fn atomic_write(target: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!(
            "{} is a symbolic link: output files never follow links",
            target.display()
        ));
    }
    if target.is_dir() {
        return Err(format!("{} is a directory", target.display()));
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut n = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(format!("cannot create {}: {e}", tmp.display())),
        }
    };
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, target));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", target.display()));
    }
    Ok(())
}

impl OutputFiles {
    /// Writes the file of every task that succeeded (`outputs`: each task's id and output,
    /// `None` when it did not succeed).
    pub(crate) fn write<'a>(
        &self,
        outputs: impl IntoIterator<Item = (&'a TaskId, Option<&'a TaskOutput>)>,
    ) -> Vec<Outcome> {
        let outputs: Vec<(&TaskId, Option<&TaskOutput>)> = outputs.into_iter().collect();
        self.entries
            .iter()
            .map(|e| {
                let out = outputs
                    .iter()
                    .find(|(id, _)| *id == &e.task)
                    .and_then(|(_, o)| *o);
                let Some(out) = out else {
                    return Outcome::NotRun(e.shown.clone());
                };
                let (text, note) = match e.extract {
                    Some(Extract::Code) => match code_blocks(&out.text) {
                        Some(code) => (code, None),
                        None => (
                            out.text.clone(),
                            Some("no fenced code block in the answer: all of it was written"),
                        ),
                    },
                    _ => (out.text.clone(), None),
                };
                let written = safe_parent(&self.dir, &e.path).and_then(|parent| {
                    let name = e.path.file_name().unwrap_or_default();
                    atomic_write(&parent.join(name), text.as_bytes())
                });
                match written {
                    Ok(()) => Outcome::Written(e.shown.clone(), text.len(), note),
                    Err(why) => Outcome::Failed(e.shown.clone(), why),
                }
            })
            .collect()
    }

    /// The JSON report with an `output_files` list added (see docs/run-report-json.md).
    pub(crate) fn add_to_report(&self, report_json: &str, outcomes: &[Outcome]) -> String {
        let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str(report_json) else {
            return report_json.to_owned();
        };
        let list: Vec<serde_json::Value> = outcomes
            .iter()
            .zip(&self.entries)
            .map(|(o, e)| {
                let (path, status, bytes, note) = match o {
                    Outcome::Written(p, n, note) => {
                        (p, "written", Some(*n), note.map(str::to_owned))
                    }
                    Outcome::NotRun(p) => (p, "not_run", None, None),
                    Outcome::Failed(p, why) => (p, "failed", None, Some(why.clone())),
                };
                serde_json::json!({
                    "task": e.task.as_str(),
                    "path": path,
                    "status": status,
                    "bytes": bytes,
                    "extract": e.extract.map(Extract::as_str),
                    "note": note,
                })
            })
            .collect();
        doc.insert(
            "out_dir".into(),
            serde_json::Value::String(self.dir.display().to_string()),
        );
        doc.insert("output_files".into(), serde_json::Value::Array(list));
        crate::render::to_json(&serde_json::Value::Object(doc))
    }

    /// The report's section on output files; `true` when one could not be written.
    pub(crate) fn render(&self, outcomes: &[Outcome]) -> (String, bool) {
        let mut s = String::new();
        let mut failed = false;
        let _ = writeln!(s, "\nFiles in {}:", escape(&self.dir.display().to_string()));
        let width = self
            .entries
            .iter()
            .map(|e| escape(&e.shown).chars().count())
            .max()
            .unwrap_or(0);
        for (o, e) in outcomes.iter().zip(&self.entries) {
            let task = escape(e.task.as_str());
            match o {
                Outcome::Written(p, n, note) => {
                    let _ = write!(s, "  {:<width$}  {n} bytes  ← {task}", escape(p));
                    if let Some(note) = note {
                        let _ = write!(s, " ({note})");
                    }
                    s.push('\n');
                }
                Outcome::NotRun(p) => {
                    let _ = writeln!(
                        s,
                        "  {:<width$}  not written: {task} did not succeed",
                        escape(p)
                    );
                }
                Outcome::Failed(p, why) => {
                    failed = true;
                    let _ = writeln!(s, "  {:<width$}  NOT WRITTEN: {}", escape(p), escape(why));
                }
            }
        }
        (s, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_as_text() {
        assert_eq!(lexical("a/./b.txt"), Ok(PathBuf::from("a/b.txt")));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/", ".", "x\0y"] {
            assert!(lexical(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn code_extraction_keeps_only_fenced_blocks() {
        let answer = "Here:\n```python\nprint(1)\n```\nand\n~~~\nx = 2\n~~~\n    indented()\n";
        assert_eq!(code_blocks(answer).as_deref(), Some("print(1)\n\nx = 2\n"));
        assert_eq!(code_blocks("no code"), None);
        // An unclosed fence runs to the end (CommonMark).
        assert_eq!(code_blocks("```\nlast").as_deref(), Some("last\n"));
    }
}
