//! Rule-based dependency inference over task wording and kinds (no LLM), with an
//! explanation and a confidence for every decision.
//!
//! The guiding rule is **do no harm**: a step follows the step listed before it unless the
//! plan gives evidence that it does not. A missed dependency is the worst error (the task
//! runs without its input), so parallelism is only claimed on evidence. For each step, in
//! plan order (only earlier steps can be dependencies, so the graph is acyclic by
//! construction):
//!
//! * **References** — a definite noun phrase ("the generated image", "the transcript",
//!   "these results", "the draft") links to the most recent earlier step that mentions or
//!   makes that thing (stems from `rust-stemmers`, so "translated"/"translation" and
//!   "transcript"/"transcribe" meet); when later steps only carried that thing on (default
//!   links), the reference goes to the latest of them. **Subjects**: a distinctive word of an
//!   earlier title ("Analyze the *technology* sector") links to the steps it names. Steps
//!   named by number or variable ("from step 2", `#E1`, `$1` in a call, `<node-0>`,
//!   `<result_2>`, `$fetch`, `get.mobile` in a call's arguments) are named exactly.
//! * **Siblings** — consecutive steps with the same verb and kind ("Research X", "Research
//!   Y"; "get_weather" twice; "Translate to French/German"), or consecutive research steps,
//!   run side by side and share their inputs, unless they are numbered parts ("Write act
//!   two") or refer to each other. A step using the same input as the step before it (both
//!   read "the transcript") is a sibling too.
//! * **Joins** — the first step after a sibling group needs the whole group unless it names
//!   some of its members, and the first step after independent lookups needs them all;
//!   "compare", "combine", "both", "all", "finally" gather every earlier step nothing has
//!   consumed yet.
//! * **Ordering and parallel words** — "then", "once", "it", "the results" → the previous
//!   step; "meanwhile", "in parallel", "independently", "while the oven heats" → beside it,
//!   and the step after rejoins both lines of work.
//! * **Tools and calls** — a step named after a tool or function uses the name as its verb;
//!   a call's literal arguments are its own values, its `<placeholders>` are references.
//! * **Fresh inputs** — a step that names its own input (a file such as `photo.jpg`, a
//!   quoted string) and refers to nothing earlier starts a new branch; a plan titled as a
//!   list of tips ("Ways to…", "Tips for…") is a list of independent items.
//! * Otherwise: **listed order** (the previous step), with a low confidence.
//!
//! Each step's decision carries a confidence; the plan's confidence is their mean, so a plan
//! decided mostly by listed order scores low, and `--strategy auto` can ask a model instead.
//! Work per step is bounded: at most [`text::MAX_WORDS`] words are read and every lookup goes
//! through an index with a bounded scan. On plans of thousands of steps a second thread reads
//! the steps' words ahead of the one linking them (same result, tested), so 100,000 steps take
//! well under a second.

mod text;

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use dagent_core::{AnalyzeError, BoxFuture, DependencyAnalyzer, DependencyMap, Plan, TaskKind};

use text::{Word, Words, class, same_stem, stem_key};

/// Infers dependencies from task wording and kinds; deterministic and linear in plan size.
/// See the module documentation for the rules, and [`HeuristicAnalyzer::explain`] for the
/// evidence behind each edge.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeuristicAnalyzer;

impl DependencyAnalyzer for HeuristicAnalyzer {
    fn name(&self) -> &str {
        "heuristic"
    }

    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(async move { Ok(infer(plan).deps) })
    }
}

impl HeuristicAnalyzer {
    /// The inferred dependencies with the evidence for each edge, the reason each step
    /// that does not follow its predecessor is left independent of it, and confidences.
    #[must_use]
    pub fn explain(&self, plan: &Plan) -> Inference {
        infer(plan)
    }
}

/// The heuristic that declines plans it is not sure about: its answer when the plan's
/// confidence is at least `min`, otherwise an error naming the confidence, so that a
/// [`FallbackChain`](crate::FallbackChain) moves on (to a model, under `--strategy auto`).
#[derive(Clone, Copy, Debug)]
pub struct ConfidentHeuristic {
    /// The lowest plan confidence accepted.
    pub min: f64,
}

impl Default for ConfidentHeuristic {
    fn default() -> Self {
        Self {
            min: LOW_CONFIDENCE,
        }
    }
}

impl DependencyAnalyzer for ConfidentHeuristic {
    fn name(&self) -> &str {
        "heuristic"
    }

    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(async move {
            let inference = infer(plan);
            if inference.confidence < self.min {
                return Err(AnalyzeError::new(format!(
                    "its confidence {:.2} is below {:.2} (most steps follow the listed order for want of evidence)",
                    inference.confidence, self.min
                )));
            }
            Ok(inference.deps)
        })
    }
}

/// The rule that produced an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// A definite reference to something an earlier step made ("the transcript").
    Reference,
    /// A distinctive word of an earlier step's title ("the technology sector").
    Subject,
    /// A sibling shares the inputs of the first step of its group.
    Sibling,
    /// The first step after a sibling group needs the whole group.
    Join,
    /// A gathering word ("compare", "both", "all", "finally") over unconsumed steps.
    Aggregation,
    /// An ordering word ("then", "once") or a pronoun ("it", "the results").
    Ordering,
    /// A marker that the step runs beside the previous one ("meanwhile").
    Parallel,
    /// No evidence either way: the step follows the one listed before it.
    ListedOrder,
}

impl Rule {
    /// A stable lower-case name (used in the JSON output).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Reference => "reference",
            Self::Subject => "subject",
            Self::Sibling => "sibling",
            Self::Join => "join",
            Self::Aggregation => "aggregation",
            Self::Ordering => "ordering",
            Self::Parallel => "parallel",
            Self::ListedOrder => "listed-order",
        }
    }

    /// How far this rule is trusted, from 0 to 1.
    #[must_use]
    pub const fn confidence(self) -> f64 {
        match self {
            Self::Reference | Self::Ordering => 0.9,
            Self::Subject | Self::Parallel => 0.8,
            Self::Sibling | Self::Join | Self::Aggregation => 0.75,
            Self::ListedOrder => 0.5,
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one inferred edge exists.
#[derive(Clone, Debug, PartialEq)]
pub struct Evidence {
    /// The dependency (an earlier task's index).
    pub from: usize,
    /// The dependent task's index.
    pub to: usize,
    /// The rule.
    pub rule: Rule,
    /// The words of the dependent task that triggered the rule (empty for listed order).
    pub words: String,
    /// The rule's confidence, 0–1.
    pub confidence: f64,
}

/// Why a task does not depend on the task listed before it.
#[derive(Clone, Debug, PartialEq)]
pub struct Independence {
    /// The task's index.
    pub task: usize,
    /// A sentence for people.
    pub reason: String,
}

/// The heuristic's answer with its evidence.
#[derive(Clone, Debug)]
pub struct Inference {
    /// The dependencies (not yet transitively reduced).
    pub deps: DependencyMap,
    /// One entry per edge of `deps`, grouped by dependent task in plan order.
    pub edges: Vec<Evidence>,
    /// Tasks (other than the first) that do not depend on their predecessor, and why.
    pub independent: Vec<Independence>,
    /// Per task: the confidence of the decision about its dependencies (1 for the first).
    pub task_confidence: Vec<f64>,
    /// The plan's confidence: the mean of the per-task confidences after the first.
    pub confidence: f64,
}

/// Below this plan confidence, `--strategy auto` asks a model when one is configured.
pub const LOW_CONFIDENCE: f64 = 0.6;

/// Bounded scan of an index bucket (most recent first).
const SCAN: usize = 64;

/// At most this many inputs are shared by a sibling or a parallel step; beyond it the step
/// follows the previous one, so a plan's edge count stays linear in its size.
const SHARE_CAP: usize = 256;

struct Info {
    words: Vec<Word>,
    head: String,
    /// Named after a tool or function ("Speech-to-Text", "get_weather").
    tool: bool,
    /// Its title is a call, `name(args)`.
    call: bool,
    /// Heats the oven ("Preheat the oven", "Heat the oven").
    heats_oven: bool,
    /// Readies equipment: heats the oven or a grill, greases a tin.
    readies: bool,
    /// Its `{placeholders}`, each with the path segment before it ("movie/{id}"): values
    /// an earlier step fills in, unless an earlier path already had them.
    placeholders: Vec<String>,
    kind: TaskKind,
    /// The title's ordinals and small numbers ("part 2", "the second coat", "12–13 April"),
    /// empty for a title beginning with "Step".
    ordinals: Vec<Arc<str>>,
    literal: Option<String>,
    /// A file it says it writes ("Export the rows to churned.csv").
    writes: Option<String>,
    /// A read-only call ("get_weather", "search_flights", `GET /…`) given a concrete value
    /// of its own ("for Barcelona", "INV-2291"): the value it was given.
    lookup: Option<String>,
    /// Named after a call that only reads (`get_…`, `search_…`, `GET …`).
    read_call: bool,
    /// A call with nothing between its parentheses (`home.get_presence()`).
    bare_call: bool,
    /// A call with an `<angle placeholder>` among its arguments: something filled in from
    /// earlier, even where the words do not say from where (`lat=<lat>`).
    filled_in: bool,
    /// The lower-case words of the values a call was given (`"USD"`, `2024-06`).
    values: Vec<String>,
    /// A call's values whole, lower case (`"fix-typos"`), those of 3 to 120 characters.
    whole_values: Vec<String>,
    /// Named after a model or tool task ("Text Summarization of the transcript"), not a
    /// function or endpoint: what it names is its input.
    model_tool: bool,
    /// A model tool's whole name, lower case ("token classification").
    tool_key: String,
    /// The stems of what a function is named after, past its verb ("book_hotel" → "hotel").
    call_things: Vec<Arc<str>>,
    /// Output of a tool named "X-to-Y": Y's stem.
    output: Option<String>,
    /// Earlier steps it names by number or variable, with the words that name them (see
    /// [`numbered_refs`]); filled in by [`read_step`].
    named: Vec<(usize, String)>,
    /// What an "X-to-Y" tool takes (X's stem): a word of its name that it does not make.
    tool_input: Option<String>,
    /// A tool that changes a medium and gives it back ("Image Editing").
    medium_change: bool,
}

/// A file name ("beach.jpg") or a quoted string in the text.
/// A file name without its folders: "reports/q3/summary.pdf" is "summary.pdf".
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// "photo.jpg", "q3/summary.pdf": a name, a dot and a short extension with a letter.
fn looks_like_file(c: &str) -> bool {
    c.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (2..=4).contains(&ext.len())
            && ext.chars().all(|ch| ch.is_ascii_alphanumeric())
            && ext.chars().any(|ch| ch.is_ascii_alphabetic())
    })
}

/// The input a text names (a file, else a quoted string) and the file it says it writes
/// (one after "to", "into" or "as": "Export the rows to churned.csv"), in one pass.
fn literal_input(text: &str) -> (Option<String>, Option<String>) {
    let mut input = None;
    let mut writes = None;
    let mut before = "";
    if text.contains('.') {
        for chunk in text.split_whitespace() {
            let destination = matches!(before, "to" | "into" | "as");
            before = chunk;
            if !chunk.contains('.') || chunk.contains('@') {
                continue;
            }
            // "marketing@acme.com" is an address, and "to churned.csv" is where the step
            // writes, not what it reads.
            let c = chunk.trim_matches(|ch: char| !ch.is_alphanumeric());
            if !looks_like_file(c) {
                continue;
            }
            if destination {
                writes.get_or_insert_with(|| c.to_owned());
            } else {
                input.get_or_insert_with(|| c.to_owned());
            }
            if input.is_some() && writes.is_some() {
                break;
            }
        }
    }
    if input.is_none() {
        for (open, close) in [('"', '"'), ('“', '”')] {
            if let Some(start) = text.find(open) {
                let rest = &text[start + open.len_utf8()..];
                if let Some(end) = rest.find(close)
                    && end > 0
                {
                    input = Some(format!("\"{}\"", &rest[..end]));
                    break;
                }
            }
        }
    }
    (input, writes)
}

/// The `{placeholders}` of a text with the segment before each ("movie/{id}"), at most 8.
fn placeholders_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(a) = rest.find('{') {
        let Some(b) = rest[a..].find('}') else { break };
        // A JSON body (`{"name": "Mix"}`) holds values, not a placeholder.
        if b > 1 && out.len() < 8 && !rest[a..a + b].contains(['"', '\'']) {
            let before = rest[..a].trim_end_matches('/');
            let segment = before.rsplit(['/', ' ']).next().unwrap_or_default();
            out.push(format!("{segment}/{}", &rest[a..=a + b]));
        }
        rest = &rest[a + b + 1..];
    }
    out
}

/// Words that open a clause whose subject ("it") is a noun of the same step: "Run the
/// dishwasher *when it* is full", "Heat the oil *until it* shimmers".
const SUBORDINATORS: &[&str] = &[
    "when", "until", "till", "if", "while", "once", "unless", "before", "after", "because",
];

/// At most this many words of a step's own values are kept (work per step stays bounded).
const MAX_VALUE_WORDS: usize = 16;

/// Words after a tool's name that introduce what it runs on ("Image Captioning *for*
/// hero.jpg").
const INPUT_PREPOSITIONS: &[&str] = &["for", "on", "of", "in", "from", "with"];

/// Words that make "while the paint is still soft" a state after a step, not a step going on.
const STATE_WORDS: &[&str] = &[
    "is", "are", "was", "were", "be", "still", "has", "have", "stays", "remains",
];

/// Verbs of calls that only read: such a call given its own concrete value is a new branch.
const LOOKUP_VERBS: &[&str] = &[
    "get", "search", "fetch", "find", "lookup", "list", "query", "retrieve", "read", "forecast",
    "quote", "geocode", "track",
];

/// The verb of a tool or call name: `home.get_sensor` → "get" (the last part's, not the
/// namespace's), `scene_detect` → "scene".
fn call_verb(name: &str) -> &str {
    let last = match name.split_once('(') {
        Some((n, _)) => n,
        None => name,
    };
    let last = match last.rsplit_once('.') {
        Some((_, l)) if !l.is_empty() && !last.contains(' ') => l,
        _ => name,
    };
    last.split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or_default()
}

/// A call whose verb changes something (`update_email`, `send_message`); an "X-to-Y" tool
/// (`text_to_image`) makes something new instead.
fn changes_things(info: &Info) -> bool {
    CHANGE_VERBS.contains(&call_verb(&info.head))
        && !info.head.contains("_to_")
        && !info.head.contains("-to-")
}

/// Opens with a verb of reading something up ("Look up", "Check", "Find").
fn reads(info: &Info) -> bool {
    info.read_call || READ_VERBS.contains(&info.head.as_str())
}

/// Opens with a verb that makes something new from what it reads ("Summarise the
/// transcript", "Run sentiment analysis on it", "Extract the action items").
fn derives(info: &Info) -> bool {
    !info.head.is_empty() && DERIVE_VERBS.iter().any(|v| info.head.starts_with(v))
}

/// Verbs (stems) that make something new from what they read, leaving it as it was.
const DERIVE_VERBS: &[&str] = &[
    "summar", "analy", "extract", "classifi", "detect", "describ", "translat", "identifi",
    "caption", "tag", "count", "run",
];

