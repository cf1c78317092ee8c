//! Hostile inputs for the `dagent` binary, and the checks on what it does with them.
//!
//! Shared by `cargo xtask fuzz` (many cases against the release binary) and the bounded
//! proptest suite in `tests/hostile.rs`, which includes this file with `#[path]`; so it
//! depends on nothing but std and the sibling `rng` module (`super::rng`).
//!
//! A [`Case`] is one input file (a plan or a `dagent.toml`) and the command line that feeds
//! it to the binary. [`run`] runs it with a time limit, and [`problems`] says what went
//! wrong: a panic (exit 101 or "panicked" on stderr), a hang (killed at the time limit), an
//! exit status other than 0, 1 or 2, bad input (2) without the file named, or a raw control
//! character on stdout or stderr.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::rng::Rng;

const EXAMPLES: &[(&str, &str)] = &[
    (
        "ten-cities.toml",
        include_str!("../../examples/ten-cities.toml"),
    ),
    (
        "data-pipeline.toml",
        include_str!("../../examples/data-pipeline.toml"),
    ),
    (
        "regional.toml",
        include_str!("../../examples/regional.toml"),
    ),
    (
        "deerflow.json",
        include_str!("../../examples/deerflow-ai-agents.json"),
    ),
];

/// Strings that have broken parsers and terminals before.
const NASTY: &[&str] = &[
    "\u{1b}[2J",
    "\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{7}",
    "\u{1b}[31m",
    "\r",
    "\0",
    "\u{9b}1m",
    "\u{85}",
    "\u{202e}",
    "\u{2066}",
    "\u{7f}",
    "\n",
    "\t",
    "\"",
    "\\",
    "\\u0000",
    "\\u001b[2J",
    "\\u202e",
    "\\ud800",
    "${x}",
    "'",
    "]]",
    "[[tasks]]",
    "{",
    "}",
    ",",
    "東京",
    "🦀",
    "1e308",
    "-1",
    "nan",
    "inf",
    "18446744073709551616",
    "99999999999999999999999",
];

/// What kind of input a case feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plan file.
    Plan,
    /// A `dagent.toml` given with `--config`.
    Config,
}

/// One input and how to feed it.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    /// What the input is.
    pub(crate) kind: Kind,
    /// How it was made, for reports.
    pub(crate) label: &'static str,
    /// The file name to write it under (its extension chooses the format).
    pub(crate) file_name: String,
    /// The file's bytes.
    pub(crate) bytes: Vec<u8>,
    /// Arguments, with `{}` standing for the file's path.
    pub(crate) args: Vec<String>,
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.below(items.len())]
}

fn chance(rng: &mut Rng, percent: usize) -> bool {
    rng.below(100) < percent
}

/// Up to `max` random bytes.
fn random_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max + 1);
    (0..n).map(|_| (rng.next_u64() & 0xff) as u8).collect()
}

/// A string that may hold anything: plain words, control characters (raw or as escapes
/// for the format), bidi overrides, long runs.
fn hostile_string(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(5) + 1 {
        match rng.below(10) {
            0..=3 => s.push_str(pick(
                rng,
                &["tokyo", "paris", "report", "a", "step-1", "x y"],
            )),
            4..=7 => s.push_str(pick(rng, NASTY)),
            8 => s.push_str(&"id".repeat(rng.below(2000) + 1)),
            _ => s.push(char::from_u32(rng.below(0x3000) as u32).unwrap_or('?')),
        }
    }
    s
}