/// A reference to something steps read without changing it ("the transcript", "the
/// photo"), by the last word of the phrase.
fn read_only_thing(phrase: &str) -> bool {
    let last = phrase
        .rsplit(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or_default()
        .to_lowercase();
    READ_ONLY_THINGS.iter().any(|t| last.starts_with(t))
}

/// Things a step reads without changing them (prefixes).
const READ_ONLY_THINGS: &[&str] = &[
    "transcript",
    "text",
    "image",
    "photo",
    "picture",
    "audio",
    "recording",
    "video",
    "footage",
    "clip",
    "document",
    "scan",
    "article",
    "dataset",
    "spreadsheet",
    "csv",
    "pdf",
];

/// Verbs (stems) of reading something up, in plain words.
const READ_VERBS: &[&str] = &[
    "look", "check", "find", "get", "fetch", "search", "retriev", "queri", "verifi", "confirm",
];

/// Verbs of calls that change something (a booking, a message sent, a setting): any other
/// call reads or computes.
const CHANGE_VERBS: &[&str] = &[
    "create",
    "add",
    "update",
    "delete",
    "remove",
    "send",
    "post",
    "put",
    "patch",
    "book",
    "buy",
    "pay",
    "set",
    "cancel",
    "schedule",
    "reserve",
    "order",
    "charge",
    "upload",
    "write",
    "move",
    "transfer",
    "share",
    "assign",
    "publish",
    "submit",
    "apply",
    "start",
    "stop",
    "turn",
    "enable",
    "disable",
    "notify",
    "reply",
    "invite",
    "follow",
    "mark",
    "save",
    "insert",
    "make",
    "place",
    "issue",
    "register",
    "subscribe",
    "edit",
    "rename",
    "archive",
    "close",
    "open",
    "approve",
    "reject",
    "confirm",
    "like",
    "comment",
    "tag",
    "print",
    "play",
    "pause",
    "lock",
    "unlock",
    "call",
    "text",
    "message",
    "email",
    "push",
    "refund",
    "checkout",
    "return",
    "request",
    "complete",
    "run",
    "trigger",
    "deploy",
    "merge",
    "commit",
    "sign",
    "attach",
    "upgrade",
    "renew",
    "respond",
    "accept",
    "decline",
    "join",
    "leave",
    "hold",
    "release",
    "install",
    "restart",
    "reset",
    "clear",
    "fill",
    "import",
    "export",
    "sync",
    "draft",
    "compose",
    "dispatch",
    "ship",
    "block",
    "unblock",
    "vote",
    "claim",
    "redeem",
    "withdraw",
    "deposit",
    "escalate",
    "resolve",
    "reopen",
    "upvote",
    "retweet",
    "tweet",
    "dm",
    "ping",
    "alert",
    "remind",
    "snooze",
    "mute",
    "unmute",
    "grant",
    "revoke",
];

/// A concrete value in a description: a capitalised word that does not open a sentence
/// ("Barcelona", "NVDA"; not "I") or a token with a digit ("INV-2291", "2024-05-03").
fn concrete_value(text: &str) -> Option<String> {
    if let Some(quoted) = single_quoted(text) {
        return Some(quoted);
    }
    let mut opens = true;
    for chunk in text.split_whitespace() {
        let c = chunk.trim_matches(|ch: char| !ch.is_alphanumeric());
        let was_open = opens;
        opens = chunk.ends_with(['.', ':', '!', '?']);
        // An acronym or ticker ("AEX", "USD") is a value even opening a sentence.
        let acronym = c.chars().count() >= 2 && c.chars().all(|ch| ch.is_ascii_uppercase());
        if c.is_empty() || was_open && !acronym || c == "I" {
            continue;
        }
        if c.chars().next().is_some_and(char::is_uppercase)
            || c.chars().any(|ch| ch.is_ascii_digit()) && c.chars().any(char::is_alphabetic)
        {
            return Some(c.to_owned());
        }
    }
    None
}

/// A string in single quotes ("my 'book club' group"), not an apostrophe ("the user's").
fn single_quoted(text: &str) -> Option<String> {
    let start = text.char_indices().find_map(|(i, c)| {
        (c == '\''
            && !text[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric))
        .then_some(i)
    })?;
    let rest = &text[start + 1..];
    let end = rest.char_indices().find(|&(i, c)| {
        c == '\'' && i > 0 && !rest[i + 1..].starts_with(|n: char| n.is_alphanumeric())
    })?;
    Some(format!("'{}'", &rest[..end.0]))
}

/// Steps a step names by number or by variable: "step 2" (not a title's own leading
/// "Step 2:"), "$1" and "#E1" (1-based), "<node-0>" (0-based), "$id", "${id}", "#id" or
/// "<id>" for an earlier task's id, `<x from id>` or `<x from call_name>`, and in a call's
/// arguments an earlier id before a field (`get.mobile`, `{{find.slots[0]}}`). `call`: the
/// title is a call, the only place where "$1" is a step and not a price. At most 8, each
/// before `j`.
fn numbered_refs<'p>(
    title: &str,
    description: &str,
    call: bool,
    j: usize,
    names: &mut Option<Names<'p>>,
    plan: &'p Plan,
) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (text, is_title) in [(title, true), (description, false)] {
        let bytes = text.as_bytes();
        let label_at = text.len() - text.trim_start().len();
        // "$1.offers[0].id" reads a field: where a text does that, its "$N" are steps,
        // never prices.
        let dollar_fields = text.match_indices('$').take(64).any(|(at, _)| {
            let rest = &text[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0
                && rest[digits..].starts_with('.')
                && rest[digits + 1..].starts_with(|c: char| c.is_ascii_alphabetic())
        });
        let args = (is_title && call)
            .then(|| call_of(text.trim()))
            .flatten()
            .map(|(_, a)| arg_bytes(text, a));
        let mut k = 0;
        while k < bytes.len() && out.len() < 8 {
            let word_start = k == 0 || !bytes[k - 1].is_ascii_alphanumeric();
            // `to=get.mobile`: an argument read from a field of an earlier step's result.
            // (task, bytes consumed)
            let mut hit: Option<(usize, usize)> = args
                .as_ref()
                .filter(|_| word_start)
                .and_then(|a| a.field_of(bytes, k))
                .and_then(|len| {
                    let name = &text[k..k + len];
                    let names = names.get_or_insert_with(|| Names::new(plan));
                    let t = names.ids.get(name).copied();
                    t.or_else(|| step_numbered(name, j))
                        .filter(|&t| t < j)
                        .map(|t| (t, len))
                });
            // Otherwise only a sigil or an "s" can start a reference; both are ASCII, so
            // `k` is then a character boundary.
            if hit.is_none() && !matches!(bytes[k], b'$' | b'#' | b'<' | b'{' | b's' | b'S') {
                k += 1;
                continue;
            }
            let rest = &text[k..];
            if hit.is_some() {
                // Named by the argument already.
            } else if word_start
                && rest
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("step "))
            {
                let digits = rest[5..].bytes().take_while(u8::is_ascii_digit).count();
                let leading = is_title && k == label_at;
                if digits > 0 && digits <= 6 && !leading {
                    let n: usize = rest[5..5 + digits].parse().unwrap_or(0);
                    hit = n.checked_sub(1).map(|t| (t, 5 + digits));
                }
            } else if word_start
                && rest
                    .get(..4)
                    .is_some_and(|p| p.eq_ignore_ascii_case("step"))
            {
                // `step5.output`: a field of step 5's result; not a file or a path part
                // (`docs/step2.html`, `step3.png`, `README_step1.txt`).
                let digits = rest[4..].bytes().take_while(u8::is_ascii_digit).count();
                let field = rest[4 + digits..].strip_prefix('.').map(|f| {
                    let len = f
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(f.len());
                    &f[..len]
                });
                let in_path = k > 0 && matches!(bytes[k - 1], b'/' | b'\\' | b'_' | b'.' | b'-');
                if (1..=6).contains(&digits)
                    && !in_path
                    && field.is_some_and(|f| {
                        f.starts_with(|c: char| c.is_ascii_alphabetic())
                            && !FILE_EXTENSIONS.contains(&f.to_ascii_lowercase().as_str())
                    })
                {
                    let n: usize = rest[4..4 + digits].parse().unwrap_or(0);
                    hit = n.checked_sub(1).map(|t| (t, 4 + digits));
                }
            } else if let Some(sigil) = rest
                .chars()
                .next()
                .filter(|c| matches!(c, '$' | '#' | '<') || rest.starts_with("{{"))
            {
                // `{{2.slots[0].id}}`, `{{ fetch.body }}`: a template naming a step.
                // At most two braces: every '{' is itself a place to look from, so
                // trimming a whole run of them at each would be quadratic.
                let body = &rest[1..];
                let body = body.strip_prefix('{').unwrap_or(body);
                let body = body
                    .strip_prefix('{')
                    .unwrap_or(body)
                    .trim_start_matches(' ');
                // "#E1" is ReWOO's evidence 1; a bare "#42" is an issue number, and "$5"
                // outside a call's arguments is a price.
                let evidence = body
                    .strip_prefix('E')
                    .filter(|b| sigil == '#' && b.starts_with(|c: char| c.is_ascii_digit()));
                let numbers_count =
                    evidence.is_some() || sigil == '$' && (is_title && call || dollar_fields);
                let body = evidence.unwrap_or(body);
                let name_len = body
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(body.len());
                let name = &body[..name_len];
                let closed = sigil != '<' || body[name_len..].starts_with(['>', '.']);
                let consumed = rest.len() - body.len() + name_len;
                let number = name.parse::<usize>().ok().filter(|_| numbers_count);
                let node = name
                    .strip_prefix("node-")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|_| sigil == '<');
                // "$5" and "#42" are a price and an issue, even where a task's id is "5";
                // "<1>" is a placeholder naming task "1".
                let digits_only = name.bytes().all(|b| b.is_ascii_digit())
                    && !(sigil == '<' && body[name_len..].starts_with('>'))
                    && sigil != '{';
                if word_start && closed && !name.is_empty() && (numbers_count || !digits_only) {
                    let names = names.get_or_insert_with(|| Names::new(plan));
                    // Where the plan writes `$0.output`, its `$N` count from 0 and name
                    // places, whatever the tasks' ids.
                    let from_zero = sigil == '$' && names.dollar_zero;
                    let numbered = number
                        .and_then(|n| n.checked_sub(usize::from(!from_zero)))
                        .or_else(|| step_numbered(name, j));
                    let id = names.ids.get(name).copied();
                    hit = if from_zero && number.is_some() {
                        numbered
                    } else {
                        id.or(node.and_then(|n| n.checked_sub(names.node_base)))
                            .or(numbered)
                    }
                    .map(|t| (t, consumed));
                }
                // "<sha from s2>", "<ids from find_rooms>": the step or call named after
                // "from" or "of" inside the placeholder.
                if hit.is_none()
                    && sigil == '<'
                    && word_start
                    && let Some((sources, len)) = placeholder_source(rest)
                {
                    let names = names.get_or_insert_with(|| Names::new(plan));
                    // Every task it names (`<results of s1, s2 and s3>` needs all three), but
                    // one call at most: words such as "search" also name calls.
                    let mut call_named = false;
                    for name in &sources {
                        let latest = |list: &Vec<usize>| {
                            let before = list.partition_point(|&t| t < j);
                            before.checked_sub(1).map(|k| list[k])
                        };
                        let t = names.ids.get(name).copied().filter(|&t| t < j).or_else(|| {
                            // The latest earlier call of that name.
                            let found = latest(names.calls.get(name).filter(|_| !call_named)?);
                            call_named = found.is_some();
                            found
                        });
                        // The latest earlier call given that value (`<from outdoor_temp>`
                        // after `get_sensor("outdoor_temp")`).
                        let t = t.or_else(|| latest(names.values(plan).get(*name)?));
                        match t {
                            Some(t) if hit.is_none() => hit = Some((t, len)),
                            Some(t) if out.len() + 1 < 8 && !out.iter().any(|(o, _)| *o == t) => {
                                out.push((t, text[k..k + len].to_owned()));
                            }
                            _ => {}
                        }
                    }
                }
            }
            match hit {
                Some((t, len)) if t < j => {
                    let words = text[k..k + len].to_owned();
                    if !out.iter().any(|(o, _)| *o == t) {
                        out.push((t, words));
                    }
                    k += len;
                }
                _ => k += 1,
            }
        }
    }
    out
}

/// Tasks by id (the first, if ids repeat) and by the name of the call their title makes:
/// built once per plan, the first time a step names another.
struct Names<'p> {
    ids: HashMap<&'p str, usize>,
    calls: HashMap<&'p str, Vec<usize>>,
    /// Calls by the literal values they were given (`get_sensor("outdoor_temp")`), for
    /// `<from outdoor_temp>`.
    values: Option<HashMap<String, Vec<usize>>>,
    /// What `<node-N>` counts from: 0 as in TaskBench, 1 where the plan's own references
    /// show it (a step naming `<node-N>` with N at least its own 0-based place, and no
    /// `<node-0>` anywhere).
    node_base: usize,
    /// Some step names `$0.field`: the plan's `$N` count from 0.
    dollar_zero: bool,
}

impl<'p> Names<'p> {
    fn new(plan: &'p Plan) -> Self {
        let mut ids = HashMap::with_capacity(plan.tasks.len());
        let mut calls: HashMap<&str, Vec<usize>> = HashMap::new();
        let (mut from_one, mut node_zero, mut dollar_zero) = (false, false, false);
        for (i, t) in plan.tasks.iter().enumerate() {
            for text in [t.title.as_str(), t.description.as_str()] {
                dollar_zero |= text
                    .match_indices("$0.")
                    .any(|(at, _)| text[at + 3..].starts_with(|c: char| c.is_ascii_alphabetic()));
                for (at, _) in text.match_indices("<node-") {
                    let n = text[at + 6..]
                        .bytes()
                        .take(7)
                        .take_while(u8::is_ascii_digit)
                        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
                    let digits = text[at + 6..].starts_with(|c: char| c.is_ascii_digit());
                    node_zero |= digits && n == 0;
                    from_one |= digits && n >= i;
                }
            }
            ids.entry(t.id.as_str()).or_insert(i);
            if let Some((name, _)) = call_of(t.title.trim()) {
                calls.entry(name).or_default().push(i);
                // "music.search" is also "the search".
                if let Some((_, last)) = name.rsplit_once('.') {
                    calls.entry(last).or_default().push(i);
                }
            }
        }
        Self {
            ids,
            calls,
            values: None,
            node_base: usize::from(from_one && !node_zero),
            dollar_zero,
        }
    }

    /// Calls by the literal values they were given, built the first time one is asked for.
    fn values(&mut self, plan: &Plan) -> &HashMap<String, Vec<usize>> {
        self.values.get_or_insert_with(|| {
            let mut values: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, t) in plan.tasks.iter().enumerate() {
                if call_of(t.title.trim()).is_none() {
                    continue;
                }
                for v in call_text(&t.title).1 {
                    let v = v.trim_matches(['"', '\'']);
                    if v.len() >= 3 {
                        let list = values.entry(v.to_owned()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
            }
            values
        })
    }
}

/// A REST request line (`POST /v1/playlists/{$3.id}/tracks`): its `$3` is a step, as in
/// a call's arguments.
fn rest_call(title: &str) -> bool {
    title
        .split_whitespace()
        .next()
        .is_some_and(|verb| HTTP_VERBS.contains(&verb))
}

/// The literal values of a request line's query (`?base=EUR&symbols=USD` → `EUR`, `USD`),
/// leaving out those filled in from elsewhere (`{id}`, `<id>`, `$1`), at most 8.
fn query_values(title: &str) -> Vec<String> {
    let path = title.split_whitespace().nth(1).unwrap_or_default();
    let Some((_, query)) = path.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v))
        .filter(|v| !v.is_empty() && !v.contains(['{', '<', '$', '}', '>']))
        .take(8)
        .map(str::to_owned)
        .collect()
}

/// File extensions: `step3.png` is a file, not a field of step 3's result.
const FILE_EXTENSIONS: &[&str] = &[
    "html", "htm", "png", "jpg", "jpeg", "gif", "webp", "svg", "txt", "md", "pdf", "csv", "json",
    "xml", "yaml", "yml", "toml", "mp3", "mp4", "wav", "mov", "zip", "py", "rs", "js", "docx",
    "xlsx", "pptx",
];

/// Numbers of things ("the three translations"), from two.
const COUNT_WORDS: &[&str] = &[
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

/// The verbs that open a REST request line.
const HTTP_VERBS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A step named by its place rather than its id, in a placeholder or a variable:
/// `<result_2>`, `step1`, `output_3` (1-based), `prev` (the step before step `j`).
fn step_numbered(name: &str, j: usize) -> Option<usize> {
    if name.eq_ignore_ascii_case("prev") || name.eq_ignore_ascii_case("previous") {
        return j.checked_sub(1);
    }
    let digits = ["result", "step", "output", "res", "out"]
        .iter()
        .find_map(|p| {
            name.get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| &name[p.len()..])
        })?
        .trim_start_matches(['_', '-']);
    (!digits.is_empty() && digits.len() <= 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse::<usize>().ok()?.checked_sub(1))
        .flatten()
}

/// Where a call's arguments are in its title, and which of their bytes are quoted.
struct ArgBytes {
    start: usize,
    quoted: Vec<bool>,
}

fn arg_bytes(text: &str, args: &str) -> ArgBytes {
    // `args` is a slice of `text`.
    let start = args.as_ptr().addr() - text.as_ptr().addr();
    let mut open: Option<u8> = None;
    let quoted = args
        .bytes()
        .map(|b| match open {
            Some(q) if b == q => {
                open = None;
                true
            }
            Some(_) => true,
            None if b == b'"' || b == b'\'' => {
                open = Some(b);
                true
            }
            None => false,
        })
        .collect();
    ArgBytes { start, quoted }
}

impl ArgBytes {
    /// The length of the name at `k` when it opens an unquoted argument value and a field
    /// or an index follows it: `id=find.results[0].id`, `track_ids={{tracks.ids}}`.
    fn field_of(&self, bytes: &[u8], k: usize) -> Option<usize> {
        let at = k.checked_sub(self.start)?;
        if at >= self.quoted.len() || self.quoted[at] || !bytes[k].is_ascii_alphabetic() {
            return None;
        }
        let before = bytes[self.start..k]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .unwrap_or(&b'(');
        if !b"=(,[{:".contains(before) {
            return None;
        }
        let len = bytes[k..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
            .count();
        let after = bytes.get(k + len..k + len + 2).unwrap_or(b"))");
        let field = after[0] == b'.' && (after[1].is_ascii_alphabetic() || after[1] == b'_')
            || after[0] == b'[';
        // `find_common_slot(alice, bob)`, `location=loc`: a bare value that may be an id
        // (the caller checks), not a parameter name (`loc=`) or a call (`now()`).
        let rest = bytes[k + len..].iter().find(|b| !b.is_ascii_whitespace());
        let bare = matches!(rest, None | Some(b',' | b')' | b']' | b'}'));
        (field || bare).then_some(len)
    }
}

/// What a placeholder says it comes from (`<sha from s2>`, `<ids from find_rooms>`,
/// `<results of s1, s2 and s3>`, `<title from s1.output>`): the words after "from" or "of"
/// up to the next preposition (task ids or call names; not numbers, articles or "and", at
/// most six), and the placeholder's length.
fn placeholder_source(rest: &str) -> Option<(Vec<&str>, usize)> {
    let inner = rest.get(1..)?;
    // '>' is ASCII, so its byte position is a character boundary.
    let close = inner.bytes().take(120).position(|b| b == b'>')?;
    let mut words = inner[..close]
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty());
    words.find(|w| w.eq_ignore_ascii_case("from") || w.eq_ignore_ascii_case("of"))?;
    let names: Vec<&str> = words
        // "<address of the user to send to>": the source ends where a preposition begins.
        .take_while(|w| !text::PREPOSITIONS.iter().any(|p| w.eq_ignore_ascii_case(p)))
        .filter(|w| !w.bytes().all(|b| b.is_ascii_digit()))
        .filter(|w| {
            !["the", "a", "an", "and", "or"]
                .iter()
                .any(|a| w.eq_ignore_ascii_case(a))
        })
        .take(6)
        .collect();
    (!names.is_empty()).then_some((names, close + 2))
}

/// A title written as a function call, `name(args)`: the name and the arguments.
fn call_of(title: &str) -> Option<(&str, &str)> {
    let open = title.find('(')?;
    let name = &title[..open];
    let ident = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let rest = &title[open + 1..];
    let close = rest.find(')')?;
    ident.then_some((name, &rest[..close]))
}

/// A call's arguments as the heuristic reads them: a literal value (`"USD"`, `'acme'`,
/// `2024`) is the caller's own and names nothing earlier, so it is left out of the words
/// (and returned, for the lookup rule); an `<angle placeholder>` names what fills it, so it
/// reads as a definite reference ("the net amounts").
fn call_text(title: &str) -> (std::borrow::Cow<'_, str>, Vec<String>) {
    let title = title.trim();
    let Some((_, args)) = call_of(title) else {
        return (title.into(), Vec::new());
    };
    let mut text = String::with_capacity(title.len());
    let mut values = Vec::new();
    let body_start = title.find('(').unwrap_or(0) + 1;
    text.push_str(&title[..body_start]);
    let mut chars = args.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                let end = args[i + 1..].find(c).map_or(args.len(), |e| i + 1 + e);
                if end > i + 1 && values.len() < 8 {
                    values.push(format!("{c}{}{c}", &args[i + 1..end]));
                }
                while chars.peek().is_some_and(|&(k, _)| k <= end) {
                    chars.next();
                }
            }
            '<' => {
                let end = args[i + 1..].find('>').map_or(args.len(), |e| i + 1 + e);
                text.push_str(" the ");
                text.push_str(&args[i + 1..end]);
                text.push(' ');
                while chars.peek().is_some_and(|&(k, _)| k <= end) {
                    chars.next();
                }
            }
            c if c.is_ascii_digit()
                && (i == 0
                    || !args[..i]
                        .ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == '[')) =>
            {
                let end = args[i..]
                    .find(|d: char| !(d.is_ascii_alphanumeric() || d == '-' || d == '.'))
                    .map_or(args.len(), |e| i + e);
                if values.len() < 8 {
                    values.push(args[i..end].to_owned());
                }
                while chars.peek().is_some_and(|&(k, _)| k < end) {
                    chars.next();
                }
            }
            // A name: a parameter's (`account_id=`) says what the call takes and is left
            // out; a variable (`forecast.total_mm`, `rates`) names an earlier result.
            c if (c.is_alphabetic() || c == '_')
                && (i == 0
                    || !args[..i]
                        .ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == '.')) =>
            {
                let end = args[i..]
                    .find(|d: char| !(d.is_alphanumeric() || d == '_' || d == '.'))
                    .map_or(args.len(), |e| i + e);
                let name = &args[i..end];
                let parameter = args[end..].trim_start().starts_with('=')
                    && !args[end..].trim_start().starts_with("==");
                let constant =
                    ["True", "False", "None", "true", "false", "null", "nil"].contains(&name);
                if !parameter && !constant {
                    text.push_str(" the ");
                    text.extend(
                        name.chars()
                            .map(|d| if d == '_' || d == '.' { ' ' } else { d }),
                    );
                    text.push(' ');
                }
                while chars.peek().is_some_and(|&(k, _)| k < end) {
                    chars.next();
                }
            }
            '=' => text.push(' '),
            c => text.push(c),
        }
    }
    text.push_str(&title[body_start + args.len()..]);
    (text.into(), values)
}

/// The name of the tool or function a step is named after, which then stands for its verb:
/// "Speech-to-Text", "get_weather", "GET /movie/{id}", "Image Captioning" (→ "caption").
/// The tool of a step written as JSON (`{"tool": "Sentiment Analysis", …}`,
/// `{"task": "image-to-text", …}`).
fn json_tool(title: &str) -> Option<&str> {
    let t = title.trim_start();
    if !t.starts_with('{') {
        return None;
    }
    ["\"tool\"", "\"task\""].iter().find_map(|key| {
        let at = t.find(key)?;
        let value = t[at + key.len()..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start()
            .strip_prefix('"')?;
        let name = &value[..value.find('"')?];
        (!name.is_empty() && name.len() <= 60).then_some(name)
    })
}

fn tool_name(title: &str, words: &mut Words) -> Option<String> {
    // "Step 3: Image Inpainting" is the tool after its label.
    let t = strip_step_label(title.trim());
    if let Some((name, _)) = call_of(t) {
        return Some(name.to_lowercase());
    }
    // "Text-to-Image for panel 2" is the tool "text-to-image"; "end-to-end" or "up-to-date"
    // is not a tool: the parts of "Text-to-Image" are names.
    if (t.contains("-to-") || t.contains("-To-"))
        && let Some(tool) = t.split_whitespace().enumerate().find_map(|(k, w)| {
            let lower_to = w.split_once("-to-").or_else(|| w.split_once("-To-"));
            lower_to
                .is_some_and(|(a, b)| {
                    a.starts_with(char::is_uppercase) && b.starts_with(char::is_uppercase)
                    // "Text-to-image" opening a title: media on both sides.
                    || k == 0 && is_medium(a) && is_medium(b.trim_end_matches([':', ',', '.']))
                })
                .then_some(w)
        })
    {
        return Some(tool.to_lowercase());
    }
    // The first few words are all that is needed (no allocation for long titles).
    let mut first = [""; 4];
    let mut count = 0;
    for w in t.split_whitespace() {
        if count < first.len() {
            first[count] = w;
        }
        count += 1;
        if count > first.len() {
            break;
        }
    }
    if count == 0 {
        return None;
    }
    // "image-segmentation", "text-to-speech": a model task written as one word.
    let hyphenated = count == 1
        && t.split_once('-').is_some_and(|(a, rest)| {
            !rest.is_empty()
                && (is_medium(a) || MODEL_SUBJECTS.contains(&a.to_lowercase().as_str()))
        });
    if HTTP_VERBS.contains(&first[0])
        || count == 1 && (t.contains('_') || t.contains('.') && !t.ends_with('.'))
        || hyphenated
    {
        return Some(t.to_lowercase());
    }
    // The name may be followed by what it is run on: "Image Captioning for hero.jpg".
    let shown = count.min(first.len());
    let name_len = first[..shown]
        .iter()
        .position(|w| INPUT_PREPOSITIONS.contains(w) || w.starts_with('('))
        .filter(|&k| k > 0)
        .unwrap_or(count);
    let title_case = (1..=3).contains(&name_len)
        && (first[..name_len]
            .iter()
            .all(|w| w.chars().next().is_some_and(char::is_uppercase))
            // "Text generation", "Sentiment analysis": a model task in sentence case, as
            // the whole title.
            || name_len >= 2
                && count == name_len
                && first[0].starts_with(char::is_uppercase)
                && MODEL_SUBJECTS.contains(&first[0].to_lowercase().as_str()));
    if !title_case {
        return None;
    }
    let last = first[name_len - 1].to_lowercase();
    // One word alone must be a process noun ("Translation", "Analysis"): "Reading" or
    // "Planning" is more often a plain step.
    let suffixes: &[&str] = if name_len == 1 {
        &["ion", "sis"]
    } else {
        &["ing", "ion", "ment", "sis", "er", "or"]
    };
    if suffixes.iter().any(|s| last.ends_with(s)) {
        return words.of(&last, "").first().map(|w| w.stem.to_string());
    }
    None
}

fn info(words: &mut Words, title: &str, description: &str, kind: &TaskKind) -> Info {
    // The title as a call, `name(args)`: its arguments, parsed once.
    let call_args = call_of(title.trim()).map(|(_, args)| args);
    let (call_title, mut call_values) = call_text(title);
    // A request line's query gives it values of its own (`GET /fx/rates?base=EUR`).
    if call_values.is_empty() && rest_call(title) {
        call_values = query_values(title);
    }
    // A description that is one call (`rooms.search(start=slot.start)`) reads like a title
    // that is one: its variables name earlier results, its literals are its own values
    // (but only a titled call counts as changing what it is given).
    let whole_call = |d: &str| {
        let d = d.trim().trim_end_matches(['.', ';']);
        call_of(d).is_some_and(|(name, args)| name.len() + args.len() + 2 == d.len())
    };
    let (call_description, description_values) = if call_args.is_none() && whole_call(description) {
        call_text(description)
    } else {
        (description.into(), Vec::new())
    };
    let ws = words.of(
        &without_json_keys(&call_title),
        &without_argument_names(&without_json_keys(&call_description)),
    );
    let json = json_tool(title);
    let tool = json
        .map(str::to_lowercase)
        .or_else(|| tool_name(title, words));
    // A title opening with an article names its subject first ("the barber trims the
    // hair"): its verb is not known, so it has none to share with a sibling.
    let subject_first = ws
        .first()
        .is_some_and(|w| w.in_title && matches!(&*w.raw, "the" | "a" | "an"));
    // "Use a depth estimation model to …": the tool it names is its verb.
    let used = ws
        .first()
        .filter(|w| w.in_title && matches!(&*w.raw, "use" | "using"))
        .map(|_| {
            ws[1..]
                .iter()
                .skip_while(|w| w.is(class::ARTICLE))
                .take_while(|w| w.in_title && !w.is(class::PREPOSITION) && !w.starts_clause)
                .take(6)
                .map(|w| &*w.stem)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|name| !name.is_empty());
    let head = tool.clone().or(used).unwrap_or_else(|| {
        ws.iter()
            .take_while(|w| w.in_title && !subject_first)
            .find(|w| !w.is(class::FILLER) && !w.raw.chars().all(|c| c.is_ascii_digit()))
            .map(|w| w.stem.to_string())
            .unwrap_or_default()
    });
    let ordinals: Vec<Arc<str>> = if title.trim_start().to_lowercase().starts_with("step") {
        Vec::new()
    } else {
        ws.iter()
            .filter(|w| {
                w.in_title
                    && (w.is(class::ORDINAL)
                        || w.raw.chars().all(|c| c.is_ascii_digit()) && w.raw.len() <= 3)
            })
            .map(|w| Arc::clone(&w.raw))
            .collect()
    };
    let output = tool
        .as_deref()
        .and_then(|t| t.split_once("-to-"))
        .map(|(_, y)| {
            let y: String = y.chars().take_while(|c| c.is_alphanumeric()).collect();
            words
                .of(&y, "")
                .first()
                .map(|w| w.stem.to_string())
                .unwrap_or(y)
        });
    let medium = tool.as_ref().and_then(|_| medium_made(title));
    let medium_change = output.is_none()
        && medium.is_some()
        && tool.as_deref().is_some_and(|t| !t.contains("-to-"));
    let output = output.or(medium);
    let tool_input = tool
        .as_deref()
        .and_then(|t| t.split_once("-to-"))
        .and_then(|(x, _)| {
            let x = x.rsplit(|c: char| !c.is_alphanumeric()).next()?;
            words.of(x, "").first().map(|w| w.stem.to_string())
        });
    let read_call = tool.as_deref().is_some_and(|name| {
        let verb = call_verb(name);
        LOOKUP_VERBS.contains(&verb)
            // A call named by a noun (`fx.rate`, `calendar.free_busy`) reads; a call that
            // changes something says so with its verb.
            || call_args.is_some() && !CHANGE_VERBS.contains(&verb)
    });
    let lookup = read_call
        .then(|| {
            call_values
                .first()
                .cloned()
                .or_else(|| concrete_value(description))
        })
        .flatten();
    // The words of a call's own arguments ("USD" in `get_fx_rate(base="USD")`, also where
    // its description repeats them) are what it was given: neither references to steps
    // that mention them nor something it makes.
    // So are the words of a file it is given ("dashcam_frame.jpg"): two steps run on the
    // same file share an input, not a subject.
    let (title_input, title_writes) = literal_input(title);
    let (description_input, description_writes) = literal_input(description);
    let literal = title_input.or(description_input);
    let writes = title_writes.or(description_writes);
    let file = literal.as_ref().filter(|l| !l.starts_with('"'));
    let values = call_values
        .iter()
        .chain(&description_values)
        .chain(file)
        .flat_map(|v| {
            v.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .take(MAX_VALUE_WORDS)
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .take(MAX_VALUE_WORDS)
        .collect();
    let call_things = match tool.as_deref() {
        Some(name) if name.contains('_') && !name.contains(' ') => {
            let name = name.split('(').next().unwrap_or_default();
            name.split('_')
                .skip(1)
                .filter(|w| w.len() >= 3)
                .take(4)
                .filter_map(|w| words.of(w, "").into_iter().next())
                .filter(|w| !w.stop && !w.generic)
                .map(|w| w.stem)
                .collect()
        }
        _ => Vec::new(),
    };
    let model_tool = json.is_some() || tool.is_some() && !title.contains(['_', '(', '/']);
    let placeholders = [title, description]
        .iter()
        .flat_map(|t| placeholders_of(t))
        .collect();
    let whole_values = call_values
        .iter()
        .filter(|v| (3..=120).contains(&v.trim_matches(['"', '\'']).chars().count()))
        .map(|v| v.to_lowercase())
        .collect();
    let mut info = Info {
        whole_values,
        words: ws,
        head,
        tool: tool.is_some(),
        call: call_args.is_some(),
        heats_oven: false,
        readies: false,
        placeholders,
        kind: kind.clone(),
        ordinals,
        literal,
        writes,
        lookup,
        values,
        call_things,
        named: Vec::new(),
        model_tool,
        tool_key: if let Some(name) = json {
            name.to_lowercase()
        } else if model_tool {
            title
                .split_whitespace()
                .take_while(|w| !INPUT_PREPOSITIONS.contains(w))
                .take(3)
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            String::new()
        },
        read_call,
        bare_call: call_args.is_some_and(|args| args.trim().is_empty())
            || title.trim_start().starts_with("GET ") && !title.contains(['{', '<', '$']),
        filled_in: call_args.is_some_and(|args| args.contains('<'))
            || rest_call(title) && title.contains('<'),
        output,
        tool_input,
        medium_change,
    };
    info.heats_oven = warms_up(&info);
    info.readies = readies_equipment(&info);
    info
}

/// Mentions: stem key → (task, stem), in plan order.
#[derive(Default)]
struct Mentions {
    by_key: HashMap<Box<str>, Vec<(usize, Arc<str>)>>,
}

impl Mentions {
    fn add(&mut self, task: usize, stem: &Arc<str>) {
        let key = stem_key(stem);
        let list = match self.by_key.get_mut(key) {
            Some(list) => list,
            None => self.by_key.entry(key.into()).or_default(),
        };
        if list.last().is_some_and(|(t, s)| *t == task && s == stem) {
            return;
        }
        list.push((task, Arc::clone(stem)));
    }

    /// The most recent task before `before` that mentions `stem`.
    fn latest(&self, stem: &str, before: usize) -> Option<usize> {
        let list = self.by_key.get(stem_key(stem))?;
        let end = list.partition_point(|(t, _)| *t < before);
        list[..end]
            .iter()
            .rev()
            .take(SCAN)
            .find(|(_, s)| same_stem(s, stem))
            .map(|(t, _)| *t)
    }
}

/// Union-find over "carried on by": a reference to what task `i` made goes to the latest
/// task that only carried `i`'s work on.
struct Carry {
    next: Vec<usize>,
}

impl Carry {
    fn find(&mut self, mut i: usize) -> usize {
        let mut root = i;
        while self.next[root] != root {
            root = self.next[root];
        }
        while self.next[i] != root {
            let n = self.next[i];
            self.next[i] = root;
            i = n;
        }
        root
    }
}

struct Step {
    deps: Vec<(usize, Rule, String)>,
    confidence: f64,
    independent: Option<String>,
}

/// What step `j` says, read without looking at the steps before it.
fn read_step<'p>(
    words: &mut Words,
    names: &mut Option<Names<'p>>,
    plan: &'p Plan,
    j: usize,
) -> Info {
    let t = &plan.tasks[j];
    let mut step = info(words, &t.title, &t.description, &t.kind);
    // Steps named by number or by variable ("from step 2", "$1", "#E1", "<node-0>",
    // "$fetch") are named exactly.
    step.named = numbered_refs(
        &t.title,
        &t.description,
        step.call || rest_call(&t.title),
        j,
        names,
        plan,
    );
    step
}

fn infer(plan: &Plan) -> Inference {
    let n = plan.tasks.len();
    let inline = || {
        let (mut words, mut names) = (Words::new(), None);
        infer_from(
            plan,
            (0..n).map(move |j| read_step(&mut words, &mut names, plan, j)),
        )
    };
    if n < PIPELINE_MIN_TASKS {
        return inline();
    }
    // Reading a step's words does not depend on the steps before it, so a second thread
    // reads them ahead (a few batches at most) while this one links the steps.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Info>>(PIPELINE_DEPTH);
        let reader = std::thread::Builder::new().spawn_scoped(scope, move || {
            let (mut words, mut names) = (Words::new(), None);
            for start in (0..n).step_by(PIPELINE_BATCH) {
                let infos = (start..(start + PIPELINE_BATCH).min(n))
                    .map(|j| read_step(&mut words, &mut names, plan, j))
                    .collect();
                if tx.send(infos).is_err() {
                    break;
                }
            }
        });
        let Ok(reader) = reader else {
            // No thread to be had: read the words here.
            return inline();
        };
        let inference = infer_from(plan, rx.into_iter().flatten());
        // Should the reading thread have stopped short (a panic), the steps it did not
        // hand over were read inline; joined here, its panic does not end the scope's.
        let _ = reader.join();
        inference
    })
}

/// Plans from this many steps have their words read on a second thread.
const PIPELINE_MIN_TASKS: usize = 4096;
/// Steps per batch handed from the reading thread, and batches it may read ahead.
const PIPELINE_BATCH: usize = 512;
const PIPELINE_DEPTH: usize = 4;

/// Links the steps of `plan`, given each step's [`Info`] in plan order.
#[allow(clippy::too_many_lines)]
fn infer_from(plan: &Plan, mut infos: impl Iterator<Item = Info>) -> Inference {
    let n = plan.tasks.len();
    // For the words of `{placeholder}` paths (and any step the reading thread did not hand
    // over); the steps' own are read into `infos`.
    let mut words = Words::new();
    let mut names: Option<Names> = None;
    // Only a step and the one before it are looked at in full: words are read one step
    // at a time, so memory holds two steps' words (and a few batches read ahead), not the
    // plan's.
    let mut prev_info: Option<Info> = None;
    let list_plan = plan.title.as_deref().is_some_and(|t| {
        let t = t.to_lowercase();
        t.split(|c: char| !c.is_alphanumeric())
            .any(|w| text::LIST_TITLES.contains(&w))
    });

    let mut mentions = Mentions::default();
    // How many steps mention each stem (as something they make or name).
    let mut doc_freq: HashMap<Arc<str>, usize> = HashMap::new();
    let mut titles: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
    let mut seen_placeholders: HashMap<String, usize> = HashMap::new();
    // The latest step making each kind of output ("imag", "speech"), for tools that take one.
    let mut made: HashMap<String, usize> = HashMap::new();
    // The latest step writing each file, by its name without folders ("summary.pdf").
    let mut files: HashMap<String, usize> = HashMap::new();
    let mut carry = Carry {
        next: (0..n).collect(),
    };
    let mut lists: Vec<Vec<usize>> = Vec::with_capacity(n);
    // Per step, the dependencies found on evidence (not by listed order).
    let mut evidenced: Vec<Vec<usize>> = Vec::with_capacity(n);
    let mut edges = Vec::new();
    let mut independent = Vec::new();
    let mut task_confidence = Vec::with_capacity(n);
    let mut group_start: Vec<usize> = Vec::with_capacity(n);
    let mut consumed = vec![false; n];
    // Steps nothing has consumed yet (lazily compacted) and how many of them are live.
    let mut frontier: Vec<usize> = Vec::new();
    let mut live = 0usize;
    let mut consumed_phrase: Vec<bool> = Vec::new();
    // The run of read-only calls ending at the previous step that needed nothing earlier
    // ("get_stock_quote", "get_index_level", "get_company_news"): independent lookups.
    let mut lookups: Vec<usize> = Vec::new();
    // The step the previous one ran beside ("while the oven heats": the preheat), which the
    // line of work after it rejoins.
    let mut rejoin: Option<usize> = None;

    // The latest function named after each thing ("search_hotels" → "hotel"), with its name.
    let mut call_things: HashMap<Arc<str>, (usize, String)> = HashMap::new();
    // The latest call that changed something, by each whole value it was given
    // (`create_branch(name="fix-typos")` → `"fix-typos"`).
    let mut written: HashMap<String, usize> = HashMap::new();
    // Every step so far is a plain action (no kind, tool, call or value of its own).
    let mut plain_steps = true;
    // The latest step that heats the oven ("Preheat the oven to 180°C").
    let mut last_warm: Option<usize> = None;
    // Per step: it readies equipment ("Preheat the oven", "Grease a tin").
    let mut readies: Vec<bool> = Vec::with_capacity(n);
    // Steps whose title names its object with an article ("water *the* plants", "put *a*
    // lamp on a timer"): chores, where one-word titles ("Measure", "Cut") are a process.
    let mut object_titles = 0usize;
    // The previous step's `<inputs>` no earlier step names (`lat=<lat>` after a geocode).
    let mut prev_unfilled: Vec<String> = Vec::new();
    // How many steps in a row, ending with the previous one, open with its verb.
    let mut head_run = 0usize;
    for (j, task) in plan.tasks.iter().enumerate() {
        // (Read here should the reading thread have stopped short.)
        let mut me_info = infos
            .next()
            .unwrap_or_else(|| read_step(&mut words, &mut names, plan, j));
        let named = std::mem::take(&mut me_info.named);
        let me = &me_info;
        let mut unfilled: Vec<String> = Vec::new();
        let step = if let Some(p) = prev_info.as_ref() {
            let prev = j - 1;
            let has = |bit: u16| -> Option<&str> {
                me.words.iter().find(|w| w.is(bit)).map(|w| w.raw.as_ref())
            };
            // A result word that opens a clause is an imperative verb ("Answer with one
            // word", "Output a list"), not a reference; "it" and "them" always refer.
            // A placeholder no earlier path had names what fills it ("issues/{number}"):
            // the latest step that mentions "issues"; failing that, the step before. One
            // an earlier path had ("repos/{owner}") is the caller's own value.
            let mut param_refs: Vec<(usize, Rule, String)> = Vec::new();
            let mut unresolved = false;
            for k in me
                .placeholders
                .iter()
                .filter(|k| !seen_placeholders.contains_key(*k))
            {
                let segment = k.split('/').next().unwrap_or_default();
                let maker = words
                    .of(segment, "")
                    .first()
                    .and_then(|w| mentions.latest(&w.stem, j));
                match maker {
                    Some(t) => param_refs.push((carry.find(t), Rule::Reference, k.clone())),
                    None => unresolved = true,
                }
            }
            let new_placeholder = unresolved.then_some("{…}");
            // Reads of the same resource run side by side; a write after a read of it
            // ("POST …/comments" after "GET …/issues/{n}") waits for the read.
            let same_params = if me.placeholders.is_empty()
                || unresolved
                || !param_refs.is_empty()
                || !me.read_call
            {
                None
            } else {
                me.placeholders
                    .iter()
                    .filter_map(|k| seen_placeholders.get(k).copied())
                    .max()
            };
            // "It" opening a when/until clause after a noun of its own step means that noun
            // ("Run the dishwasher when it is full"), not the previous step's output.
            let mut noun_before = [false; 2];
            let mut after: &str = "";
            let pronoun = me
                .words
                .iter()
                .enumerate()
                .find(|&(k, w)| {
                    let part = usize::from(w.in_title);
                    let personal = matches!(w.raw.as_ref(), "it" | "them");
                    let subordinate = SUBORDINATORS.contains(&after);
                    // "Above 27 C" is a comparison, not "the results above".
                    let comparison = &*w.raw == "above"
                        && me
                            .words
                            .get(k + 1)
                            .is_some_and(|n| n.raw.starts_with(|c: char| c.is_ascii_digit()));
                    let found = w.is(class::PRONOUN)
                        && (!w.starts_clause || personal)
                        && !(personal && noun_before[part] && subordinate)
                        && !comparison;
                    noun_before[part] |= w.is(class::DETERMINER | class::ARTICLE);
                    after = w.raw.as_ref();
                    found
                })
                .map(|(_, w)| w.raw.as_ref())
                .or(new_placeholder);
            // Waiting ("Wait 30 seconds", "Let the glue dry") is waiting after something.
            // "Next, …" orders; "next week" is a time.
            let then = me
                .words
                .iter()
                .find(|w| w.is(class::THEN) && (w.starts_clause || &*w.raw != "next"))
                .map(|w| w.raw.as_ref())
                .or_else(|| {
                    me.words
                        .iter()
                        .find(|w| w.in_title)
                        .map(|w| w.raw.as_ref())
                        .filter(|first| ["wait", "let", "allow"].contains(first))
                })
                .or_else(|| {
                    me.words
                        .windows(2)
                        .any(|w| &*w[0].raw == "after" && &*w[1].raw == "that")
                        .then_some("after that")
                });
            let finally = has(class::FINALLY);
            let parallel = has(class::PARALLEL)
                .or_else(|| {
                    me.words
                        .windows(3)
                        .any(|w| &*w[0].raw == "at" && &*w[1].raw == "the" && &*w[2].raw == "same")
                        .then_some("at the same time")
                })
                // "In a separate bowl", "in another pan": beside the work in the first one.
                .or_else(|| {
                    me.words
                        .windows(3)
                        .any(|w| {
                            &*w[0].raw == "in"
                                && (&*w[1].raw == "another"
                                    || &*w[1].raw == "a" && &*w[2].raw == "separate")
                        })
                        .then_some("in a separate one")
                });
            let ahead = ahead_of_time(&me.words);
            let aggregation = me
                .words
                .iter()
                .find(|w| {
                    // Short stems whole ("all", not "allowance"); long ones as prefixes.
                    text::AGGREGATION
                        .iter()
                        .any(|a| &*w.stem == *a || a.len() >= 5 && w.stem.starts_with(a))
                })
                .map(|w| w.raw.to_string());
            let same_verb = !me.head.is_empty()
                && (me.head == p.head || acquiring(&me.head) && acquiring(&p.head))
                && me.kind == p.kind
                // Numbered parts of a text continue each other ("Write part 2"); a tool
                // run on numbered items ("Text-to-Image for panel 2") does each on its own.
                // The same numbers in both ("for Lisbon, 12–13 April", "for Nice, 12–13
                // April") are shared details, not parts.
                && (me.ordinals == p.ordinals || me.tool && p.tool)
                // "Token Classification" and "Tabular Classification" are two tools.
                && (!(me.model_tool && p.model_tool) || me.tool_key == p.tool_key);
            // Preheating runs while the next steps are done; the step that uses the
            // heat names it ("Put the tray in the oven").
            let warm_up = p.readies;
            let me_warms = me.readies;
            // After a readying step, the work it ran beside goes on here.
            let carried_on = rejoin
                .filter(|&b| warm_up && !readies[b])
                .map(|b| (b, Rule::ListedOrder, String::new()));
            let both_research = me.kind == TaskKind::Research && p.kind == TaskKind::Research;
            // Words a sibling pair shares are their template, not references.
            let sibling_candidate = same_verb || both_research;
            // Data is read, not used up: two steps reading the same result run side by
            // side. Plain procedures act on things in turn ("Drain the basin", "Press out
            // the water"), so there it takes a kind or a tool to say so.
            let data_steps = me.tool
                || p.tool
                || me.kind != TaskKind::Unspecified && p.kind != TaskKind::Unspecified
                // Two lookups in plain words ("Look up the tracking status for that
                // order", "Check whether the order is refundable") read, like calls.
                || reads(me) && reads(p);
            // Stems are interned, so comparing them is comparing pointers.
            let template: Vec<&Arc<str>> = if sibling_candidate {
                me.words
                    .iter()
                    .filter(|w| p.words.iter().any(|x| Arc::ptr_eq(&x.stem, &w.stem)))
                    .map(|w| &w.stem)
                    .collect()
            } else {
                Vec::new()
            };
            let in_template = |w: &Word| template.iter().any(|t| Arc::ptr_eq(t, &w.stem));
            // But a definite phrase naming what the previous step's title names and this
            // one's does not ("Find a common *slot*", then "Find a room" with
            // `start=slot.start`) refers to its result.
            let in_title = |info: &Info, w: &Word| {
                info.words
                    .iter()
                    .any(|x| x.in_title && Arc::ptr_eq(&x.stem, &w.stem))
            };
            let template_phrase = |w: &Word| in_template(w) && (!in_title(p, w) || in_title(me, w));
            // References: definite noun phrases resolved to their latest maker.
            let mut refs: Vec<(usize, Rule, String)> = Vec::new();
            let mut in_phrase = vec![false; me.words.len()];
            // Its object is something new ("Write a list", or a definite object nothing
            // earlier mentions): then it does not just carry the previous step's work on.
            let mut fresh_object = me
                .words
                .iter()
                .skip_while(|w| w.is(class::FILLER))
                .nth(1)
                .is_some_and(|w| w.in_title && w.is(class::ARTICLE));
            // References through a process word only ("the research above").
            let mut vague: Vec<(usize, Rule, String)> = Vec::new();
            let has_definite = me.words.iter().any(|w| w.is(class::DETERMINER));
            // A step done while an earlier one goes on ("while the oven heats", "while the
            // fruit macerates") runs beside it; "while the paint is still soft" is a state
            // after it, an ordinary reference.
            let mut during: Option<(usize, String)> = None;
            // A definite phrase naming the plan's own input ("the original video").
            let mut given: Option<String> = None;
            let mut i = 0;
            while i < me.words.len() {
                if !me.words[i].is(class::DETERMINER) {
                    i += 1;
                    continue;
                }
                // "The per-frame counts": "per" makes a modifier of the noun after it.
                let mut start = i + 1;
                while start < i + 3 && me.words.get(start).is_some_and(|w| &*w.raw == "per") {
                    start += 2;
                }
                let start = start.min(me.words.len());
                in_phrase[i + 1..start].fill(true);
                let mut end = start;
                while end < me.words.len()
                    && end - start < 3
                    && !me.words[end].starts_clause
                    && !me.words[end].stop
                    && !me.words[end].is(class::DETERMINER)
                {
                    end += 1;
                }
                let phrase = &me.words[start..end];
                // The phrase as written, with its determiner ("the original video").
                let said = || {
                    me.words[i..end]
                        .iter()
                        .map(|w| w.raw.as_ref())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                // A sibling's template words ("Review *the draft* for tone") name the same
                // thing the sibling refers to: consumed, not made here.
                for (flag, w) in in_phrase[start..end].iter_mut().zip(phrase) {
                    if in_template(w) {
                        *flag = true;
                    }
                }
                // The most distinctive word that names an earlier step decides ("the
                // *technology* sector"); process words ("the report", "the generated
                // image") only when no noun does.
                let candidates = || {
                    phrase
                        .iter()
                        .rev()
                        .filter(|w| !template_phrase(w))
                        .filter(|w| !w.is(class::TIME))
                };
                let best = |generic_words: bool| {
                    candidates()
                        .filter(|w| w.generic == generic_words)
                        .filter_map(|w| {
                            mentions
                                .latest(&w.stem, j)
                                .map(|t| (doc_freq.get(&w.stem).copied().unwrap_or(0), t, w))
                        })
                        .min_by_key(|(df, _, _)| *df)
                        // The verb of a group of siblings just before ("the review
                        // comments" after three "Review …" steps) means the whole group.
                        .map(|(_, t, w)| {
                            let group_verb = group_start[prev] < prev
                                && t >= group_start[prev]
                                && same_stem(&w.stem, &p.head);
                            (t, w.is(class::VAGUE) || group_verb)
                        })
                };
                // A participle naming a later step than the noun's maker ("the *translated*
                // transcript" after "Speech-to-Text", "Translation") is that later step's
                // output: the thing as it was last changed.
                let changed = || {
                    candidates()
                        .filter(|w| {
                            w.raw.len() >= 6 && w.raw.ends_with("ed")
                                || !w.stop && doc_freq.get(&w.stem) == Some(&1)
                        })
                        .filter_map(|w| mentions.latest(&w.stem, j))
                        .max()
                };
                // "The original video", "the uploaded photo": the plan's own input, which
                // no step made.
                if phrase
                    .first()
                    .is_some_and(|w| GIVEN_INPUT.contains(&&*w.raw))
                {
                    in_phrase[start..end].fill(true);
                    given.get_or_insert_with(said);
                    i = end.max(i + 1);
                    continue;
                }
                let found = match best(false) {
                    // Only a step that worked on the noun's maker changed it ("Translation"
                    // of the transcript, not another "Download").
                    Some((t, vague)) => match changed() {
                        Some(c) if c > t && evidenced[c].contains(&t) => Some((c, false)),
                        _ => Some((t, vague)),
                    },
                    // A process word whose modifier names nothing earlier ("the *slide*
                    // text") is something new, not the latest text.
                    // But a participle says how it was made ("the *extracted* receipt
                    // text"): that is a result, the latest one.
                    None if phrase.len() >= 2
                        && phrase[phrase.len() - 1].generic
                        && !phrase[phrase.len() - 2].generic
                        && !phrase[phrase.len() - 2].stop
                        && !phrase
                            .iter()
                            .any(|w| w.raw.len() >= 6 && w.raw.ends_with("ed")) =>
                    {
                        None
                    }
                    None => best(true),
                };
                if let Some((t, vague_word)) = found {
                    // What a step refers to, it consumes: not indexed as something it makes.
                    in_phrase[start..end].fill(true);
                    let words = said();
                    let t = carry.find(t);
                    // Not "for a while, the dough …".
                    let ongoing = i > 0
                        && &*me.words[i - 1].raw == "while"
                        && !me.words[i].starts_clause
                        && (i < 2 || &*me.words[i - 2].raw != "a")
                        && !me.words[start..(end + 1).min(me.words.len())]
                            .iter()
                            .any(|w| STATE_WORDS.contains(&&*w.raw));
                    if ongoing && during.is_none() {
                        during = Some((t, format!("while {words}")));
                    } else if vague_word {
                        vague.push((t, Rule::Reference, words));
                    } else {
                        refs.push((t, Rule::Reference, words));
                    }
                } else if me.call && end > start && me.words.get(start).is_some_and(|w| w.in_title)
                {
                    // A call's `<lat>` is filled in from earlier even where no step names
                    // it: an input, not something the call makes.
                    in_phrase[start..end].fill(true);
                    if unfilled.len() < 8 {
                        unfilled.push(said());
                    }
                } else if end > start && (i == 0 || !me.words[i - 1].is(class::PREPOSITION)) {
                    fresh_object = true;
                }
                i = end.max(i + 1);
            }
            // Subjects: distinctive title words of earlier steps. A lookup given its own
            // value ("search_hotels: Hotels in Porto") looks up its own subject: it takes
            // none from earlier titles.
            for (k, w) in me.words.iter().enumerate() {
                if in_phrase[k]
                    || me.lookup.is_some()
                    || (me.tool && w.in_title)
                    // Two steps in a row with the same verb ("Extract …") share no
                    // subject by it.
                    || *w.stem == *me.head && me.head == p.head
                    || me.values.iter().any(|v| *v == *w.raw)
                    || w.stop
                    || w.is(class::ORDINAL)
                    // A number ("id": 0, "12 May") is a detail, and "output" or
                    // "results" name no subject.
                    || w.raw.bytes().all(|b| b.is_ascii_digit())
                    || w.is(class::PRONOUN)
                    || w.generic
                    || in_template(w)
                    // "Baking soda": a word in -ing before a noun only says which one.
                    || w.raw.len() > 5
                        && w.raw.ends_with("ing")
                        && me.words.get(k + 1).is_some_and(|x| !x.stop && !x.starts_clause)
                {
                    continue;
                }
                if let Some(list) = titles.get(&w.stem)
                    && list.len() <= 2
                {
                    for &t in list {
                        refs.push((t, Rule::Subject, w.raw.to_string()));
                    }
                }
            }
            // A function acting on the thing an earlier function found ("book_hotel" after
            // "search_hotels", "add_tracks" after "get_top_tracks") takes its result,
            // unless it is a lookup of its own value.
            if me.lookup.is_none() {
                for thing in &me.call_things {
                    if let Some((t, name)) = call_things.get(thing)
                        && *name != me.head
                    {
                        refs.push((*t, Rule::Reference, name.clone()));
                    }
                }
            }
            // Baking or roasting uses the oven an earlier step heated.
            if let Some(t) = last_warm.filter(|_| OVEN_VERBS.contains(&me.head.as_str())) {
                refs.push((t, Rule::Reference, first_word(&task.title).to_owned()));
            }
            // A placeholder that names its source (`<number from s4>`) is not also a
            // reference through its words ("the number").
            if named.iter().any(|(_, w)| w.starts_with('<')) {
                let sourced: Vec<String> = named
                    .iter()
                    .filter(|(_, w)| w.starts_with('<'))
                    .map(|(_, w)| w.to_lowercase())
                    .collect();
                refs.retain(|r| {
                    let phrase = r.2.strip_prefix("the ").unwrap_or(&r.2);
                    r.1 != Rule::Reference || !sourced.iter().any(|w| w.contains(phrase))
                });
            }
            // Only words link it to earlier steps: nothing named by number, variable or path.
            let words_only = named.is_empty() && param_refs.is_empty();
            // Named only by number or variable: the plan spelled out its inputs.
            let spelled_out = !named.is_empty() && refs.is_empty();
            // "The output of step 1" is step 1's output, not the previous step's.
            let pronoun = pronoun.filter(|_| named.is_empty());
            for (t, words) in named {
                refs.push((t, Rule::Reference, words));
            }
            let params_only = refs.is_empty() && !param_refs.is_empty();
            refs.append(&mut param_refs);
            // A named reference makes the process-word ones ("its research") redundant.
            let vague_only = refs.is_empty();
            if vague_only {
                refs.append(&mut vague);
            }
            refs.sort_by_key(|r| r.0);
            refs.dedup_by_key(|r| r.0);
            let refers_prev = refs.iter().any(|r| r.0 == prev);
            let group = group_start[prev];
            let group_len = j - group;

            // A lookup of its own value that names nothing earlier starts a new branch, even
            // right after a group of siblings.
            // Not when it picks among results ("details of the top hit"): those came from
            // the step before. ("Find the top sites" picks among its own, so this only
            // holds a lookup back; it makes no edge.)
            // A lookup given nothing at all (`home.get_presence()`) after another lookup
            // reads beside it.
            let bare_lookup = me.read_call && me.bare_call && p.read_call;
            let fresh_lookup = (me.lookup.is_some() || bare_lookup)
                && refs.is_empty()
                && !me.filled_in
                && pronoun.is_none()
                && then.is_none()
                && superlative(&me.words).is_none();
            let mut deps: Vec<(usize, Rule, String)> = Vec::new();
            let mut beside = None;
            let mut confidence;
            let mut why = None;
            let mut sibling = false;
            // In a list of tips, "it", a shared word and a thing another tip names ("the
            // tap") are the plan's topic ("Store it indoors" in bike-care tips), not an
            // earlier tip's result.
            if list_plan && words_only && then.is_none() {
                confidence = 0.6;
                why = Some(format!(
                    "the plan is a list of independent items (its title: \"{}\")",
                    plan.title.as_deref().unwrap_or_default()
                ));
            } else if let Some((count, word)) = me.words.windows(2).find_map(|w| {
                // "The three translations" after three "Translate …" steps: all three.
                let count = COUNT_WORDS.iter().position(|c| *c == &*w[0].raw)? + 2;
                (count <= head_run && !p.head.is_empty() && same_stem(&w[1].stem, &p.head))
                    .then(|| (count, format!("{} {}", w[0].raw, w[1].raw)))
            }) {
                confidence = Rule::Aggregation.confidence();
                refs.retain(|r| r.0 < j - count);
                deps.extend((j - count..j).map(|d| (d, Rule::Aggregation, word.clone())));
                deps.append(&mut refs);
            } else if me_warms
                && then.is_none()
                && pronoun.is_none()
                && !refers_prev
                // Not while a step beside the previous one still waits to be rejoined.
                && (readies[prev] || rejoin.is_none_or(|b| readies[b]))
            {
                // Readying equipment waits for nothing: it runs beside the work before it,
                // which the next step carries on (after two readying steps, the work before
                // both).
                beside = if readies[prev] {
                    rejoin.or(Some(prev))
                } else {
                    Some(prev)
                };
                confidence = Rule::Parallel.confidence();
                deps.append(&mut refs);
                why = Some(format!(
                    "readying the oven or a tin waits for nothing; it runs beside {}",
                    plan.tasks[prev].id
                ));
            } else if sibling_candidate
                && !refers_prev
                && pronoun.is_none()
                && then.is_none()
                // A plain step doing the same thing to something already there ("Unscrew
                // the shade", then "Unscrew the bulb") carries on in turn.
                && (data_steps || refs.is_empty())
            {
                sibling = true;
                confidence = Rule::Sibling.confidence();
                let what = if same_verb {
                    format!("both start with \"{}\"", first_word(&plan.tasks[j].title))
                } else {
                    "both are research".to_owned()
                };
                if refs.is_empty() && lists[group].len() > SHARE_CAP {
                    // Copying a huge input list to every sibling would make the graph
                    // quadratic; following the previous step keeps every input (do no harm).
                    sibling = false;
                    confidence = Rule::ListedOrder.confidence();
                    deps.push((prev, Rule::ListedOrder, String::new()));
                } else if refs.is_empty() {
                    deps.extend(lists[group].iter().map(|&d| {
                        (
                            d,
                            Rule::Sibling,
                            format!("sibling of {}", plan.tasks[group].id),
                        )
                    }));
                    why = Some(format!(
                        "sibling of {} ({what}): shares its inputs and runs beside it",
                        plan.tasks[prev].id
                    ));
                } else {
                    deps.append(&mut refs);
                    why = Some(format!(
                        "sibling of {} ({what}): takes its own inputs and runs beside it",
                        plan.tasks[prev].id
                    ));
                }
            } else if let Some((t, word)) = during
                .take()
                .filter(|_| then.is_none() && pronoun.is_none())
            {
                // Timed against a step that is still going on, not after it.
                beside = Some(t);
                confidence = Rule::Parallel.confidence();
                deps.append(&mut refs);
                why = Some(format!(
                    "runs while {} goes on (\"{word}\")",
                    plan.tasks[t].id
                ));
            } else if let Some(word) = ahead.filter(|_| pronoun.is_none() && then.is_none()) {
                // Timed against the event, not after the steps before it.
                confidence = Rule::Parallel.confidence();
                deps.append(&mut refs);
                why = Some(format!(
                    "done ahead of time (\"{word}\"), not after {}",
                    plan.tasks[prev].id
                ));
            } else if let Some(word) = parallel.filter(|_| lists[prev].len() <= SHARE_CAP) {
                confidence = Rule::Parallel.confidence();
                // Beside a data step it reads the same inputs; in a plain procedure
                // ("Meanwhile, heat the griddle") it needs only what it names.
                if data_steps || pronoun.is_some() {
                    deps.extend(
                        lists[prev]
                            .iter()
                            .map(|&d| (d, Rule::Parallel, word.to_owned())),
                    );
                }
                beside = Some(prev);
                deps.append(&mut refs);
                why = Some(format!("\"{word}\": runs beside {}", plan.tasks[prev].id));
            } else if let Some(word) = finally
                .map(str::to_owned)
                .or(aggregation.filter(|_| live >= 2))
            {
                confidence = Rule::Aggregation.confidence();
                frontier.retain(|&i| !consumed[i]);
                // Readied equipment is used where it is named, not gathered.
                deps.extend(
                    frontier
                        .iter()
                        .filter(|&&d| !readies[d])
                        .map(|&d| (d, Rule::Aggregation, word.clone())),
                );
                deps.append(&mut refs);
            } else if lookups.len() >= 2
                && !me.read_call
                // Shared title words ("list_events", "create_event") name no single one.
                && refs
                    .iter()
                    .filter(|r| r.0 >= lookups[0] && r.1 != Rule::Subject)
                    .count()
                    + usize::from(pronoun.is_some() && !refers_prev)
                    != 1
            {
                // The first step after independent lookups is what they were fetched for,
                // unless it names one of them ("Summarise those headlines").
                refs.retain(|r| r.0 < lookups[0]);
                confidence = Rule::Join.confidence();
                deps.extend(lookups.iter().map(|&d| {
                    (
                        d,
                        Rule::Join,
                        format!(
                            "after the lookups {}…{}",
                            plan.tasks[lookups[0]].id, plan.tasks[prev].id
                        ),
                    )
                }));
                deps.append(&mut refs);
            } else if group_len >= 2
                && (vague_only || !refs.iter().any(|r| r.0 >= group))
                && !fresh_lookup
            {
                refs.retain(|r| r.0 < group);
                confidence = Rule::Join.confidence();
                deps.extend((group..j).map(|d| {
                    (
                        d,
                        Rule::Join,
                        format!(
                            "after the group {}…{}",
                            plan.tasks[group].id, plan.tasks[prev].id
                        ),
                    )
                }));
                deps.append(&mut refs);
            } else if !refs.is_empty() {
                confidence = Rule::Reference.confidence();
                // Two calls in a row that change the same thing (`charge(booking_id)`,
                // `issue_ticket(booking_id)`) change it in turn.
                let two_changes = me.call && !me.read_call && p.call && !p.read_call;
                // A change after a read of the same thing acts on what the read found
                // (`submit_request(employee_id=emp.id)` after `get_balance(emp.id)`).
                let act_on_read = me.call && !me.read_call && p.call && p.read_call;
                // "Image Inpainting" after "Image Editing" changes the edited image, whatever
                // in it the step names ("remove the lamp").
                let changes_prev_medium =
                    me.medium_change && p.output.is_some() && p.output == me.output;
                // Steps that each make something new from one transcript or photo
                // ("Summarise the transcript", "Run sentiment analysis on the transcript")
                // read it side by side, tool names or not.
                let derived_readers =
                    derives(me) && derives(p) && refs.iter().all(|r| read_only_thing(&r.2));
                let shares_input = (data_steps || derived_readers)
                    && !refers_prev
                    && !two_changes
                    && !act_on_read
                    // Picking "the best" is picking among what the step before returned.
                    && superlative(&me.words).is_none()
                    && refs.iter().all(|r| evidenced[prev].contains(&r.0));
                if let Some(word) = pronoun.or(then) {
                    deps.push((prev, Rule::Ordering, word.to_owned()));
                } else if changes_prev_medium && !refers_prev {
                    deps.push((
                        prev,
                        Rule::Reference,
                        format!("changes what {} made", plan.tasks[prev].id),
                    ));
                } else if shares_input {
                    why = Some(format!(
                        "uses the same input as {} ({}) and not its output",
                        plan.tasks[prev].id, refs[0].2
                    ));
                } else if warm_up {
                    deps.extend(carried_on.clone());
                    why = Some(ready_why(plan.tasks[prev].id.as_str()));
                } else if params_only && !refers_prev {
                    why = Some(format!(
                        "its {} comes from {}, not from {}",
                        refs[0].2, plan.tasks[refs[0].0].id, plan.tasks[prev].id
                    ));
                } else if !refers_prev && group_len < 2 && !spelled_out && !me.model_tool {
                    deps.push((prev, Rule::ListedOrder, String::new()));
                    confidence = 0.7;
                }
                deps.append(&mut refs);
            } else if let Some(word) = pronoun.or(then) {
                confidence = Rule::Ordering.confidence();
                deps.push((prev, Rule::Ordering, word.to_owned()));
            } else if let Some(s) = same_params
                .or_else(|| {
                    // Calls given the same unnamed inputs as the call before
                    // (`search_restaurants(lat=<lat>)` after `search_hotels(lat=<lat>)`)
                    // take them from where it did, unless either changes something
                    // (`get_user(user_id=<user_id>)` after `update_email(user_id=<user_id>)`
                    // reads what the update left).
                    (p.call
                        && !unfilled.is_empty()
                        && unfilled.iter().all(|u| prev_unfilled.contains(u))
                        && !changes_things(me)
                        && !changes_things(p))
                    .then_some(prev)
                })
                .filter(|&s| lists[s].len() <= SHARE_CAP)
            {
                confidence = 0.7;
                deps.extend(lists[s].iter().map(|&d| {
                    (
                        d,
                        Rule::Sibling,
                        format!("same parameters as {}", plan.tasks[s].id),
                    )
                }));
                why = Some(format!(
                    "takes the same parameters as {} ({}) and none from its output",
                    plan.tasks[s].id,
                    me.placeholders.join(", ")
                ));
            } else if me.tool && !has_definite && has(class::ARTICLE).is_some() && group_len < 2 {
                confidence = 0.7;
                why = Some(
                    "a tool step whose input is given in its own text (\"a …\") and refers to no earlier step"
                        .to_owned(),
                );
            } else if let Some(value) = me.lookup.as_ref().filter(|_| fresh_lookup) {
                confidence = 0.7;
                why = Some(format!(
                    "a lookup given its own value ({value}) that refers to no earlier step"
                ));
            } else if fresh_lookup {
                confidence = 0.7;
                why = Some(format!(
                    "a lookup given no arguments, after the lookup {}",
                    plan.tasks[prev].id
                ));
            } else if let Some((t, value)) = (!me.read_call && me.call)
                .then(|| {
                    me.whole_values
                        .iter()
                        .filter_map(|v| written.get(v).map(|&t| (t, v)))
                        .max_by_key(|(t, _)| *t)
                })
                .flatten()
            {
                // A call given only its own values, one of which an earlier change made or
                // named (`create_pull_request(head="fix-typos")` after a commit to that
                // branch), changes what that change made.
                confidence = Rule::Reference.confidence();
                deps.push((t, Rule::Reference, value.clone()));
            } else if let Some((t, file)) = me
                .literal
                .as_ref()
                .filter(|l| !l.starts_with('"'))
                .and_then(|l| files.get(file_name(l)).map(|&t| (t, l)))
            {
                // A file an earlier step wrote, uploaded or exported ("Export the rows to
                // churned.csv", `s3.put_object` of summary.pdf) is that step's result.
                confidence = Rule::Reference.confidence();
                deps.push((t, Rule::Reference, file.clone()));
            } else if let Some(lit) = me
                .literal
                .as_ref()
                .or(given.as_ref())
                .filter(|_| group_len < 2 && !me.filled_in)
            {
                confidence = 0.7;
                why = Some(format!(
                    "starts from its own input {lit} and refers to no earlier step"
                ));
            } else if warm_up && lists[prev].len() <= SHARE_CAP {
                confidence = 0.7;
                deps.extend(
                    lists[prev]
                        .iter()
                        .map(|&d| (d, Rule::Parallel, format!("beside {}", plan.tasks[prev].id))),
                );
                deps.extend(carried_on);
                why = Some(ready_why(plan.tasks[prev].id.as_str()));
            } else if let Some(takes) = me
                .tool_input
                .as_deref()
                .filter(|a| p.output.as_deref().is_some_and(|y| !same_medium(a, y)))
            {
                // "Text-to-Speech" after "Text-to-Video": it takes text, which the step
                // before does not make; the latest step that does, if any.
                confidence = 0.7;
                let maker = made
                    .iter()
                    .filter(|(m, _)| same_medium(takes, m))
                    .map(|(_, &t)| t)
                    .max();
                match maker {
                    Some(t) => {
                        deps.push((t, Rule::Reference, format!("makes the {takes} it takes")))
                    }
                    None => {
                        why = Some(format!(
                            "takes {takes}, which {} does not make",
                            plan.tasks[prev].id
                        ));
                    }
                }
            } else {
                confidence = Rule::ListedOrder.confidence();
                deps.push((prev, Rule::ListedOrder, String::new()));
            }
            // The work after a step that ran beside another needs both; readied equipment
            // only where it is used (which names it, or bakes).
            if let Some(b) = rejoin
                .filter(|_| deps.iter().any(|d| d.0 == prev))
                .filter(|&b| !readies[b])
            {
                deps.push((
                    b,
                    Rule::Join,
                    format!(
                        "after {} and {}, which ran side by side",
                        plan.tasks[b].id, plan.tasks[prev].id
                    ),
                ));
            }
            rejoin = beside;
            group_start.push(if sibling { group } else { j });
            if deps.iter().all(|d| d.0 != prev) && why.is_none() {
                why = Some(format!(
                    "its inputs come from earlier steps ({}), not from {}",
                    deps.iter()
                        .map(|d| plan.tasks[d.0].id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    plan.tasks[prev].id
                ));
            }
            // A step that only carries the previous one's work on holds that work now.
            // A tool makes something new ("Text-to-Image"), so it carries nothing on.
            if deps.len() == 1
                && !fresh_object
                && !me.tool
                && deps[0].0 == prev
                && matches!(deps[0].1, Rule::ListedOrder | Rule::Ordering)
            {
                carry.next[prev] = j;
            }
            consumed_phrase = in_phrase;
            Step {
                deps,
                confidence,
                independent: why,
            }
        } else {
            group_start.push(0);
            Step {
                deps: Vec::new(),
                confidence: 1.0,
                independent: None,
            }
        };
        let Step {
            mut deps,
            confidence,
            independent: why,
        } = step;
        let consumed_words = std::mem::take(&mut consumed_phrase);
        deps.retain(|d| d.0 < j);
        deps.sort_by_key(|d| d.0);
        deps.dedup_by_key(|d| d.0);
        if j > 0
            && let Some(reason) = why.filter(|_| deps.iter().all(|d| d.0 != j - 1))
        {
            independent.push(Independence { task: j, reason });
        }
        for (d, rule, words) in &deps {
            if !consumed[*d] {
                consumed[*d] = true;
                live -= 1;
            }
            edges.push(Evidence {
                from: *d,
                to: j,
                rule: *rule,
                words: words.clone(),
                confidence: rule.confidence(),
            });
        }
        // Compacted lazily (when used, or when mostly consumed), so that the work stays
        // linear however many steps are left unconsumed.
        if frontier.len() > 2 * live + 16 {
            frontier.retain(|&i| !consumed[i]);
        }
        frontier.push(j);
        live += 1;
        if !me.read_call || !deps.is_empty() {
            lookups.clear();
        } else {
            lookups.push(j);
        }
        task_confidence.push(confidence);
        lists.push(deps.iter().map(|d| d.0).collect());
        evidenced.push(
            deps.iter()
                .filter(|d| d.1 != Rule::ListedOrder)
                .map(|d| d.0)
                .collect::<Vec<_>>(),
        );
        // Index this step for the steps after it.
        for (k, w) in me.words.iter().enumerate() {
            // "One score per review": a unit, not something this step makes.
            let unit = k > 0 && &*me.words[k - 1].raw == "per";
            // "Image-to-Video" takes an image: it makes no image.
            let taken = w.in_title && me.tool_input.as_deref() == Some(&*w.stem);
            if !w.stop
                && !consumed_words.get(k).copied().unwrap_or(false)
                && !me.values.iter().any(|v| *v == *w.raw)
                && !unit
                && !taken
            {
                if !me.words[..k].iter().any(|x| Arc::ptr_eq(&x.stem, &w.stem)) {
                    *doc_freq.entry(Arc::clone(&w.stem)).or_default() += 1;
                }
                mentions.add(j, &w.stem);
            }
            // A tool's own name ("Image Captioning") is what it does, not a subject that
            // later steps come back to ("closed captions" for another video).
            let own_name = me.tool && *w.stem == *me.head;
            if w.in_title && !w.stop && !w.generic && !own_name {
                let list = titles.entry(Arc::clone(&w.stem)).or_default();
                if list.last() != Some(&j) {
                    list.push(j);
                }
            }
        }
        for k in &me.placeholders {
            seen_placeholders.insert(k.clone(), j);
        }
        for thing in &me.call_things {
            call_things.insert(Arc::clone(thing), (j, me.head.clone()));
        }
        if !me.read_call {
            for v in &me.whole_values {
                written.insert(v.clone(), j);
            }
        }
        // Files it writes: where it says so ("to churned.csv"), or any file a step that
        // changes things names.
        if let Some(dest) = &me.writes {
            files.insert(file_name(dest).to_owned(), j);
        }
        // Only a step whose verb changes things writes the file it names
        // (`s3.put_object`, "Upload …"); `scene_detect` of vlog.mp4 reads it.
        let changes = CHANGE_VERBS.contains(&call_verb(&me.head));
        if let Some(lit) = me
            .literal
            .as_ref()
            .filter(|l| changes && !l.starts_with('"'))
        {
            files.insert(file_name(lit).to_owned(), j);
        }
        if let Some(out) = &me.output {
            if made.len() < 16 || made.contains_key(out) {
                made.insert(out.clone(), j);
            }
            mentions.add(j, &Arc::from(out.as_str()));
            // What it makes goes by other names too ("the picture" a Text-to-Image made).
            for (_, other) in OUTPUT_NAMES.iter().filter(|(o, _)| *o == out.as_str()) {
                mentions.add(j, &Arc::from(*other));
            }
        }
        object_titles += usize::from(
            me.words
                .iter()
                .any(|w| w.in_title && w.is(class::DETERMINER | class::ARTICLE)),
        );
        if me.heats_oven {
            last_warm = Some(j);
        }
        readies.push(me.readies);
        plain_steps &= me.kind == TaskKind::Unspecified
            && !me.tool
            && me.placeholders.is_empty()
            && me.literal.is_none();
        head_run = if prev_info
            .as_ref()
            .is_some_and(|p| !p.head.is_empty() && p.head == me_info.head)
        {
            head_run + 1
        } else {
            1
        };
        prev_info = Some(me_info);
        prev_unfilled = unfilled;
    }
    // A checklist: four or more plain actions none of which refers back to or waits for
    // another ("water the plants", "call grandma", "sort the post"). Nothing but the listed
    // order and a shared title word ("first thing", "one thing") links them, and a list of
    // chores has no order.
    let in_order = |e: &Evidence| e.rule == Rule::ListedOrder && e.from + 1 == e.to;
    // Only where the plan's title says it is a collection ("Sunday chores", "Before the
    // holiday"): a procedure whose steps name no earlier step ("Clean windows without
    // streaks": fill, dip, scrub, squeegee, wipe) is still done in order.
    let collection_title = plan.title.as_deref().is_some_and(|t| {
        t.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| text::LIST_TITLES.contains(&w) || text::COLLECTION_TITLES.contains(&w))
    });
    if n >= 4
        && collection_title
        && plain_steps
        && object_titles + 1 >= n
        // Each step follows the one before it by listed order alone; a word shared with
        // an earlier item ("the sink") is the checklist's topic.
        && edges.iter().filter(|e| in_order(e)).count() == n - 1
        && edges.iter().all(|e| in_order(e) || e.rule == Rule::Subject)
    {
        edges.clear();
        independent = (1..n)
            .map(|task| Independence {
                task,
                reason: "no step of this checklist refers back to or waits for another".to_owned(),
            })
            .collect();
        for l in &mut lists {
            l.clear();
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let confidence = if n <= 1 {
        1.0
    } else {
        task_confidence[1..].iter().sum::<f64>() / (n - 1) as f64
    };
    Inference {
        deps: DependencyMap::from_lists(lists),
        edges,
        independent,
        task_confidence,
        confidence,
    }
}

/// Verbs (stems) of getting something from someone else: consecutive steps getting
/// different things ("Book the flights", "Reserve a guesthouse") are siblings.
fn acquiring(stem: &str) -> bool {
    ["book", "reserv", "buy", "purchas", "order", "rent", "hire"].contains(&stem)
}

/// Done ahead of the rest, so not after the step listed before: "in advance",
/// "beforehand", "ahead of time", or "the night before" ending a clause.
fn ahead_of_time(words: &[Word]) -> Option<&'static str> {
    let raw = |k: usize| words.get(k).map_or("", |w| &*w.raw);
    for k in 0..words.len() {
        match raw(k) {
            "beforehand" => return Some("beforehand"),
            "advance" if raw(k.wrapping_sub(1)) == "in" => return Some("in advance"),
            "ahead" if raw(k + 1) == "of" && raw(k + 2) == "time" => return Some("ahead of time"),
            "before"
                if raw(k.wrapping_sub(2)) == "the"
                    && words.get(k + 1).is_none_or(|w| w.starts_clause) =>
            {
                let phrase = match raw(k.wrapping_sub(1)) {
                    "night" => "the night before",
                    "day" => "the day before",
                    "evening" => "the evening before",
                    "week" => "the week before",
                    _ => continue,
                };
                return Some(phrase);
            }
            _ => {}
        }
    }
    None
}

/// "The cheapest flight", "the top hit", "the first result": picking among results the
/// step before returned.
fn superlative(words: &[Word]) -> Option<&str> {
    const NOT_SUPERLATIVE: &[&str] = &[
        "interest", "request", "forest", "harvest", "contest", "protest", "suggest", "digest",
        "arrest", "invest", "honest", "modest", "manifest", "conquest", "inquest", "bequest",
    ];
    (1..words.len()).find_map(|k| {
        let w = &*words[k].raw;
        let picks = ["best", "top", "first"].contains(&w)
            || w.len() >= 6 && w.ends_with("est") && !NOT_SUPERLATIVE.contains(&w);
        // "The first hour" is a time, not a pick.
        let time = words.get(k + 1).is_some_and(|n| n.is(class::TIME));
        (&*words[k - 1].raw == "the" && picks && !time).then_some(w)
    })
}

/// The text with the keys of JSON objects blanked (`{"image": "street.jpg"}`): a key
/// names a parameter, like `image=` in a call, not something earlier.
fn without_json_keys(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('{') || !text.contains('"') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        let Some(len) = rest[open + 1..].find('"') else {
            break;
        };
        let close = open + 1 + len;
        let key = rest[close + 1..].trim_start().starts_with(':');
        out.push_str(&rest[..open]);
        if key {
            out.push(' ');
        } else {
            out.push_str(&rest[open..=close]);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out.into()
}

/// A description written as arguments (`image: "kitchen.jpg", question: …`) without the
/// argument names: each names a parameter, not something earlier.
fn without_argument_names(text: &str) -> std::borrow::Cow<'_, str> {
    let is_name = |w: &str| {
        !w.is_empty() && w.len() <= 24 && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    // Only where the description opens with one.
    match text.trim_start().split_once(':') {
        Some((first, _)) if is_name(first) => {}
        _ => return text.into(),
    }
    let mut out = String::with_capacity(text.len());
    for (k, part) in text.split(',').enumerate() {
        if k > 0 {
            out.push(',');
        }
        match part.split_once(':') {
            Some((name, value)) if is_name(name.trim()) => {
                out.push(' ');
                out.push_str(value);
            }
            _ => out.push_str(part),
        }
    }
    out.into()
}

/// Whether a tool taking `a` can take what makes `y` (stems; "audio" is speech too).
fn same_medium(a: &str, y: &str) -> bool {
    a == y
        || OUTPUT_NAMES
            .iter()
            .any(|&(o, other)| o == y && other == a || o == a && other == y)
}

/// A title without its leading "Step 3:" or "Step 3." label.
fn strip_step_label(t: &str) -> &str {
    let Some(rest) = t
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("step"))
        .map(|_| t[4..].trim_start())
    else {
        return t;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    match rest[digits..].strip_prefix([':', '.', ')']) {
        Some(after) if digits > 0 => after.trim_start(),
        _ => t,
    }
}

/// A medium a model takes or makes ("text", "image" in "Text-to-image").
fn is_medium(word: &str) -> bool {
    [
        "text", "image", "video", "audio", "speech", "voice", "music", "sound", "3d",
    ]
    .iter()
    .any(|m| word.eq_ignore_ascii_case(m))
}

/// First words of model tasks written in sentence case ("Text generation", "Sentiment
/// analysis", "Object detection").
const MODEL_SUBJECTS: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "speech",
    "sentiment",
    "object",
    "token",
    "question",
    "document",
    "visual",
    "depth",
    "named",
    "entity",
    "zero-shot",
    "tabular",
    "sentence",
];

/// What a tool named after a medium and a change to it makes: the medium ("Image
/// Colorization", "Video Editing", "Audio Noise Reduction" make an image, a video, audio).
/// Tools that read a medium ("Image Captioning", "Video Classification") make something else.
fn medium_made(title: &str) -> Option<String> {
    let mut parts = strip_step_label(title.trim())
        .split_whitespace()
        .take(4)
        .take_while(|w| !INPUT_PREPOSITIONS.contains(w) && !w.starts_with('('))
        .flat_map(|w| w.split('-'))
        .map(|w| w.trim_end_matches(':'))
        .filter(|w| !w.is_empty());
    let first = parts.next()?;
    let made = ["image", "photo", "video", "audio", "speech"]
        .into_iter()
        .find(|m| first.eq_ignore_ascii_case(m))?;
    let last = parts.last()?;
    let change = CHANGES.iter().any(|c| {
        last.get(..c.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(c))
    });
    change.then(|| {
        if made == "photo" || made == "image" {
            "imag"
        } else {
            made
        }
        .to_owned()
    })
}

/// Words (prefixes) naming a change to a medium that gives the medium back.
const CHANGES: &[&str] = &[
    "edit",
    "color",
    "colour",
    "restor",
    "enhanc",
    "inpaint",
    "denois",
    "upscal",
    "super",
    "resol",
    "styl",
    "stitch",
    "retouch",
    "sharpen",
    "reduc",
    "trim",
    "crop",
    "resiz",
    "compress",
    "stabili",
    "mix",
    "generat",
    "synthes",
    "manipul",
    "transform",
    "remov",
];

/// Other names (stems) for what an "X-to-Y" tool makes, by Y's stem.
const OUTPUT_NAMES: &[(&str, &str)] = &[
    ("imag", "pictur"),
    ("imag", "photo"),
    ("imag", "illustr"),
    ("video", "clip"),
    ("video", "footag"),
    ("speech", "audio"),
    ("speech", "record"),
    ("speech", "narrat"),
    ("speech", "voiceov"),
    ("audio", "record"),
];

/// First words of a definite phrase that names the plan's own input, not a step's result.
const GIVEN_INPUT: &[&str] = &["original", "uploaded", "provided", "supplied", "attached"];

/// Verbs (stems) of cooking in an oven.
const OVEN_VERBS: &[&str] = &["bake", "roast"];

/// Names one of `stems` in its title.
fn names_in_title(info: &Info, stems: &[&str]) -> bool {
    info.words
        .iter()
        .any(|w| w.in_title && stems.contains(&&*w.stem))
}

/// Heats the oven: "Preheat the oven …", or "Heat the oven …".
fn warms_up(info: &Info) -> bool {
    matches!(info.head.as_str(), "preheat" | "heat") && names_in_title(info, &["oven"])
}

/// Readies equipment: preheats (an oven, a grill, a pan), or greases or lines a tin, a tray,
/// a dish.
fn readies_equipment(info: &Info) -> bool {
    warms_up(info)
        || info.head == "preheat"
        || matches!(info.head.as_str(), "greas" | "grease" | "line")
            && names_in_title(
                info,
                &["tin", "pan", "tray", "dish", "mould", "mold", "sheet"],
            )
}

fn ready_why(prev: &str) -> String {
    format!(
        "{prev} readies the oven or a tin, which runs while this step is done (nothing here uses it)"
    )
}

fn first_word(title: &str) -> &str {
    title
        .split(|c: char| c.is_whitespace() || c == '_' || c == ':')
        .find(|w| !w.is_empty())
        .unwrap_or(title)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dagent_core::{Task, TaskId};

    fn plan(title: &str, steps: &[(&str, &str)]) -> Plan {
        let mut p = Plan::new(
            steps
                .iter()
                .enumerate()
                .map(|(i, (t, d))| {
                    let mut task = Task::new(format!("s{}", i + 1), *t);
                    task.description = (*d).to_owned();
                    task
                })
                .collect(),
        );
        p.title = Some(title.to_owned());
        p
    }

    fn deps(p: &Plan) -> Vec<Vec<usize>> {
        let inf = infer(p);
        (0..p.len()).map(|i| inf.deps.deps_of(i).to_vec()).collect()
    }

    #[test]
    fn shared_dates_are_details_and_a_described_call_names_what_it_takes() {
        // The same numbers in both titles are details they share, not part numbers.
        let p = plan(
            "Sunny day out",
            &[
                ("Call get_forecast for Oslo, 3–4 May", ""),
                ("Call get_forecast for Bergen, 3–4 May", ""),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        let p = plan(
            "Chapters",
            &[("Draft chapter 3", ""), ("Draft chapter 4", "")],
        );
        assert_eq!(deps(&p)[1], vec![0], "different numbers are parts in order");
        // A description that is one call reads its variables as references: the desk
        // search takes the slot found before it, so it is no sibling of that search.
        let p = plan(
            "Meeting",
            &[
                (
                    "Find a free slot",
                    "calendar.free(user=\"ana\", week=\"next\")",
                ),
                (
                    "Find a desk",
                    "desks.search(from=slot.start, until=slot.end)",
                ),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        // Literals and parameter names are the call's own: two searches stay siblings.
        let p = plan(
            "Trip",
            &[
                (
                    "Find flights",
                    "search_flights(to=\"Rome\", date=\"2026-05-03\")",
                ),
                (
                    "Find hotels",
                    "search_hotels(city=\"Rome\", date=\"2026-05-03\")",
                ),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        // A described lookup changes nothing: a booking given the same city does not
        // follow it as it would follow a change.
        let p = plan(
            "Trip",
            &[
                (
                    "Find flights",
                    "search_flights(to=\"Rome\", date=\"2026-05-03\")",
                ),
                ("book_hotel(city=\"Rome\", nights=\"three\")", ""),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        // Only a description that is one call whole: "g(a) then h(b)" is prose.
        let (text, _) = call_text("g(a=x.y)");
        assert!(text.contains("the x y"));
    }

    #[test]
    fn other_names_for_outputs_given_inputs_and_subjects_named_first() {
        // "The picture" is what Text-to-Image made; "the narration" what Text-to-Speech made.
        let p = plan(
            "Ad",
            &[
                ("Text Generation", "Write a blurb."),
                ("Text-to-Image", "Illustrate the blurb."),
                (
                    "Image Editing",
                    "Put logo.png in the corner of the picture.",
                ),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        let p = plan(
            "Story",
            &[
                ("Text-to-Speech", "Read story.txt aloud."),
                ("Text-to-Image", "Draw a lighthouse."),
                ("Video Editing", "Lay the narration under the drawing."),
            ],
        );
        assert_eq!(deps(&p)[2], vec![0, 1]);
        // "The original video" is the plan's input: the frames do not wait for the audio.
        let p = plan(
            "Lecture",
            &[
                (
                    "Audio Extraction",
                    "Pull the audio out of the lecture video.",
                ),
                ("Speech-to-Text", "Transcribe the extracted audio."),
                ("Frame Extraction", "Grab frames from the original video."),
            ],
        );
        assert_eq!(deps(&p)[2], Vec::<usize>::new());
        // "The slide text" names something new, not the transcript (a text); "the per-frame
        // counts" are the counts, not the frames.
        let p = plan(
            "Notes",
            &[
                ("Speech-to-Text", "Transcribe lecture.mp3."),
                ("Frame Extraction", "Grab frames from lecture.mp4."),
                ("OCR", "Read the slide text from the extracted frames."),
                (
                    "Summarization",
                    "Write notes from the transcript and the slide text.",
                ),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        assert_eq!(deps(&p)[3], vec![0, 2]);
        let p = plan(
            "Traffic",
            &[
                ("Video Frame Extraction", "Extract frames from cam.mp4."),
                (
                    "Object Counting",
                    "Count the cars per frame in the extracted frames.",
                ),
                (
                    "Text Generation",
                    "Write a report from the per-frame counts.",
                ),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        // Titles that name their subject first share no verb: the barber's two steps are
        // done in turn, not side by side.
        let p = plan(
            "Haircut",
            &[
                ("sitting down in the chair", ""),
                ("the barber trims the hair", ""),
                ("the barber brushes the loose hair off the neck", ""),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        // Two calls in a row that change the booking change it in turn; two reads of it
        // run side by side.
        let p = plan(
            "Flight",
            &[
                ("bookings.create(offer_id)", "Returns a booking_id."),
                ("payments.charge(booking_id, amount)", ""),
                ("bookings.issue_ticket(booking_id)", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
        let p = plan(
            "Flight",
            &[
                ("bookings.create(offer_id)", "Returns a booking_id."),
                ("get_seat_map(booking_id)", ""),
                ("get_baggage_allowance(booking_id)", ""),
            ],
        );
        assert_eq!(deps(&p)[2], vec![0]);
    }

    #[test]
    fn a_second_bowl_runs_beside_and_readied_trays_are_not_gathered() {
        let p = plan(
            "Muffins",
            &[
                ("Preheat the oven to 200°C", ""),
                ("Line a muffin tray with paper cases", ""),
                ("Melt the butter with both sugars", ""),
                ("Beat in the eggs", ""),
                ("Sift the flour and baking powder in a separate bowl", ""),
                ("Fold the flour into the butter mixture", ""),
                ("Spoon the batter into the tray", ""),
                ("Bake for 20 minutes", ""),
            ],
        );
        let d = deps(&p);
        // Lining the tray readies it, and "both sugars" gathers neither readied thing.
        assert_eq!(d[1], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[2], Vec::<usize>::new(), "{d:?}");
        // "In a separate bowl" runs beside the eggs; the batter goes into the lined tray
        // and the oven is used where it bakes.
        assert_eq!(d[4], Vec::<usize>::new(), "{d:?}");
        assert!(d[5].contains(&3) && d[5].contains(&4), "{d:?}");
        assert!(d[6].contains(&1) && d[6].contains(&5), "{d:?}");
        assert!(d[7].contains(&0), "{d:?}");
        // A word in -ing before a noun says which one: "baking soda" is not the baking
        // trays' subject.
        let p = plan(
            "Cookies",
            &[
                ("Cream the butter and sugar", ""),
                ("Line two baking trays", ""),
                ("Stir in flour and baking soda", ""),
            ],
        );
        assert!(!deps(&p)[2].contains(&1), "{:?}", deps(&p));
    }

    #[test]
    fn a_result_word_used_as_a_verb_is_not_a_reference() {
        // "Answer with one word" asks for an answer; it does not refer to the previous one.
        let p = plan(
            "Eight questions",
            &[
                ("Name a fruit", "Answer with one word."),
                ("Name a color", "Answer with one word."),
                ("Name a city", "Answer with one word."),
            ],
        );
        assert_eq!(deps(&p), vec![Vec::<usize>::new(); 3]);
        // As a noun it still refers: "Check the answer" follows the step that gave it.
        let p = plan(
            "Quiz",
            &[("Solve the puzzle", ""), ("Check the answer", "")],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0]]);
    }

    #[test]
    fn a_lookup_given_its_own_value_starts_a_branch_and_an_action_does_not() {
        let p = plan(
            "Pay a supplier",
            &[
                ("get_invoice", "Fetch invoice INV-7 from accounting."),
                ("get_exchange_rate", "Get today's USD to JPY rate."),
                ("convert_amount", "Convert the invoice total at that rate."),
                ("create_payment", "Pay Acme Ltd the converted amount."),
            ],
        );
        // The rate is looked up for its own currencies; the payment is an action, not a
        // lookup, so its named payee does not make it independent.
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        assert!(deps(&p)[3].contains(&2));
        let inf = infer(&p);
        let why = inf.independent.iter().find(|x| x.task == 1).unwrap();
        assert!(why.reason.contains("USD"), "{}", why.reason);
        // A quoted value counts, and a lookup right after a group of siblings is not their
        // join; the step that names both quotes is.
        let p = plan(
            "Market brief",
            &[
                ("get_stock_quote", "Latest quote for AAPL."),
                ("get_stock_quote", "Latest quote for MSFT."),
                ("get_news", "Headlines mentioning 'the iPhone' today."),
                ("post_message", "Post both quotes and the headlines."),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], Vec::<usize>::new(), "{d:?}");
        assert!([0, 1, 2].iter().all(|t| d[3].contains(t)), "{d:?}");
        // Picking among results ("the top hit") is not a value of its own; an acronym is a
        // value even opening a sentence; "allowance" gathers nothing.
        let p = plan(
            "Plumber",
            &[
                ("search_businesses", "Emergency plumbers in Leeds."),
                (
                    "get_business_details",
                    "Phone number of Aire Plumbing, the top hit.",
                ),
                ("get_index_level", "AEX index, last close."),
                ("get_per_diem_rate", "Per-diem allowance for Boston."),
            ],
        );
        let d = deps(&p);
        assert!(d[1].contains(&0), "{d:?}");
        assert_eq!(d[2], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[3], Vec::<usize>::new(), "{d:?}");
        // A step picking among its own finds ("the top sites") stays a sibling.
        let p = plan(
            "Cities",
            &[
                ("Research Tokyo", "Find the top tourist sites in Tokyo."),
                ("Research Paris", "Find the top tourist sites in Paris."),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        // A lookup without a value of its own keeps the listed order.
        let p = plan(
            "Weather",
            &[
                ("search_city", "Find the city."),
                ("get_weather", "Get the weather there."),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0]]);
    }

    #[test]
    fn the_step_after_independent_lookups_gathers_them_unless_it_names_one() {
        // Two lookups in plain words on the same order read it side by side; in a
        // procedure, a step naming an earlier thing still follows the step before it.
        let p = plan(
            "Parcel complaint",
            &[
                ("Find the user's most recent order", ""),
                ("Look up the courier tracking status for that order", ""),
                ("Check whether the order is inside the refund window", ""),
                (
                    "Open a ticket with the tracking status and the refund window",
                    "",
                ),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], vec![0], "{d:?}");
        assert_eq!(d[3], vec![1, 2], "{d:?}");
        let p = plan(
            "Invoice",
            &[
                ("Find the old invoice", ""),
                ("Print the invoice", ""),
                ("Check the invoice total", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
        let p = plan(
            "Picnic",
            &[
                ("get_weather", "Forecast for Lyon on Saturday."),
                ("get_opening_hours", "Parc de la Tête d'Or."),
                ("create_event", "Invite the group for noon if it stays dry."),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[2], vec![0, 1], "{d:?}");
        let inf = infer(&p);
        assert!(
            inf.edges
                .iter()
                .any(|e| e.to == 2 && e.from == 0 && e.rule == Rule::Join),
            "{:?}",
            inf.edges
        );
        // Naming one of them ("those headlines") is using that one only.
        let p = plan(
            "Stock move",
            &[
                ("get_stock_quote", "Today's price change for NVDA."),
                ("get_news", "Headlines about NVDA from the last day."),
                ("summarize_text", "Summarise those headlines."),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        // Another lookup after them is a lookup, not what they were fetched for.
        let p = plan(
            "Trip",
            &[
                ("get_weather", "Forecast for Oslo."),
                ("get_weather", "Forecast for Bergen."),
                ("get_exchange_rate", "EUR to NOK."),
            ],
        );
        assert_eq!(deps(&p)[2], Vec::<usize>::new());
    }

    #[test]
    fn a_step_done_while_another_goes_on_runs_beside_it_and_the_next_rejoins_both() {
        let p = plan(
            "Jam",
            &[
                ("Macerate the strawberries with sugar", ""),
                ("Sterilise the jars", "Do this while the fruit macerates."),
                ("Put a saucer in the freezer", ""),
                ("Boil the fruit to setting point", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], Vec::<usize>::new(), "{d:?}");
        // The next step after the side branch needs both lines of work.
        assert_eq!(d[2], vec![0, 1], "{d:?}");
        let why = infer(&p).independent;
        assert!(
            why.iter()
                .any(|x| x.task == 1 && x.reason.contains("while the fruit")),
            "{why:?}"
        );
        // A state after a step is not a step going on.
        let p = plan(
            "Paint",
            &[
                ("Paint the wall", ""),
                ("Pull the tape while the paint is still soft", ""),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0]);
    }

    #[test]
    fn in_a_list_of_tips_it_means_the_topic() {
        let p = plan(
            "Tips for looking after a bike through winter",
            &[("Fit mudguards", ""), ("Store it indoors if you can", "")],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        // "Then" still orders.
        let p = plan(
            "Tips for a clean bike",
            &[("Rinse the frame", ""), ("Then dry it with a cloth", "")],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        // A thing another tip names ("the tap") is the topic too.
        let p = plan(
            "Ways to save water",
            &[
                ("Fix dripping taps", ""),
                ("Take shorter showers", ""),
                ("Turn off the tap while brushing your teeth", ""),
            ],
        );
        assert!(deps(&p).iter().all(Vec::is_empty), "{:?}", deps(&p));
        // Errands are a list too, however short their titles.
        let p = plan(
            "Sat errands",
            &[
                ("Post office - parcel", ""),
                ("Dry cleaning pickup", ""),
                ("Pay in cheque", ""),
                ("Lightbulbs x3", ""),
            ],
        );
        assert!(deps(&p).iter().all(Vec::is_empty), "{:?}", deps(&p));
        // A checklist stays one where two chores share a word ("thing").
        let p = plan(
            "Kitchen chores",
            &[
                ("Wipe the counters", ""),
                ("Empty the dishwasher first thing", ""),
                ("Clear out the fridge", ""),
                ("Put away one thing while the kettle boils", ""),
            ],
        );
        assert!(deps(&p).iter().all(Vec::is_empty), "{:?}", deps(&p));
    }

    #[test]
    fn calls_written_as_functions_read_their_arguments() {
        let p = plan(
            "Portfolio in euros",
            &[
                (
                    "get_portfolio(account_id=\"ACC-88\")",
                    "Holdings and share counts.",
                ),
                ("get_quotes(symbols=<holdings>)", "Latest price of each."),
                ("Compute the value in USD", "Multiply and sum."),
                (
                    "get_fx_rate(base=\"USD\", quote=\"EUR\")",
                    "Today's USD/EUR rate.",
                ),
                (
                    "Convert the total to EUR",
                    "Apply the rate to the USD total.",
                ),
                (
                    "send_email(subject=\"Value\")",
                    "Email the account owner the converted total.",
                ),
            ],
        );
        let d = deps(&p);
        // `<holdings>` names what fills it.
        assert_eq!(d[1], vec![0], "{d:?}");
        // A lookup given literal arguments starts a branch; its values are not references.
        assert_eq!(d[3], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[4], vec![2, 3], "{d:?}");
        // A parameter's name ("account_id") is not something the call made.
        assert_eq!(d[5], vec![4], "{d:?}");
        assert_eq!(call_of("get_x(a=1)"), Some(("get_x", "a=1")));
        assert_eq!(call_of("Buy milk (2 litres)"), None);
        let (text, values) = call_text("f(a=\"x\", b=<the list>, 7, c='y z')");
        assert_eq!(values, ["\"x\"", "7", "'y z'"]);
        assert!(text.contains("the the list"), "{text}");
        assert!(!text.contains("a=") && !text.contains('x'), "{text}");
        // Unclosed or odd arguments never panic.
        for t in [
            "f(\"",
            "f(\"é)",
            "f(<é)",
            "f(1é)",
            "f('é)",
            "f(<",
            "f(1",
            "é(x)",
            "f(a=é<ü>\"ß\")",
        ] {
            let _ = call_text(t);
        }
    }

    #[test]
    fn tool_steps_on_numbered_items_and_changed_results() {
        // A tool that changes a medium ("Image Colorization", "Image Super-Resolution
        // (4x)") gives the medium back: "the restored photo" is the latest one. A tool
        // that reads it ("Image Classification") makes something else.
        let p = plan(
            "Restore",
            &[
                ("Image-to-Image: remove scratches from old.jpg", ""),
                ("Image Colorization on the cleaned photo", ""),
                ("Image Super-Resolution (4x) on the colorized photo", ""),
                ("Image Classification on the sharp photo", ""),
                ("Image Captioning on the restored photo", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], vec![1], "{d:?}");
        assert_eq!(d[3], vec![2], "{d:?}");
        assert_eq!(d[4], vec![2], "{d:?}");
        // "The extracted text" is a result ("extracted" says how it was made), not
        // something new the way "the slide text" is.
        let p = plan(
            "Receipt",
            &[
                ("Image-to-Text", "Read the text off receipt.jpg."),
                (
                    "Token Classification",
                    "Pull the total out of the extracted text.",
                ),
                (
                    "Text Classification",
                    "Classify the extracted receipt text.",
                ),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], vec![0], "{d:?}");
        assert_eq!(d[2], vec![0], "{d:?}");
        // "One score per review" makes scores, not reviews: "the translated reviews" are
        // still the translation's.
        let p = plan(
            "Reviews",
            &[
                ("Translation: the French reviews into English", ""),
                (
                    "Sentiment Analysis on the translated reviews",
                    "One score per review.",
                ),
                ("Summarization of the translated reviews", ""),
            ],
        );
        assert_eq!(deps(&p)[2], vec![0], "{:?}", deps(&p));
        assert_eq!(
            super::medium_made("Video Editing"),
            Some("video".to_owned())
        );
        assert_eq!(
            super::medium_made("Audio Noise Reduction for a.wav"),
            Some("audio".to_owned())
        );
        assert_eq!(super::medium_made("Image Captioning"), None);
        assert_eq!(super::medium_made("Editing"), None);
        let p = plan(
            "Comic",
            &[
                ("Split the story into panel scripts", ""),
                (
                    "Text-to-Image for panel 1",
                    "Render panel 1 from its script.",
                ),
                (
                    "Text-to-Image for panel 2",
                    "Render panel 2 from its script.",
                ),
                ("Add speech bubbles", "Letter the four images."),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], vec![0], "{d:?}");
        assert_eq!(d[3], vec![1, 2], "{d:?}");
        // "The translated transcript" is the translation's output, not the transcript's.
        let p = plan(
            "Dub",
            &[
                ("Speech-to-Text", "Transcribe the interview."),
                ("Translation", "Translate the transcript into English."),
                ("Text-to-Speech", "Voice the English text."),
                (
                    "Subtitle Generation",
                    "Write an SRT file from the translated transcript.",
                ),
            ],
        );
        assert_eq!(deps(&p)[3], vec![1]);
        // So is "the Spanish caption": the one step that names "Spanish" worked on the
        // caption. A word many steps name ("each panel's dialogue") picks no one of them.
        let p = plan(
            "Spoken caption",
            &[
                ("Image-to-Text on photo.jpg", ""),
                ("Grammar correction of the caption", ""),
                ("Translate the corrected caption into Spanish", ""),
                ("Text-to-Speech: read the Spanish caption aloud", ""),
            ],
        );
        assert_eq!(deps(&p)[3], vec![2]);
        let p = plan(
            "Comic",
            &[
                (
                    "Split the story into panel scripts",
                    "Each has a line of dialogue.",
                ),
                (
                    "Text-to-Image for panel 1",
                    "Render panel 1 from its script.",
                ),
                (
                    "Text-to-Image for panel 2",
                    "Render panel 2 from its script.",
                ),
                ("Add speech bubbles", "Overlay each panel's dialogue."),
            ],
        );
        assert_eq!(deps(&p)[3], vec![0, 1, 2], "{:?}", deps(&p));
        // A tool named before what it runs on; its own name is not a later step's subject.
        let p = plan(
            "Checks",
            &[
                ("Image Captioning for hero.jpg", "Draft alt text."),
                (
                    "Speech-to-Text on intro.mp4",
                    "Create closed captions for the video.",
                ),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
    }

    #[test]
    fn steps_named_by_number_or_variable_are_named_exactly() {
        let p = plan(
            "Quarters",
            &[
                ("Load sales.csv", ""),
                ("Load costs.csv", ""),
                ("Chart costs", ""),
                (
                    "Answer",
                    "Which quarter sold most, according to the output of step 1?",
                ),
            ],
        );
        assert_eq!(deps(&p)[3], vec![0]);
        // A title's own "Step 2:" label names itself, not a dependency.
        let p = plan(
            "Labels",
            &[
                ("Step 1: gather figures", ""),
                ("Step 2: gather outcomes", ""),
            ],
        );
        assert_eq!(
            infer(&p)
                .edges
                .iter()
                .filter(|e| e.rule == Rule::Reference)
                .count(),
            0
        );
        // ReWOO's "#E1", LLMCompiler's "$1" in a call, TaskBench's "<node-0>", and ids.
        let p = plan(
            "Variables",
            &[
                ("search(\"Tokyo population\")", ""),
                ("search(\"Paris population\")", ""),
                ("Compare", "Which is larger, #E1 or the other?"),
                ("join($1, $2)", ""),
                ("Image-to-Text(<node-1>)", ""),
                (
                    "Summarise",
                    "Summarise $s4 and ${s5} briefly; it cost $5 and #42 is open.",
                ),
            ],
        );
        let d = deps(&p);
        assert!(d[2].contains(&0), "{d:?}");
        assert_eq!(d[3], vec![0, 1], "{d:?}");
        assert_eq!(d[4], vec![1], "{d:?}");
        assert_eq!(d[5], vec![3, 4], "{d:?}");
        // Never a later step, never a panic on odd text.
        let p = plan(
            "Odd",
            &[
                ("Use step 9 and $s2 then <node-7>", "é step é #Eé ${ <"),
                ("x", ""),
            ],
        );
        assert_eq!(deps(&p)[0], Vec::<usize>::new());
        // Linear in the text: a 1.4 MB title of references to later steps, of sigils and
        // of call arguments finishes at once (a quadratic scan would not finish).
        let odd = [
            "step 9 ".repeat(200_000),
            "<$#{".repeat(350_000),
            format!("f({})", "a=\"".repeat(350_000)),
        ];
        for title in &odd {
            let p = plan("Hostile", &[("x", ""), (title.as_str(), title.as_str())]);
            assert!(deps(&p)[1].iter().all(|&d| d == 0));
        }
    }

    #[test]
    fn meanwhile_next_week_and_model_tools_on_earlier_results() {
        // "Meanwhile" in a plain procedure needs nothing; the step after needs both lines.
        let p = plan(
            "Pancakes",
            &[
                ("Whisk the batter", ""),
                ("Rest the batter for five minutes", ""),
                ("Meanwhile, heat a lightly oiled griddle", ""),
                ("Cook the pancakes", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[3], vec![1, 2], "{d:?}");
        // "Next week" is a time, not "next".
        let p = plan(
            "Slots",
            &[
                (
                    "get_free_slots(user=\"ana\")",
                    "Ana's free blocks next week.",
                ),
                (
                    "get_free_slots(user=\"ben\")",
                    "Ben's free blocks next week.",
                ),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        // A model tool run on an earlier result takes that result, not the step before.
        let p = plan(
            "Podcast",
            &[
                (
                    "Automatic Speech Recognition on episode.mp3",
                    "A full transcript.",
                ),
                ("Use the Translation tool on the transcript", ""),
                ("Text-to-Speech from the Spanish translation", ""),
                ("Text Summarization of the transcript", "Short show notes."),
            ],
        );
        assert_eq!(deps(&p)[3], vec![0]);
    }

    #[test]
    fn two_tools_sharing_a_word_are_not_siblings_and_a_shared_file_is_not_a_subject() {
        let p = plan(
            "Receipt",
            &[
                (
                    "Optical Character Recognition on receipt.jpg",
                    "Extract the text.",
                ),
                (
                    "Token Classification on the extracted text",
                    "Tag vendor and total.",
                ),
                (
                    "Tabular Classification of the tagged fields",
                    "Pick a category.",
                ),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        let p = plan(
            "Dashcam",
            &[
                (
                    "Image Segmentation on dashcam_frame.jpg",
                    "Pedestrian masks.",
                ),
                ("Depth Estimation on dashcam_frame.jpg", "A depth map."),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
        // A tool makes something new: "the teaser" is still the summary's.
        let p = plan(
            "Teaser",
            &[
                ("Summarization", "Turn notes.txt into a 60-word teaser."),
                ("Text-to-Image", "Cover art for the episode title."),
                ("Text-to-Speech", "Narrate the teaser."),
            ],
        );
        assert_eq!(deps(&p)[2], vec![0]);
    }

    #[test]
    fn call_arguments_naming_results_and_functions_on_found_things() {
        let p = plan(
            "Irrigation",
            &[
                ("get_forecast(lat=52.37, lon=4.90)", ""),
                ("get_soil(zone=3)", ""),
                (
                    "estimate_minutes(rain=forecast.total_mm, soil=\"clay\")",
                    "",
                ),
                ("set_schedule(zone=3, minutes=minutes)", ""),
            ],
        );
        let d = deps(&p);
        // A variable argument names an earlier result; a parameter's name does not.
        assert!(d[2].contains(&0), "{d:?}");
        assert_eq!(d[3], vec![2], "{d:?}");
        let (text, _) = call_text("f(a=b.c_d, flag=True)");
        assert!(text.contains("the b c d") && !text.contains("flag") && !text.contains("True"));
        // "book_hotel" takes what "search_hotels" found; a second lookup of its own value
        // does not.
        let p = plan(
            "Trip",
            &[
                ("search_hotels", "Hotels in Lisbon."),
                ("search_flights", "Flights to Lisbon."),
                ("book_flight", "Book the cheapest one."),
                ("book_hotel", "Book the best-rated one."),
                ("search_hotels", "Hotels in Porto."),
            ],
        );
        let d = deps(&p);
        assert!(d[3].contains(&0), "{d:?}");
        assert_eq!(d[4], Vec::<usize>::new(), "{d:?}");
    }

    #[test]
    fn reviewed_edge_cases_of_the_new_rules() {
        // "them" still refers even in a "while" clause or after "meanwhile".
        let p = plan(
            "Rice",
            &[
                ("Cook the onions", ""),
                ("Boil the rice", ""),
                ("Fry them while the rice cooks", ""),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
        let p = plan(
            "Potatoes",
            &[
                ("Peel the potatoes", ""),
                ("Boil water", ""),
                ("Meanwhile, cut them into cubes", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&0), "{:?}", deps(&p));
        // "For a while" is a time, not a step going on.
        let p = plan(
            "Dough",
            &[
                ("Mix flour and water into a dough", ""),
                ("Knead for a while, the dough should turn smooth", ""),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        // A participle names a later step only if that step worked on the noun's maker.
        let p = plan(
            "Data",
            &[
                ("Download the census CSV", ""),
                ("Download the county shapefile", ""),
                ("Clean the downloaded CSV", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&0), "{:?}", deps(&p));
        // Numeric ids are not named by a price or an issue number.
        let mut p = plan(
            "Dinner",
            &[
                ("Pick a menu", ""),
                ("Shop", "Keep it under $1 a head; see issue #1."),
            ],
        );
        for (i, t) in p.tasks.iter_mut().enumerate() {
            t.id = (i + 1).to_string().into();
        }
        assert!(
            infer(&p).edges.iter().all(|e| e.rule != Rule::Reference),
            "{:?}",
            infer(&p).edges
        );
        // "End-to-end" is not a tool.
        let mut words = Words::new();
        assert_eq!(tool_name("Run end-to-end tests", &mut words), None);
        assert!(tool_name("Text-to-Image for panel 2", &mut words).is_some());
        // A title's leading "Step" label is found once, however much space precedes it.
        let title = format!("{}{}", " ".repeat(200_000), "step 9 ".repeat(200_000));
        let p = plan("Spaces", &[("x", ""), (title.as_str(), "")]);
        assert!(deps(&p)[1].iter().all(|&d| d == 0));
        // So is each template brace of a long run ("{{{{…"), not the whole run each time.
        let braces = "{{".repeat(100_000);
        let p = plan("Braces", &[("x", ""), (braces.as_str(), "")]);
        assert!(deps(&p)[1].iter().all(|&d| d == 0));
    }

    #[test]
    fn a_checklist_of_unrelated_chores_has_no_order_and_short_titles_keep_it() {
        let p = plan(
            "Sunday chores",
            &[
                ("water the plants", ""),
                ("change the bed sheets", ""),
                ("take out the recycling", ""),
                ("sort the post", ""),
            ],
        );
        assert_eq!(deps(&p), vec![Vec::<usize>::new(); 4]);
        let inf = infer(&p);
        assert!(inf.edges.is_empty(), "{:?}", inf.edges);
        assert!(inf.confidence < LOW_CONFIDENCE, "{}", inf.confidence);
        let why = inf.independent;
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].reason.contains("checklist"), "{why:?}");
        // A procedure titled as one goal stays in order, however little its steps say
        // about each other.
        let p = plan(
            "Clean windows without streaks",
            &[
                ("Fill a bucket with warm water", ""),
                ("Dip the scrubber and wet the whole pane", ""),
                ("Scrub the glass", ""),
                ("Wipe the edges with a cloth", ""),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1], vec![2]]);
        // One-word titles are a process, not a checklist.
        let p = plan(
            "Bookshelf",
            &[("Measure", ""), ("Cut", ""), ("Sand", ""), ("Oil", "")],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1], vec![2]]);
        // Three chores are too few to call it a checklist (where the title does not say
        // it is a list of errands).
        let p = plan(
            "Saturday",
            &[
                ("water the plants", ""),
                ("change the bed sheets", ""),
                ("take out the recycling", ""),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1]]);
        // One reference anywhere makes it a procedure.
        let p = plan(
            "Chores",
            &[
                ("water the plants", ""),
                ("change the bed sheets", ""),
                ("wash the sheets", ""),
                ("sort the post", ""),
            ],
        );
        assert!(deps(&p)[3].contains(&2), "{:?}", deps(&p));
    }

    #[test]
    fn readied_equipment_waits_for_nothing_and_baking_uses_the_oven() {
        let p = plan(
            "Cake",
            &[
                ("Preheat the oven to 180°C", ""),
                ("Grease a round tin", ""),
                ("Mix the flour and sugar", ""),
                ("Pour the batter into the tin", ""),
                ("Bake for 30 minutes", ""),
            ],
        );
        assert_eq!(
            deps(&p),
            vec![vec![], vec![], vec![], vec![1, 2], vec![0, 3]]
        );
        // Heating the oven in the middle runs beside the work, which goes on after it.
        let p = plan(
            "Bread",
            &[
                ("Shape the loaf", ""),
                ("Heat the oven", ""),
                ("Slash the top", ""),
                ("Bake the loaf", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], Vec::<usize>::new());
        assert_eq!(d[2], vec![0]);
        assert!(d[3].contains(&1) && d[3].contains(&2), "{d:?}");
        // A pan heated on the stove is cooking, not readying; greasing a chain is upkeep.
        let p = plan(
            "Stir-fry",
            &[("Slice the chicken", ""), ("Heat the wok", "")],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        let p = plan(
            "Bike chain",
            &[
                ("Clean the chain", ""),
                ("Dry the chain", ""),
                ("Grease the chain", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
        // Two readying steps in the middle: the work before both goes on after them.
        let p = plan(
            "Cake",
            &[
                ("Cream the butter and sugar", ""),
                ("Preheat the oven", ""),
                ("Grease a tin", ""),
                ("Beat in the eggs", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!((d[1].clone(), d[2].clone()), (vec![], vec![]), "{d:?}");
        assert_eq!(d[3], vec![0]);
        // The step after a readying step that names something still carries the work on.
        let p = plan(
            "Bread",
            &[
                ("Knead the dough", ""),
                ("Shape a loaf", ""),
                ("Heat the oven", ""),
                ("Brush the dough with egg", ""),
            ],
        );
        let d = deps(&p);
        assert!(d[3].contains(&0) && d[3].contains(&1), "{d:?}");
        // Right after a step that ran beside another, heating the oven waits in line, so the
        // line of work it ran beside is rejoined.
        let p = plan(
            "Dinner",
            &[
                ("Chop the onions", ""),
                ("Meanwhile, boil the kettle", ""),
                ("Preheat the oven", ""),
                ("Fry the onions", ""),
            ],
        );
        let d = deps(&p);
        assert!(
            d[2].contains(&0) || d[3].contains(&0),
            "the chopped onions are lost: {d:?}"
        );
    }

    #[test]
    fn placeholders_naming_their_source_and_calls_changing_what_a_change_made() {
        let p = plan(
            "Fix a typo",
            &[
                ("create_branch(name=\"fix-typo\")", ""),
                ("get_file(path=\"README.md\")", ""),
                (
                    "update_file(content=<corrected text of s2>, branch=\"fix-typo\")",
                    "",
                ),
                ("create_pull_request(head=\"fix-typo\", title=\"Typo\")", ""),
                (
                    "request_reviewers(pr=<number from s4>, reviewers=[\"ana\"])",
                    "",
                ),
                ("add_labels(issue=<number from s4>, labels=[\"docs\"])", ""),
                ("close_issue(issue=<id from create_branch>)", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], Vec::<usize>::new(), "{d:?}");
        assert!(d[2].contains(&1), "{d:?}");
        // Only its own values, one of them the branch the update wrote to.
        assert_eq!(d[3], vec![2]);
        assert_eq!(d[4], vec![3]);
        assert_eq!(d[5], vec![3]);
        assert_eq!(d[6], vec![0]);
        // A placeholder naming several sources needs them all; "the artist search" is the
        // latest `….search` call.
        let p = plan(
            "Scores and tracks",
            &[
                ("get_scores(league=\"NBA\")", ""),
                ("get_scores(league=\"NHL\")", ""),
                ("email.send(body=<results of s1 and s2 as one table>)", ""),
                ("music.search(q=\"Radiohead\", type=\"artist\")", ""),
                ("music.create_playlist(name=\"Mix\")", ""),
                (
                    "music.get_top_tracks(artist_id=<id from the artist search>)",
                    "",
                ),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], vec![0, 1], "{d:?}");
        assert!(d[5].contains(&3), "{d:?}");
        // A source with a field (`s1.output`) is that task; the source ends at a
        // preposition, so "send" in "the user to send to" names no `….send` call.
        let p = plan(
            "Fields",
            &[
                ("fetch_page(url=\"https://a.example\")", ""),
                ("get_weather(city=\"Oslo\")", ""),
                ("post(body=<title from s1.output>)", ""),
                ("users.get(id=7)", ""),
                ("slack.send(channel=\"ops\", text=\"deploying\")", ""),
                ("mail.compose(to=<address of the user to send to>)", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], vec![0], "{d:?}");
        assert!(!d[5].contains(&4) || d[5].contains(&3), "{d:?}");
        // However many sources a step names, it keeps at most eight.
        let mut steps: Vec<(String, &str)> =
            (1..=20).map(|i| (format!("get_item(n={i})"), "")).collect();
        steps.push((
            "merge($s1 $s2 $s3 $s4 $s5 $s6 $s7 <r of s8, s9, s10, s11, s12, s13>)".to_owned(),
            "",
        ));
        let steps: Vec<(&str, &str)> = steps.iter().map(|(t, d)| (t.as_str(), *d)).collect();
        let many = plan("Many", &steps);
        let named = numbered_refs(steps[20].0, "", true, 20, &mut None, &many);
        assert_eq!(named.len(), 8, "{named:?}");
        // A number after "from" names nothing (a step is named by number only as "step 1"
        // or in a call's `$1`), so neither does an unknown name; a placeholder naming its
        // source needs nothing else.
        let mut p = plan(
            "Numbers",
            &[
                ("create_list(name=\"shopping\")", ""),
                ("get_weather(city=\"Oslo\")", ""),
                ("add_item(item=<one from 1>, size=\"large\")", ""),
                ("add_item(item=<one from nowhere>, size=\"small\")", ""),
                ("open_ticket(title=\"Bug\")", ""),
                ("post_message(channel=\"dev\", text=\"Heads up\")", ""),
                ("escalate(ticket=<number from s5>)", ""),
            ],
        );
        for (i, t) in p.tasks.iter_mut().enumerate() {
            t.id = TaskId::new((i + 1).to_string());
        }
        let d = deps(&p);
        assert!(!d[2].contains(&0), "{d:?}");
        p.tasks[4].id = TaskId::new("s5");
        let d = deps(&p);
        assert_eq!(d[6], vec![4], "{d:?}");
        // An argument read from a field of an earlier step's result names that step, in
        // any notation, but not inside a quoted value and not where no step has that id.
        let mut p = plan(
            "Fields by id",
            &[
                ("contacts.search(query=\"Dana\")", ""),
                ("weather.now(city=\"Oslo\")", ""),
                ("contacts.get(id=find.results[0].id)", ""),
                ("messages.send(to=get.mobile, text=\"late\")", ""),
                ("notes.add(text=\"ask get.mobile\", tag=geo.lat)", ""),
                ("calendar.add(when={{ weather.day }}, who=[get.name])", ""),
            ],
        );
        for (t, id) in p
            .tasks
            .iter_mut()
            .zip(["find", "weather", "get", "send", "note", "cal"])
        {
            t.id = TaskId::new(id);
        }
        let d = deps(&p);
        assert_eq!(d[2], vec![0], "{d:?}");
        assert_eq!(d[3], vec![2], "{d:?}");
        assert!(!d[4].contains(&2), "{d:?}");
        assert!(d[5].contains(&1) && d[5].contains(&2), "{d:?}");
        // Steps named by their place (`<result_2>`, `{{step1.x}}`, `$prev`), a placeholder
        // naming a value an earlier call was given (`<from outdoor_temp>`), and dotted
        // lookups (`home.get_presence()`, read beside the lookup before it).
        let p = plan(
            "Places",
            &[
                ("home.get_sensor(\"outdoor_temp\")", ""),
                ("home.get_presence()", ""),
                (
                    "home.set_thermostat(target=<from outdoor_temp>, away=<result_2>.away)",
                    "",
                ),
                ("weather.today(city=\"Oslo\")", ""),
                ("notes.add(text={{ step1.value }})", ""),
                ("notes.pin(id=$prev.id)", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[2], vec![0, 1], "{d:?}");
        assert_eq!(d[4], vec![0], "{d:?}");
        assert_eq!(d[5], vec![4], "{d:?}");
        assert_eq!(super::step_numbered("result_12", 20), Some(11));
        assert_eq!(super::step_numbered("Step3", 20), Some(2));
        assert_eq!(super::step_numbered("prev", 0), None);
        assert_eq!(super::step_numbered("results", 5), None);
        assert_eq!(super::step_numbered("result_0", 5), None);
        // A lookup given a placeholder takes it from earlier, even where its words name
        // nothing: not a fresh lookup, and not a step that starts from its own input.
        let p = plan(
            "Pharmacy",
            &[
                ("get_current_location()", ""),
                ("places.search_nearby(lat=<lat>, type=\"pharmacy\")", ""),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0], "{:?}", deps(&p));
    }

    #[test]
    fn rest_lines_json_bodies_and_nodes_counted_from_one() {
        // A JSON body holds values, not a placeholder; `$3` in a request line is step 3;
        // a GET of its own after a GET reads beside it.
        let mut p = plan(
            "Playlist",
            &[
                ("GET /v1/search?q=Mac&type=artist", ""),
                ("GET /v1/artists/{$1.items[0].id}/top-tracks", ""),
                (
                    "POST /v1/me/playlists  {\"name\": \"Mac\", \"public\": false}",
                    "",
                ),
                (
                    "POST /v1/playlists/{$3.id}/tracks  {\"uris\": $2.tracks}",
                    "",
                ),
                ("GET /users/me/addresses?default=true", ""),
                ("GET /carts/current", ""),
            ],
        );
        for (i, t) in p.tasks.iter_mut().enumerate() {
            t.id = TaskId::new((i + 1).to_string());
        }
        let d = deps(&p);
        assert_eq!(d[2], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[3], vec![1, 2], "{d:?}");
        assert_eq!(d[5], Vec::<usize>::new(), "{d:?}");
        // `<node-N>` counts from 1 where a step names its own place or a later one (and
        // no `<node-0>` appears), from 0 otherwise.
        let dog = |second: &str, third: &str| {
            let steps = [
                ("Image Classification: image: dog.jpg", ""),
                (second, ""),
                (third, ""),
            ];
            plan("Dog", &steps)
        };
        let from_one = dog(
            "Text Generation: text: 'a fact about the <node-1> breed'",
            "Text-to-Image: text: 'a cartoon of a <node-1>'",
        );
        assert_eq!(deps(&from_one)[2], vec![0], "{:?}", deps(&from_one));
        let from_zero = dog(
            "Text Generation: text: 'a fact about the <node-0> breed'",
            "Text-to-Speech: text: <node-1>",
        );
        assert_eq!(deps(&from_zero)[2], vec![1], "{:?}", deps(&from_zero));
        // "Above 27 C" compares; a noun-named call (`weather.forecast`) is a lookup, so
        // the choice after two lookups takes both. An "Image-to-Video" makes no image.
        let p = plan(
            "Hotel",
            &[
                ("weather.forecast(city=\"Lisbon\", days=4)", ""),
                ("hotels.search(city=\"Lisbon\", guests=2)", ""),
                ("Choose one: if highs are above 27 C prefer a pool", ""),
            ],
        );
        assert_eq!(deps(&p)[2], vec![0, 1], "{:?}", deps(&p));
        let p = plan(
            "Street",
            &[
                ("Image Inpainting", "Erase the people from street.jpg."),
                ("Image-to-Video", "Animate the empty street image."),
                ("Image Captioning", "Caption the inpainted image."),
            ],
        );
        assert!(!deps(&p)[2].contains(&1), "{:?}", deps(&p));
        // A call named by a noun reads (`fx.rate`); a call whose verb changes something
        // (`bookings.issue_ticket` after `payments.charge`) does not.
        let p = plan(
            "Portfolio",
            &[
                ("finance.quote(symbol=\"AAPL\")", ""),
                ("finance.quote(symbol=\"MSFT\")", ""),
                ("fx.rate(base=\"USD\", quote=\"EUR\")", ""),
                ("payments.charge(booking_id=\"B-1\", amount=40)", ""),
                ("bookings.issue_ticket(booking_id=\"B-1\")", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[2], Vec::<usize>::new(), "{d:?}");
        assert_eq!(d[4], vec![3], "{d:?}");
        // `<1>` and `{{2.slots[0].id}}` (even inside a quoted JSON value) name tasks.
        let mut p = plan(
            "Viewing",
            &[
                ("text-to-image: prompt = \"a lighthouse\"", ""),
                ("GET /weather?city=Oslo", ""),
                ("image-to-video: image = <1>, motion = \"waves\"", ""),
                (
                    "POST /v2/viewings  {\"slot_id\": \"{{2.slots[0].id}}\"}",
                    "",
                ),
            ],
        );
        for (i, t) in p.tasks.iter_mut().enumerate() {
            t.id = TaskId::new((i + 1).to_string());
        }
        let d = deps(&p);
        assert_eq!(d[2], vec![0], "{d:?}");
        assert_eq!(d[3], vec![1], "{d:?}");
        // "Use X to …" takes X as its verb: two different models are not siblings, and
        // two steps with the same verb share no subject by it.
        let p = plan(
            "Restyle",
            &[
                ("Use a depth estimation model on room.jpg", ""),
                (
                    "Use a depth-conditioned text-to-image model on that depth map",
                    "",
                ),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0], "{:?}", deps(&p));
        let p = plan(
            "Lecture",
            &[
                ("Extract a keyframe every 10 seconds from lecture.mp4", ""),
                ("Extract the audio track from lecture.mp4", ""),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new(), "{:?}", deps(&p));
    }

    #[test]
    fn tool_steps_written_as_benchmarks_write_them() {
        // Hyphenated model tasks are tools, not siblings by "image"; after its "Step 3:"
        // label a title still names its tool; an edit after an edit changes the edited
        // image, whatever in it the step names.
        let p = plan(
            "Beach",
            &[
                ("image-segmentation", "find the person in beach.png"),
                ("image-inpainting", "fill in the masked area"),
                ("image-to-image", "sunset lighting"),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1]]);
        let p = plan(
            "Cat",
            &[
                ("Step 1: Text-to-Image", "a cat on a sofa next to a lamp"),
                ("Step 2: Image Editing", "make it a watercolor"),
                ("Step 3: Image Inpainting", "remove the lamp"),
                ("Step 4: Image Captioning", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], vec![0], "{d:?}");
        assert!(d[2].contains(&1), "{d:?}");
        assert_eq!(d[3], vec![2], "{d:?}");
        assert_eq!(super::strip_step_label("Step 12: OCR"), "OCR");
        assert_eq!(super::strip_step_label("Steps to take"), "Steps to take");
        // A tool taking text does not take the video made before it; a merger gathers.
        let p = plan(
            "Rocket",
            &[
                ("Text-to-Video", ""),
                ("Text-to-Speech", ""),
                ("Video Merger", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], Vec::<usize>::new(), "{d:?}");
        assert!(d[2].contains(&0) && d[2].contains(&1), "{d:?}");
        // Argument names in a description (`image: "kitchen.jpg"`) name parameters.
        let p = plan(
            "Kitchen",
            &[
                ("Image Classification", "image: \"kitchen.jpg\""),
                ("Object Detection", "image: \"kitchen.jpg\", threshold: 0.5"),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new(), "{:?}", deps(&p));
        assert_eq!(
            super::without_argument_names("image: <node-0>, question: how many?"),
            "  <node-0>,  how many?"
        );
        assert_eq!(
            super::without_argument_names("Note: keep it short"),
            "  keep it short"
        );
    }

    #[test]
    fn files_written_earlier_bare_ids_and_dollar_fields() {
        // "to churned.csv" is written, not read; an address is no file; a file an earlier
        // step wrote is that step's result.
        let p = plan(
            "Churn",
            &[
                ("Run the churn query", ""),
                ("Export the rows to churned.csv", ""),
                ("Upload churned.csv to Google Drive", ""),
                ("Share the file link with marketing@acme.com", ""),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1], vec![2]]);
        let p = plan(
            "Report",
            &[
                ("s3.put_object", "Bucket 'reports', key 'q3/summary.pdf'."),
                (
                    "s3.generate_presigned_url",
                    "GET link for reports/q3/summary.pdf.",
                ),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0], "{:?}", deps(&p));
        // A tool that reads a file (`scene_detect`) does not write it for the next one.
        let p = plan(
            "Vlog",
            &[
                ("scene_detect", "Split vlog.mp4 into scenes."),
                ("speech_to_text", "Transcribe the audio of vlog.mp4."),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new(), "{:?}", deps(&p));
        // A bare earlier id as an argument, and `$1.offers` in a JSON title, name steps.
        let mut p = plan(
            "One to one",
            &[
                ("calendar.get_free_busy(user='alice')", ""),
                ("calendar.get_free_busy(user='bob')", ""),
                ("scheduler.find_common_slot(alice, bob, duration=30)", ""),
                ("price_offer {\"offer_id\": \"$1.offers[0].id\"}", ""),
            ],
        );
        for (t, id) in p.tasks.iter_mut().zip(["alice", "bob", "slot", "offer"]) {
            t.id = TaskId::new(id);
        }
        let d = deps(&p);
        assert_eq!(d[2], vec![0, 1], "{d:?}");
        assert!(d[3].contains(&0), "{d:?}");
    }

    #[test]
    fn tool_names_in_sentence_case_use_json_keys_and_picks() {
        // "Use X to …" names X, not "use": three such steps are no siblings.
        let p = plan(
            "Receipt",
            &[
                ("Use an OCR model to read the text from receipt.png", ""),
                ("Use a question-answering model on the extracted text", ""),
                (
                    "Use the currency converter tool to express that total in dollars",
                    "",
                ),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1]]);
        // Model tasks in sentence case are tools ("Text-to-image", "Video generation"),
        // so they are not siblings by their first word.
        let p = plan(
            "Story video",
            &[
                ("Text generation", "Write a bedtime story about an owl."),
                ("Text-to-image", "Illustrate the story's opening scene."),
                ("Text-to-speech", "Read the story aloud."),
                (
                    "Video generation",
                    "Combine the illustration and the narration.",
                ),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[1], vec![0], "{d:?}");
        assert_eq!(d[2], vec![0], "{d:?}");
        assert!(d[3].contains(&1) && d[3].contains(&2), "{d:?}");
        // A JSON key names a parameter: two tools given the same file share no subject.
        let p = plan(
            "Street",
            &[
                ("Image Captioning", "{\"image\": \"street.jpg\"}"),
                ("Object Detection", "{\"image\": \"street.jpg\"}"),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new(), "{:?}", deps(&p));
        assert_eq!(
            super::without_json_keys("{\"text\": \"a: b\", \"n\" : 2}"),
            "{ : \"a: b\",   : 2}"
        );
        // Picking the best is picking among what the step before returned, and a change
        // after a read of the same thing acts on what the read found.
        let p = plan(
            "Hub",
            &[
                ("shop.search(query=\"usb-c hub\")", "Returns product ids."),
                ("shop.get_reviews(ids=<ids from s1>)", ""),
                (
                    "cart.add(product_id=<best>)",
                    "Pick the product with the best score.",
                ),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
        let mut p = plan(
            "Leave",
            &[
                ("hr.get_employee(email=\"t@corp.example\")", ""),
                ("leave.get_balance(employee_id=emp.employee_id)", ""),
                ("leave.submit_request(employee_id=emp.employee_id)", ""),
            ],
        );
        p.tasks[0].id = TaskId::new("emp");
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
    }

    #[test]
    fn procedures_keep_their_order_unless_something_runs_beside() {
        // Acting on the same things in turn is a sequence, not two readers of one input.
        let p = plan(
            "Wash a sweater",
            &[
                ("Fill the basin with cool water", ""),
                ("Soak the sweater in the basin", ""),
                ("Drain the basin", ""),
                ("Press the water out of the sweater", ""),
            ],
        );
        let follows = |p: &Plan| (1..p.len()).all(|j| deps(p)[j].contains(&(j - 1)));
        assert!(follows(&p), "{:?}", deps(&p));
        // "It" after a noun of its own step is that noun, not the previous result.
        let p = plan(
            "Ways to save water",
            &[
                ("Fix dripping taps", ""),
                ("Run the dishwasher only when it is full", ""),
            ],
        );
        assert_eq!(deps(&p), vec![Vec::<usize>::new(); 2]);
        // "It" after a preposition is the previous result even after a noun of its own;
        // only as the subject of a "when"/"until" clause is it that noun.
        let p = plan(
            "Roux",
            &[
                ("Stir the butter in the pan", ""),
                ("Stir the flour into it", ""),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        // "Let …" waits after the step before, however the steps before were grouped.
        let p = plan(
            "Glue a stool",
            &[
                ("Glue the legs", ""),
                ("Glue the top", ""),
                ("Let the glue dry", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
        // A subject pronoun is not the verb: "She drives", "She parks" are not siblings.
        let p = plan(
            "Return the car",
            &[
                ("She drives to the return lot", ""),
                ("She parks in a marked bay", ""),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        // One word is a tool only as a process noun: "Reading" is a plain step.
        let p = plan(
            "Book club",
            &[("Buy the book", ""), ("Reading", "Read chapter 3 of Dune.")],
        );
        assert_eq!(deps(&p)[1], vec![0]);
        // Waiting is waiting after something, even after another wait.
        let p = plan(
            "Restart the router",
            &[
                ("Unplug the router", ""),
                ("Wait 30 seconds", ""),
                ("Plug it back in", ""),
                ("Wait until the lights are steady", ""),
            ],
        );
        assert!(follows(&p), "{:?}", deps(&p));
        // Done ahead of time: beside the step before, not after it.
        let p = plan(
            "Vet visit",
            &[
                ("Book an appointment", ""),
                ("Find the vaccination card", ""),
                ("Leave the carrier out the night before", ""),
                ("Drive to the clinic", ""),
            ],
        );
        assert_eq!(deps(&p)[2], Vec::<usize>::new());
        let inf = infer(&p);
        let why = inf.independent.iter().find(|x| x.task == 2).unwrap();
        assert!(why.reason.contains("the night before"), "{}", why.reason);
        // Preheating runs beside the preparation; getting two things are siblings.
        let p = plan(
            "Roast",
            &[
                ("Book the butcher", ""),
                ("Preheat the oven", ""),
                ("Season the chicken", ""),
                ("Put the chicken in the oven", ""),
            ],
        );
        let d = deps(&p);
        assert!(!d[2].contains(&1) && d[2].contains(&0), "{d:?}");
        assert!(d[3].contains(&1) && d[3].contains(&2), "{d:?}");
        let p = plan(
            "Weekend away",
            &[
                ("Book the flights", ""),
                ("Reserve a room near the station", ""),
                ("Pack a bag", ""),
            ],
        );
        assert_eq!(deps(&p)[1], Vec::<usize>::new());
    }

    #[test]
    fn path_placeholders_come_from_the_step_that_names_them() {
        let p = plan(
            "Films by Inception's director",
            &[
                ("GET /search/movie", "Search for Inception."),
                ("GET /movie/{id}", "Get its details."),
                ("GET /movie/{id}/credits", "Get its cast and crew."),
                (
                    "GET /person/{id}/movie_credits",
                    "List the director's films.",
                ),
            ],
        );
        let d = deps(&p);
        // "movie/{id}" is filled by the search, which mentions "movie".
        assert!(d[1].contains(&0), "{d:?}");
        // The same "movie/{id}" again: the caller already had it, so it runs beside.
        assert!(d[2].contains(&0) && !d[2].contains(&1), "{d:?}");
        // "person/{id}" is new and nothing names a person: the step before fills it.
        assert!(d[3].contains(&2), "{d:?}");
        let inf = infer(&p);
        let why = inf.independent.iter().find(|x| x.task == 2).unwrap();
        assert!(why.reason.contains("movie/{id}"), "{}", why.reason);
        // A write to the resource a read just fetched waits for the read.
        let p = plan(
            "Reply to an issue",
            &[
                ("GET /repos/{owner}/{repo}/issues", "Newest open issue."),
                (
                    "GET /repos/{owner}/{repo}/issues/{number}",
                    "Read it in full.",
                ),
                (
                    "POST /repos/{owner}/{repo}/issues/{number}/comments",
                    "Thank the author.",
                ),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
    }

    #[test]
    fn no_evidence_keeps_the_listed_order() {
        let p = plan("Chores", &[("Alpha", ""), ("Beta", ""), ("Gamma", "")]);
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1]]);
        assert!(infer(&p).confidence < LOW_CONFIDENCE);
    }

    #[test]
    fn a_reference_links_to_the_step_that_made_it() {
        let p = plan(
            "Podcast",
            &[
                ("Speech-to-Text", "Transcribe episode.mp3."),
                ("Summarization", "Summarise the transcript."),
                (
                    "Keyword Extraction",
                    "Extract keywords from the transcript.",
                ),
                (
                    "Text Generation",
                    "Write a post from the summary and the keywords.",
                ),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![0], vec![1, 2]]);
        let inf = infer(&p);
        let e = inf.edges.iter().find(|e| e.to == 2).unwrap();
        assert_eq!(
            (e.rule, e.words.as_str()),
            (Rule::Reference, "the transcript")
        );
        assert!(inf.independent.iter().any(|x| x.task == 2));
    }

    #[test]
    fn siblings_share_inputs_and_a_join_gathers_them() {
        let p = plan(
            "Weather",
            &[
                ("get_weather", "Current weather for Rome."),
                ("get_weather", "Current weather for Madrid."),
                ("compose_answer", "Which city is warmer?"),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![], vec![0, 1]]);
    }

    #[test]
    fn several_reviewers_of_one_draft_run_side_by_side() {
        let p = plan(
            "Article",
            &[
                ("Write the draft", ""),
                ("Review the draft for tone", ""),
                ("Review the draft for accuracy", ""),
                ("Review the draft for legal issues", ""),
                ("Revise the draft", "Apply the review comments."),
            ],
        );
        // The revision joins the reviews (the draft itself is implied through them and
        // removed by the transitive reduction).
        assert_eq!(
            deps(&p),
            vec![vec![], vec![0], vec![0], vec![0], vec![0, 1, 2, 3]]
        );
    }

    #[test]
    fn participles_and_demonstratives_find_their_maker() {
        let p = plan(
            "Clip",
            &[
                (
                    "Edit the video",
                    "Cut the raw footage.vid into a one-minute video.",
                ),
                ("Write a list of hashtags", ""),
                ("Upload the edited video", "Use this list as tags."),
            ],
        );
        let inf = infer(&p);
        assert_eq!(inf.deps.deps_of(2), &[0, 1]);
        let words: Vec<&str> = inf
            .edges
            .iter()
            .filter(|e| e.to == 2)
            .map(|e| e.words.as_str())
            .collect();
        assert_eq!(words, ["the edited video", "this list"]);
    }

    #[test]
    fn numbered_parts_stay_in_order() {
        let p = plan(
            "Story",
            &[
                ("Write act one", ""),
                ("Write act two", ""),
                ("Write act three", ""),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![1]]);
    }

    #[test]
    fn siblings_after_a_huge_join_follow_the_listed_order_instead_of_copying_it() {
        let mut steps: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("Research city{i}"), String::new()))
            .collect();
        steps.extend((0..1000).map(|i| (format!("Summarise region{i}"), String::new())));
        let refs: Vec<(&str, &str)> = steps
            .iter()
            .map(|(t, d)| (t.as_str(), d.as_str()))
            .collect();
        let inf = infer(&plan("Cities", &refs));
        assert_eq!(
            inf.deps.deps_of(1000).len(),
            1000,
            "the first after the group joins it"
        );
        assert_eq!(inf.deps.deps_of(1001), &[1000]);
        assert!(inf.deps.edge_count() < 3000, "{}", inf.deps.edge_count());
    }

    #[test]
    fn steps_that_each_derive_something_from_one_transcript_read_it_side_by_side() {
        let p = plan(
            "Meeting",
            &[
                ("Transcribe meeting.mp3 with a speech-to-text model", ""),
                ("Summarise the transcript into five bullet points", ""),
                ("Run sentiment analysis on the transcript", ""),
                ("Extract the action items from the transcript", ""),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![0], vec![0]]);
        // What the step before made, or changed, is waited for.
        let p = plan(
            "Shelf",
            &[
                ("Take a photo of the shelf", ""),
                ("Crop the photo to the top shelf", ""),
                ("Describe the photo in one sentence", ""),
                ("Translate the description into French", ""),
            ],
        );
        let d = deps(&p);
        assert!(d[2].contains(&1), "{d:?}");
        assert!(d[3].contains(&2), "{d:?}");
    }

    #[test]
    fn calls_given_the_same_unnamed_inputs_take_them_from_the_same_step() {
        let p = plan(
            "Around an address",
            &[
                ("geocode(address=\"Rua Augusta 100, Lisbon\")", ""),
                ("search_hotels(lat=<lat>, lng=<lng>, radius_km=1)", ""),
                (
                    "search_restaurants(lat=<lat>, lng=<lng>, cuisine=\"seafood\")",
                    "",
                ),
                ("get_transit_stops(lat=<lat>, lng=<lng>)", ""),
            ],
        );
        assert_eq!(deps(&p), vec![vec![], vec![0], vec![0], vec![0]]);
        // A call that changes something with them waits for the call before it.
        let p = plan(
            "Book near an address",
            &[
                ("geocode(address=\"Rua Augusta 100, Lisbon\")", ""),
                ("search_hotels(lat=<lat>, lng=<lng>)", ""),
                ("create_booking(lat=<lat>, lng=<lng>)", ""),
            ],
        );
        assert!(deps(&p)[2].contains(&1), "{:?}", deps(&p));
        // Nor does a read of what the call before changed.
        let p = plan(
            "Change an e-mail address",
            &[
                ("get_session()", ""),
                ("update_email(user_id=<user_id>, email=\"a@b.c\")", ""),
                ("get_user(user_id=<user_id>)", ""),
            ],
        );
        assert_eq!(deps(&p)[2], vec![1]);
    }

    #[test]
    fn json_tool_steps_counting_their_dollar_references_from_zero() {
        // The steps' own ids count from 0 (`$0.output` is the first step), whatever the
        // tasks' ids are; the shared "output" and numbers are no subjects.
        let p = plan(
            "Support call",
            &[
                (
                    r#"{"id": 0, "tool": "Automatic Speech Recognition", "input": {"audio": "call.wav"}}"#,
                    "",
                ),
                (
                    r#"{"id": 1, "tool": "Sentiment Analysis", "input": {"text": "$0.output"}}"#,
                    "",
                ),
                (
                    r#"{"id": 2, "tool": "Named Entity Recognition", "input": {"text": "$0.output"}}"#,
                    "",
                ),
                (
                    r#"{"id": 3, "tool": "Summarization", "input": {"text": "$0.output"}}"#,
                    "",
                ),
                (
                    r#"{"id": 4, "tool": "Text Generation", "input": {"prompt": "A ticket from $3.output, $1.output and $2.output"}}"#,
                    "",
                ),
            ],
        );
        assert_eq!(
            deps(&p),
            vec![vec![], vec![0], vec![0], vec![0], vec![1, 2, 3]]
        );
        assert_eq!(
            super::json_tool(r#"{"task": "image-to-text", "args": {"image": "a.jpg"}}"#),
            Some("image-to-text")
        );
        assert_eq!(super::json_tool(r#"{"city": "Oslo"}"#), None);
        assert_eq!(super::json_tool(r#"{"tool": "#), None);
    }

    #[test]
    fn request_lines_with_their_own_query_and_fields_of_numbered_steps() {
        let p = plan(
            "Spending in USD",
            &[
                ("GET /accounts?customer_id=8812", ""),
                (
                    "GET /accounts/{step1.output.accounts[0].id}/transactions",
                    "",
                ),
                (
                    "Group the transactions by category and total each group",
                    "",
                ),
                ("GET /fx/rates?base=EUR&symbols=USD", ""),
                (
                    "Convert the category totals to USD using the rate from step 4",
                    "",
                ),
                (r#"POST /reports with body {"totals": step5.output}"#, ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(
            d[3],
            Vec::<usize>::new(),
            "a lookup of its own values: {d:?}"
        );
        assert_eq!(d[5], vec![4], "{d:?}");
        assert_eq!(
            super::query_values("GET /fx?base=EUR&to={cur}&n=3"),
            ["EUR", "3"]
        );
        assert!(super::query_values("GET /fx/rates").is_empty());
        // A file or a path part named "step2" is not step 2.
        let p = plan(
            "Fence",
            &[
                ("Install the toolkit", ""),
                ("Configure the toolkit", ""),
                ("Buy paint", ""),
                ("Paint the fence", ""),
                ("Open the guide at docs/step2.html and follow it", ""),
                ("Print step3.png and README_step1.txt", ""),
            ],
        );
        let d = deps(&p);
        assert_eq!(d[4], vec![3], "{d:?}");
        assert!(!d[5].contains(&2) && !d[5].contains(&0), "{d:?}");
    }

    #[test]
    fn the_three_results_of_three_steps_in_a_row_are_all_three() {
        let p = plan(
            "Captions",
            &[
                ("Caption product_photo.png", ""),
                ("Translate the caption from step 1 into French", ""),
                ("Translate the caption from step 1 into German", ""),
                ("Translate the caption from step 1 into Japanese", ""),
                ("Write the three translations to captions.json", ""),
            ],
        );
        assert_eq!(deps(&p)[4], vec![1, 2, 3]);
        // Not more steps than ran in a row, and not a count of something else.
        let p = plan(
            "Shelf",
            &[
                ("Measure the wall", ""),
                ("Cut the board into three pieces", ""),
            ],
        );
        assert_eq!(deps(&p)[1], vec![0]);
    }

    #[test]
    fn a_large_plan_read_on_a_second_thread_is_linked_as_when_read_inline() {
        let kinds = [
            "Research EV sales in Germany",
            "Research EV sales in France",
            "Compare the sales figures of both countries",
            "Write the market report",
            "get_weather(city=\"Oslo\")",
            "search_hotels(lat=<lat>, lng=<lng>)",
            "Transcribe meeting.mp3 with a speech-to-text model",
            "Summarise the transcript into five bullet points",
            "Translate the summary into French",
            "Text-to-Image: a fox in the snow",
            "Image-to-Video: animate the generated image",
            "Preheat the oven to 180C",
            "Whisk the eggs and sugar",
            "Bake the cake for 30 minutes",
            "Review the draft",
            "Then publish it",
            "{\"id\": 3, \"tool\": \"Summarization\", \"input\": {\"text\": \"$0.output\"}}",
            "Combine <node-2> and <node-3>",
        ];
        let n = PIPELINE_MIN_TASKS + 700;
        let titles: Vec<String> = (0..n)
            .map(|i| format!("{} {}", kinds[i % kinds.len()], i / 97))
            .collect();
        let steps: Vec<(&str, &str)> = titles.iter().map(|t| (t.as_str(), "")).collect();
        let p = plan("Many", &steps);
        let piped = infer(&p);
        let (mut words, mut names) = (Words::new(), None);
        let inline = infer_from(
            &p,
            (0..p.len()).map(|j| read_step(&mut words, &mut names, &p, j)),
        );
        assert!(piped.deps.edge_count() > n / 2);
        assert_eq!(piped.deps, inline.deps);
        assert_eq!(piped.edges.len(), inline.edges.len());
        assert!(
            piped
                .edges
                .iter()
                .zip(&inline.edges)
                .all(|(a, b)| a.from == b.from
                    && a.to == b.to
                    && a.rule == b.rule
                    && a.words == b.words)
        );
    }

    #[test]
    fn a_reference_goes_to_whoever_carried_the_work_on() {
        let p = plan(
            "Bread",
            &[
                ("Shape the loaf", ""),
                ("Proof overnight in the fridge", ""),
                ("Heat the oven", ""),
                ("Bake the loaf", ""),
            ],
        );
        assert_eq!(deps(&p)[3], vec![1, 2]);
    }
}