/// A JSON string literal holding `s` (control characters as JSON escapes, sometimes
/// everything as `\u` escapes).
fn json_str(rng: &mut Rng, s: &str) -> String {
    let all = chance(rng, 20);
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if all || (c as u32) < 0x20 => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string literal holding a [`hostile_string`].
fn json_hostile(rng: &mut Rng) -> String {
    let s = hostile_string(rng);
    json_str(rng, &s)
}

/// A TOML basic string holding `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value for a number-ish field: huge, tiny, negative, not a number, or of the wrong type.
fn odd_value(rng: &mut Rng) -> String {
    pick(
        rng,
        &[
            "1e20",
            "1e308",
            "-1",
            "0",
            "1e-300",
            "nan",
            "inf",
            "-inf",
            "9223372036854775807",
            "18446744073709551615",
            "\"1e20s\"",
            "\"99999999999h\"",
            "\"-3s\"",
            "\"\"",
            "\"45s\"",
            "\"abc\"",
            "true",
            "[]",
            "{}",
            "2",
            "0.5",
            "\"500ms\"",
        ],
    )
    .to_string()
}

/// A plan with structure: ids and titles with control characters and bidi overrides, and —
/// in a messy plan — duplicate, unknown, self or cyclic references, odd estimates and
/// unknown fields. A tidy plan is valid, so it reaches the renderers and the executor.
fn structured_plan(rng: &mut Rng, json: bool) -> String {
    let messy = chance(rng, 35);
    let n = rng.below(12) + 1;
    let ids: Vec<String> = (0..n)
        .map(|i| {
            if chance(rng, 30) {
                format!("{}{i}", hostile_string(rng))
            } else {
                format!("t{i}")
            }
        })
        .collect();
    let unknown_field_at = if messy && chance(rng, 20) {
        rng.below(n)
    } else {
        n
    };
    let mut tasks = Vec::new();
    for i in 0..n {
        let id = if messy && chance(rng, 5) {
            ids[rng.below(n)].clone()
        } else {
            ids[i].clone()
        };
        let title = hostile_string(rng);
        let deps: Vec<String> = (0..rng.below(4))
            .filter_map(|_| {
                if messy {
                    Some(match rng.below(10) {
                        0 => hostile_string(rng),
                        1 => id.clone(),
                        _ => ids[rng.below(n)].clone(),
                    })
                } else {
                    // Earlier tasks only: acyclic.
                    (i > 0).then(|| ids[rng.below(i)].clone())
                }
            })
            .collect();
        let estimate = match rng.below(10) {
            0 | 1 => None,
            2 if messy => Some(odd_value(rng)),
            _ => Some(format!("\"{}ms\"", rng.below(300))),
        };
        let with_deps = chance(rng, 60);
        // Rehearsed failures under `run --simulate`: errors in the table, exit status 1.
        let fail = chance(rng, 8).then(|| pick(rng, &["transient", "permanent", "timeout"]));
        if json {
            let mut fields = vec![
                format!("\"id\": {}", json_str(rng, &id)),
                format!("\"title\": {}", json_str(rng, &title)),
            ];
            if with_deps {
                let list: Vec<String> = deps.iter().map(|d| json_str(rng, d)).collect();
                fields.push(format!("\"depends_on\": [{}]", list.join(", ")));
            }
            if let Some(e) = estimate {
                fields.push(format!("\"estimate\": {e}"));
            }
            if let Some(fail) = fail {
                fields.push(format!(
                    "\"simulate\": {{\"fail\": \"{fail}\", \"times\": 1}}"
                ));
            }
            if i == unknown_field_at {
                fields.push(format!("{}: 1", json_hostile(rng)));
            }
            tasks.push(format!("{{{}}}", fields.join(", ")));
        } else {
            let mut t = format!(
                "[[tasks]]\nid = {}\ntitle = {}\n",
                toml_str(&id),
                toml_str(&title)
            );
            if with_deps {
                let list: Vec<String> = deps.iter().map(|d| toml_str(d)).collect();
                t.push_str(&format!("depends_on = [{}]\n", list.join(", ")));
            }
            if let Some(e) = estimate {
                t.push_str(&format!("estimate = {e}\n"));
            }
            if let Some(fail) = fail {
                t.push_str(&format!("simulate = {{ fail = \"{fail}\" }}\n"));
            }
            if i == unknown_field_at {
                t.push_str(&format!("{} = 1\n", toml_str(&hostile_string(rng))));
            }
            tasks.push(t);
        }
    }
    let title = hostile_string(rng);
    // Sometimes a review loop: a random (possibly unknown, repeated or unclosed) body, a
    // hostile verdict, a bound in or out of range.
    let looped = chance(rng, 25).then(|| {
        let body: Vec<String> = (0..rng.below(4) + usize::from(!messy))
            .map(|_| {
                if messy && chance(rng, 15) {
                    hostile_string(rng)
                } else {
                    ids[rng.below(n)].clone()
                }
            })
            .collect();
        let until = if chance(rng, 70) {
            "APPROVED".to_owned()
        } else {
            hostile_string(rng)
        };
        let max = if messy {
            rng.below(25)
        } else {
            rng.below(4) + 1
        };
        (body, until, max)
    });
    if json {
        let loops = looped.map_or_else(String::new, |(body, until, max)| {
            let list: Vec<String> = body.iter().map(|b| json_str(rng, b)).collect();
            format!(
                ", \"loops\": [{{\"id\": \"l\", \"tasks\": [{}], \"repeat_until\": {}, \"max_iterations\": {max}}}]",
                list.join(", "),
                json_str(rng, &until)
            )
        });
        format!(
            "{{\"title\": {}, \"tasks\": [{}]{loops}}}",
            json_str(rng, &title),
            tasks.join(",\n")
        )
    } else {
        let loops = looped.map_or_else(String::new, |(body, until, max)| {
            let list: Vec<String> = body.iter().map(|b| toml_str(b)).collect();
            format!(
                "\n[[loops]]\nid = \"l\"\ntasks = [{}]\nrepeat_until = {}\nmax_iterations = {max}\n",
                list.join(", "),
                toml_str(&until)
            )
        });
        format!(
            "title = {}\n\n{}{loops}",
            toml_str(&title),
            tasks.join("\n")
        )
    }
}

/// A DeerFlow plan with structure and hostile fields.
fn structured_deerflow(rng: &mut Rng) -> String {
    let steps: Vec<String> = (0..rng.below(8) + 1)
        .map(|_| {
            let title = if chance(rng, 3) {
                odd_value(rng)
            } else {
                json_hostile(rng)
            };
            let mut fields = vec![
                format!(
                    "\"need_search\": {}",
                    pick(rng, &["true", "false", "1", "null"])
                ),
                format!("\"title\": {title}"),
                format!("\"description\": {}", json_hostile(rng)),
                format!(
                    "\"step_type\": {}",
                    pick(
                        rng,
                        &[
                            "\"research\"",
                            "\"processing\"",
                            "\"analysis\"",
                            "\"\"",
                            "\"report\""
                        ]
                    )
                ),
            ];
            if chance(rng, 30) {
                let deps: Vec<String> = (0..rng.below(3))
                    .map(|_| match rng.below(3) {
                        0 => format!("{}", rng.below(12)),
                        1 => {
                            let id = format!("step-{}", rng.below(12));
                            json_str(rng, &id)
                        }
                        _ => json_hostile(rng),
                    })
                    .collect();
                fields.push(format!("\"dependencies\": [{}]", deps.join(", ")));
            }
            if chance(rng, 5) {
                fields.push(format!("\"estimate\": {}", odd_value(rng)));
            }
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    format!(
        "{{\"locale\": \"en-US\", \"has_enough_context\": false, \"thought\": {}, \"title\": {}, \"steps\": [{}]}}",
        json_hostile(rng),
        json_hostile(rng),
        steps.join(",\n")
    )
}

/// Random edits of a text: cuts, duplicated spans, inserted nasty strings, flipped bytes.
fn mutate(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    for _ in 0..rng.below(6) + 1 {
        let at = if out.is_empty() {
            0
        } else {
            rng.below(out.len() + 1)
        };
        match rng.below(5) {
            0 => out.truncate(at),
            1 => {
                let b = (rng.next_u64() & 0xff) as u8;
                if at < out.len() {
                    out[at] = b;
                }
            }
            2 => {
                let s = pick(rng, NASTY).as_bytes().to_vec();
                out.splice(at..at, s);
            }
            3 => {
                let end = (at + rng.below(200)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            _ => {
                let end = (at + rng.below(50)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

fn deep_nesting(rng: &mut Rng, json: bool) -> String {
    let depth = [10, 200, 5_000, 100_000][rng.below(4)];
    if json {
        let open = if chance(rng, 50) { "[" } else { "{\"a\":" };
        format!("{{\"tasks\": {}", open.repeat(depth))
    } else {
        format!("title = {}\n", "[".repeat(depth))
    }
}

fn plan_args(rng: &mut Rng, runnable: bool) -> Vec<String> {
    let mut args: Vec<String> = if runnable && chance(rng, 35) {
        // A simulated timeout hangs until the task timeout (300 s by default, and each retry
        // again): keep both short, so a run that ends is not mistaken for a hang.
        vec![
            "run".into(),
            "{}".into(),
            "--simulate".into(),
            "--time-scale".into(),
            "0.01".into(),
            "--task-timeout".into(),
            "300ms".into(),
            "--max-retries".into(),
            "1".into(),
            // A hostile plan may be legitimately slow; the run deadline must end it.
            "--deadline".into(),
            "10s".into(),
        ]
    } else {
        vec!["analyze".into(), "{}".into()]
    };
    if args[0] == "analyze" {
        args.push("--format".into());
        args.push(pick(rng, &["text", "json", "dot", "mermaid"]).to_string());
    }
    args.push("--strategy".into());
    args.push(pick(rng, &["auto", "explicit", "heuristic", "sequential"]).to_string());
    args
}

/// One hostile plan and a command that reads it.
pub(crate) fn plan_case(rng: &mut Rng) -> Case {
    let json = chance(rng, 50);
    let ext = if json { "json" } else { "toml" };
    // `run --simulate` only on generated plans: their estimates are under a second or
    // rejected, so a run ends (a real plan estimating 1e20 s would rightly run that long).
    let (label, bytes, runnable): (&'static str, Vec<u8>, bool) = match rng.below(8) {
        0 => ("random bytes", random_bytes(rng, 300), false),
        1 => {
            let (_, ex) = pick(rng, EXAMPLES);
            let cut = rng.below(ex.len() + 1);
            ("truncated example", ex.as_bytes()[..cut].to_vec(), false)
        }
        2 => {
            let (_, ex) = pick(rng, EXAMPLES);
            ("mutated example", mutate(rng, ex.as_bytes()), false)
        }
        3 => ("deep nesting", deep_nesting(rng, json).into_bytes(), false),
        4 => ("deerflow", structured_deerflow(rng).into_bytes(), true),
        5 => {
            let text = structured_plan(rng, json);
            ("mutated plan", mutate(rng, text.as_bytes()), false)
        }
        _ => (
            "structured plan",
            structured_plan(rng, json).into_bytes(),
            true,
        ),
    };
    let ext = match label {
        "truncated example" | "mutated example" => {
            // Keep the example's own format, so truncations are read as what they were.
            if bytes.first() == Some(&b'{') {
                "json"
            } else {
                ext
            }
        }
        "deerflow" => "json",
        _ => ext,
    };
    Case {
        kind: Kind::Plan,
        label,
        file_name: format!("plan.{ext}"),
        bytes,
        args: plan_args(rng, runnable),
    }
}

const PARALLELIZATION_KEYS: &[&str] = &[
    "enabled",
    "max_concurrent_tasks",
    "max_tasks_per_second",
    "task_timeout_seconds",
    "batch_timeout_seconds",
    "dependency_strategy",
    "fallback_strategy",
    "retry_on_failure",
    "max_retries",
    "retry_backoff_seconds",
    "failure_mode",
    "failure_threshold",
    "failure_threshold_min_tasks",
    "mode",
    "analyzer_model",
    "bogus_key",
];

/// One hostile `dagent.toml` and a command that reads it.
pub(crate) fn config_case(rng: &mut Rng) -> Case {
    let mut text = String::new();
    let label = match rng.below(4) {
        0 => {
            text.push_str(&String::from_utf8_lossy(&random_bytes(rng, 200)));
            "random bytes"
        }
        1 => {
            // One key at a time, so an out-of-range value is what the run meets.
            text.push_str("[parallelization]\n");
            let key = pick(rng, PARALLELIZATION_KEYS);
            let value = match rng.below(6) {
                0 => toml_str(&hostile_string(rng)),
                1 => format!("[{}, {}]", odd_value(rng), odd_value(rng)),
                _ => odd_value(rng),
            };
            text.push_str(&format!("{key} = {value}\n"));
            "odd numbers"
        }
        2 => {
            let name = hostile_string(rng);
            text.push_str(&format!(
                "[providers.{}]\nkind = {}\nbase_url = {}\napi_key_env = {}\nmax_concurrent = {}\n\n[models.m]\nprovider = {}\nmodel = {}\ncontext_window = {}\n[models.m.pricing]\ninput = {}\noutput = {}\n\n[routing]\ndefault_model = {}\n\n[budget]\nmax_usd = {}\n",
                toml_str(&name),
                toml_str(pick(rng, &["openai", "ollama", "openrouter", "magic"])),
                toml_str(pick(rng, &["http://127.0.0.1:9", "not a url", "file:///etc/passwd", ""])),
                toml_str(&hostile_string(rng)),
                odd_value(rng),
                toml_str(&name),
                toml_str(&hostile_string(rng)),
                odd_value(rng),
                toml_str(pick(rng, &["0.15", "-1", "1e20", "abc", ""])),
                odd_value(rng),
                toml_str(pick(rng, &["m", "nope"])),
                odd_value(rng),
            ));
            "providers and models"
        }
        _ => {
            let base = "[parallelization]\nmax_concurrent_tasks = 4\nmax_tasks_per_second = 10\ntask_timeout_seconds = 30\nretry_backoff_seconds = [1, 2, 4]\nfailure_mode = \"skip_dependents\"\n";
            text = String::from_utf8_lossy(&mutate(rng, base.as_bytes())).into_owned();
            "mutated config"
        }
    };
    let args: Vec<String> = if chance(rng, 50) {
        vec!["analyze".into(), "examples/ten-cities.toml".into()]
    } else {
        vec![
            "run".into(),
            "examples/ten-cities.toml".into(),
            "--simulate".into(),
            "--time-scale".into(),
            "0.001".into(),
            // A hostile configuration may be legitimately slow (a launch rate of one task a
            // minute); the run deadline, a flag over every file value, must end it.
            "--deadline".into(),
            "10s".into(),
        ]
    };
    let mut args = args;
    args.push("--config".into());
    args.push("{}".into());
    Case {
        kind: Kind::Config,
        label,
        file_name: "dagent.toml".into(),
        bytes: text.into_bytes(),
        args,
    }
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The exit code; `None` when a signal ended it (or it was killed at the time limit).
    pub(crate) code: Option<i32>,
    /// Killed at the time limit.
    pub(crate) timed_out: bool,
    /// Standard output (the first 16 MiB).
    pub(crate) stdout: Vec<u8>,
    /// Standard error (the first 16 MiB).
    pub(crate) stderr: Vec<u8>,
}

const CAPTURE: u64 = 16 * 1024 * 1024;

fn drain(r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut r = r;
        let mut kept = Vec::new();
        let _ = (&mut r).take(CAPTURE).read_to_end(&mut kept);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        kept
    })
}

/// Writes the case's file into `dir` and runs `command` (the binary, its environment set by
/// the caller) with the case's arguments, killing it after `limit`.
pub(crate) fn run(
    case: &Case,
    dir: &Path,
    mut command: Command,
    limit: Duration,
) -> std::io::Result<(PathBuf, Outcome)> {
    let path = dir.join(&case.file_name);
    std::fs::write(&path, &case.bytes)?;
    let path_str = path.to_string_lossy().into_owned();
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            if a == "{}" {
                path_str.clone()
            } else {
                a.clone()
            }
        })
        .collect();
    let mut child = command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok((
        path,
        Outcome {
            code: if timed_out { None } else { status.code() },
            timed_out,
            stdout,
            stderr,
        },
    ))
}

/// The first terminal-unsafe character in `bytes` (C0 controls but line feed and tab, DEL,
/// C1 controls, bidirectional formatting characters), described, if any.
pub(crate) fn control_leak(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.char_indices()
        .find(|&(_, c)| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .map(|(at, c)| {
            let from = text[..at].char_indices().rev().nth(40).map_or(0, |(i, _)| i);
            format!("U+{:04X} after {:?}", u32::from(c), &text[from..at])
        })
}

/// Something wrong with how the binary handled a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Exit status 101 or "panicked" on stderr.
    Panic,
    /// Still running at the time limit.
    Hang,
    /// An exit status other than 0, 1 or 2 (or death by a signal).
    BadExit(Option<i32>),
    /// Exit status 2 without the file's path in the message.
    Unnamed,
    /// A raw control character on stdout or stderr.
    Leak(String),
}

/// What went wrong with `outcome` for the case written at `path` (empty: all is well).
pub(crate) fn problems(path: &Path, outcome: &Outcome) -> Vec<Problem> {
    let mut found = Vec::new();
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    if outcome.timed_out {
        found.push(Problem::Hang);
    } else if outcome.code == Some(101) || stderr.contains("panicked") {
        found.push(Problem::Panic);
    } else if !matches!(outcome.code, Some(0..=2)) {
        found.push(Problem::BadExit(outcome.code));
    }
    if outcome.code == Some(2) && !stderr.contains(&*path.to_string_lossy()) {
        found.push(Problem::Unnamed);
    }
    for (stream, bytes) in [("stdout", &outcome.stdout), ("stderr", &outcome.stderr)] {
        if let Some(leak) = control_leak(bytes) {
            found.push(Problem::Leak(format!("{stream}: {leak}")));
        }
    }
    found
}
