//! Rule-based dependency inference over task kinds and text (no LLM).
//!
//! For each task, in plan order, only earlier tasks can be dependencies (so the result is
//! always acyclic). The rules, from strongest to weakest:
//!
//! 1. **Subject references**: the task's text names a distinctive word of an earlier task's
//!    title ("Analyze the *technology* sector" → "Research the *technology* sector"). A word
//!    is distinctive when at most two titles in the plan use it.
//! 2. **Aggregation** ("all", "each", "across", "compare", "combine", "summarise", …): the
//!    task needs every earlier task nothing has consumed yet (the current *frontier*).
//! 3. **Artefact references**: "the analysis", "the findings", "the report", "the dataset"
//!    point at the latest earlier task of the matching kind or wording.
//! 4. **Ordering words**: "then", "next", "after that" → the previous task; "finally" → the
//!    frontier.
//! 5. **Kind defaults** when nothing was said: research tasks are independent; analysis and
//!    processing follow the unconsumed research (or the previous task); reports follow the
//!    frontier; anything else follows the previous task (a missed dependency is worse than
//!    an extra one).
//!
//! Research tasks only gain dependencies from explicit wording (rules 3–4 and "based on").

use std::collections::{BTreeSet, HashMap, HashSet};

use dagent_core::{AnalyzeError, BoxFuture, DependencyAnalyzer, DependencyMap, Plan, TaskKind};

/// Infers dependencies from task kinds and wording; deterministic and linear-ish in plan
/// size. See the module documentation for the rules.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeuristicAnalyzer;

impl DependencyAnalyzer for HeuristicAnalyzer {
    fn name(&self) -> &str {
        "heuristic"
    }

    fn analyze<'a>(&'a self, plan: &'a Plan) -> BoxFuture<'a, Result<DependencyMap, AnalyzeError>> {
        Box::pin(async move { Ok(infer(plan)) })
    }
}

const STOP: &[&str] = &[
    "a", "an", "the", "of", "for", "and", "or", "to", "in", "on", "with", "from", "by", "at", "as",
    "is", "are", "be", "this", "that", "these", "those", "it", "its", "their", "them", "they",
    "into", "about", "our", "we", "you", "your", "any", "some", "such", "than", "then", "there",
    "which", "who", "what", "how", "why", "when", "where", "will", "should", "can", "may", "must",
    "per", "via", "each", "all", "every", "both", "other", "more", "most", "new", "up", "out",
    "over", "under", "between", "across", "also", "using", "use", "based", "make", "get", "do",
    "set", "one", "two", "three", "first", "second", "third", "final", "finally", "next", "after",
    "before", "step", "task",
];

/// Process words that say what is done, not what it is about.
const GENERIC: &[&str] = &[
    "research",
    "analy",
    "find",
    "search",
    "web",
    "collect",
    "gather",
    "study",
    "investigat",
    "look",
    "identify",
    "review",
    "writ",
    "write",
    "draft",
    "creat",
    "generat",
    "produc",
    "prepar",
    "build",
    "compil",
    "report",
    "summar",
    "overview",
    "information",
    "result",
    "finding",
    "insight",
    "detail",
    "top",
    "key",
    "main",
    "common",
    "pattern",
    "list",
    "document",
    "compar",
    "combin",
    "synthes",
    "aggregat",
    "examin",
    "evaluat",
    "assess",
    "explor",
    "understand",
    "determin",
    "calculat",
    "comput",
    "process",
    "data",
    "source",
    "trend",
    "theme",
    "material",
];

const AGGREGATION: &[&str] = &[
    "all",
    "each",
    "every",
    "across",
    "compar",
    "combin",
    "summar",
    "synthes",
    "aggregat",
    "overall",
    "consolidat",
    "together",
    "both",
    "merg",
    "collect",
    "integrat",
];

const BASED_ON: &[&[&str]] = &[
    &["based", "on"],
    &["building", "on"],
    &["build", "on"],
    &["results", "of"],
    &["output", "of"],
    &["drawing", "on"],
];

/// Lower-cased, crudely stemmed words (enough to match "cities"/"city", "cleaned"/"clean").
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stem(&w.to_lowercase()))
        .collect()
}

fn stem(w: &str) -> String {
    fn strip(s: &mut String, suffix: &str, min: usize, repl: &str) -> bool {
        if s.len() >= min && s.ends_with(suffix) {
            s.truncate(s.len() - suffix.len());
            s.push_str(repl);
            true
        } else {
            false
        }
    }
    let mut s = w.to_owned();
    let keeps_s = s.ends_with("ss") || s.ends_with("us") || s.ends_with("is");
    if !strip(&mut s, "ies", 5, "y") && !keeps_s && !strip(&mut s, "es", 5, "") {
        strip(&mut s, "s", 4, "");
    }
    if !strip(&mut s, "ing", 6, "") {
        strip(&mut s, "ed", 5, "");
    }
    strip(&mut s, "e", 4, "");
    for canon in ["analy", "summar", "compar", "synthes"] {
        if s.starts_with(canon) {
            return canon.to_owned();
        }
    }
    s
}

fn has_prefix_word(words: &[String], prefixes: &[&str]) -> bool {
    words.iter().any(|w| {
        prefixes
            .iter()
            .any(|p| w.starts_with(p) && (w.len() - p.len()) <= 4)
    })
}

fn contains_phrase(raw: &[String], phrase: &[&str]) -> bool {
    raw.windows(phrase.len())
        .any(|win| win.iter().zip(phrase).all(|(a, b)| a == b))
}

struct Info {
    kind: TaskKind,
    /// The title's first word, stemmed: its verb ("review", "profil", "research").
    head: String,
    title_words: HashSet<String>,
    text_words: Vec<String>,
    raw_words: Vec<String>,
}

/// Head verbs that name an activity rather than a thing later tasks refer to.
const NON_ARTEFACT_VERBS: &[&str] = &[
    "writ", "find", "search", "look", "get", "mak", "creat", "collect", "gather", "research",
    "check", "pull", "list", "choos", "pick", "set", "run", "send", "read", "ask", "analy",
    "compar", "review", "summar", "identify", "estimat", "comput", "calculat", "assess", "evaluat",
    "build", "prepar", "decid", "plan", "updat", "add",
];

/// The latest index in an ascending `list` that is not in the current sibling group.
fn latest_outside(list: &[usize], same_group: &impl Fn(usize) -> bool) -> Option<usize> {
    list.iter().rev().copied().find(|&i| !same_group(i))
}

/// Consecutive tasks of one kind whose titles start with the same verb ("Review security",
/// "Review performance", …) are siblings: parallel work with a shared upstream.
fn sibling_groups(infos: &[Info]) -> Vec<usize> {
    let mut leader: Vec<usize> = (0..infos.len()).collect();
    for j in 1..infos.len() {
        let (a, b) = (&infos[j - 1], &infos[j]);
        if !b.head.is_empty() && a.head == b.head && a.kind == b.kind {
            leader[j] = leader[j - 1];
        }
    }
    leader
}

fn infer(plan: &Plan) -> DependencyMap {
    let stop: HashSet<&str> = STOP.iter().copied().collect();
    let generic =
        |w: &str| GENERIC.iter().any(|g| w.starts_with(g)) || stop.contains(w) || w.len() < 3;
    let infos: Vec<Info> = plan
        .tasks
        .iter()
        .map(|t| {
            let title = words(&t.title);
            let text = format!("{} {}", t.title, t.description);
            Info {
                kind: t.kind.clone(),
                head: title.first().cloned().unwrap_or_default(),
                title_words: title.into_iter().filter(|w| !generic(w)).collect(),
                text_words: words(&text),
                raw_words: text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect(),
            }
        })
        .collect();
    let n = infos.len();
    let leader = sibling_groups(&infos);
    // How many titles use each word.
    let mut title_df: HashMap<&str, usize> = HashMap::new();
    for info in &infos {
        for w in &info.title_words {
            *title_df.entry(w.as_str()).or_default() += 1;
        }
    }
    // Template words: shared by the titles of one sibling group ("sector" in "Analyze the
    // X sector", "Analyze the Y sector"); they say nothing about dependencies.
    let mut template: HashMap<usize, HashSet<&str>> = HashMap::new();
    for j in 1..n {
        if leader[j] != j {
            let shared: Vec<&str> = infos[j]
                .title_words
                .iter()
                .filter(|w| infos[j - 1].title_words.contains(*w))
                .map(String::as_str)
                .collect();
            template.entry(leader[j]).or_default().extend(shared);
        }
    }
    // Indexes, so each lookup costs O(matches) rather than a scan of earlier tasks.
    let mut by_title_word: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut by_head: std::collections::BTreeMap<&str, Vec<usize>> =
        std::collections::BTreeMap::new();
    let mut by_kind: HashMap<&TaskKind, Vec<usize>> = HashMap::new();
    for (i, info) in infos.iter().enumerate() {
        for w in &info.title_words {
            by_title_word.entry(w.as_str()).or_default().push(i);
        }
        let h = info.head.as_str();
        if h.len() >= 5 && !NON_ARTEFACT_VERBS.iter().any(|v| h.starts_with(v)) {
            by_head.entry(h).or_default().push(i);
        }
        by_kind.entry(&info.kind).or_default().push(i);
    }
    for list in by_title_word.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    let mut lists: Vec<Vec<usize>> = Vec::with_capacity(n);
    // Earlier tasks without dependents yet, and the research among them, in plan order.
    // Ordered sets: consuming a task costs O(log n), not a pass over the frontier, so a plan
    // whose frontier grows (100,000 independent steps) stays near-linear.
    let mut frontier: BTreeSet<usize> = BTreeSet::new();
    let mut research_frontier: BTreeSet<usize> = BTreeSet::new();

    for j in 0..n {
        let info = &infos[j];
        let group = leader[j];
        let same_group = |i: usize| leader[i] == group;
        let mut deps: Vec<usize> = Vec::new();
        let is_research = info.kind == TaskKind::Research;
        let text: HashSet<&str> = info.text_words.iter().map(String::as_str).collect();
        let says_based_on = BASED_ON.iter().any(|p| contains_phrase(&info.raw_words, p));
        let empty = HashSet::new();
        let template_words = template.get(&group).unwrap_or(&empty);

        if !is_research || says_based_on {
            // 1. Subject references: a content word of this task names an earlier title.
            for w in &text {
                if generic(w) || template_words.contains(w) {
                    continue;
                }
                let Some(list) = by_title_word.get(w) else {
                    continue;
                };
                let earlier = &list[..list.partition_point(|&i| i < j)];
                if title_df.get(w).copied().unwrap_or(0) <= 2 {
                    deps.extend(earlier.iter().copied().filter(|&i| !same_group(i)));
                } else {
                    deps.extend(latest_outside(earlier, &same_group));
                }
            }
            // 1b. Artefacts named after the verb that made them ("the implementation",
            // "the recording", "the design", "the outline").
            for w in &text {
                if *w == info.head || w.len() < 5 {
                    continue;
                }
                // Heads that are a prefix of the word, and heads the word is a prefix of.
                let prefixes = (5..=w.len())
                    .filter_map(|k| w.get(..k))
                    .filter_map(|p| by_head.get(p));
                let extensions = by_head
                    .range(*w..)
                    .take_while(|(h, _)| h.starts_with(*w))
                    .map(|(_, l)| l);
                let made = prefixes
                    .chain(extensions)
                    .filter_map(|list| {
                        latest_outside(&list[..list.partition_point(|&i| i < j)], &same_group)
                    })
                    .max();
                deps.extend(made);
            }
        }
        // 2. Aggregation over the frontier.
        let aggregates = !is_research && has_prefix_word(&info.text_words, AGGREGATION);
        if aggregates {
            deps.extend(frontier.iter().copied().filter(|&i| !same_group(i)));
        }
        // 3. Artefact references by kind.
        let refers = |kind: TaskKind, nouns: &[&str]| -> Option<usize> {
            let mentioned = nouns.iter().any(|n| text.contains(n));
            if !mentioned {
                return None;
            }
            let mut best = by_kind
                .get(&kind)
                .and_then(|l| latest_outside(&l[..l.partition_point(|&i| i < j)], &same_group));
            for n in nouns {
                if let Some(l) = by_title_word.get(n) {
                    best = best.max(latest_outside(
                        &l[..l.partition_point(|&i| i < j)],
                        &same_group,
                    ));
                }
            }
            best
        };
        if info.kind != TaskKind::Analysis {
            deps.extend(refers(TaskKind::Analysis, &["analy"]));
        }
        if info.kind != TaskKind::Report {
            deps.extend(refers(TaskKind::Report, &["report", "draft"]).filter(|_| !is_research));
        }
        let vague_findings = ["finding", "result", "research", "output", "above"]
            .iter()
            .any(|w| text.contains(w));
        if !is_research && deps.is_empty() && vague_findings {
            if research_frontier.is_empty() {
                deps.extend(frontier.iter().copied().filter(|&i| !same_group(i)));
            } else {
                deps.extend(research_frontier.iter().copied());
            }
        }
        // 4. Ordering words.
        if j > 0 {
            let then = [
                "then",
                "next",
                "afterwards",
                "subsequently",
                "continue",
                "continuing",
            ]
            .iter()
            .any(|w| info.raw_words.iter().any(|r| r == w))
                || contains_phrase(&info.raw_words, &["after", "that"]);
            if then {
                deps.push(j - 1);
            }
            if info
                .raw_words
                .iter()
                .any(|r| r == "finally" || r == "lastly")
            {
                deps.extend(frontier.iter().copied());
            }
        }
        // 5. Defaults: a sibling shares its group's upstream; otherwise by kind.
        if deps.is_empty() && j > 0 {
            if group != j {
                deps.extend(lists[group].iter().copied());
            } else {
                match info.kind {
                    TaskKind::Research => {}
                    TaskKind::Analysis | TaskKind::Processing => {
                        if research_frontier.is_empty() {
                            deps.push(j - 1);
                        } else {
                            deps.extend(research_frontier.iter().copied());
                        }
                    }
                    TaskKind::Report => deps.extend(frontier.iter().copied()),
                    _ => deps.push(j - 1),
                }
            }
        }
        deps.retain(|&d| d < j);
        deps.sort_unstable();
        deps.dedup();

        for d in &deps {
            frontier.remove(d);
            research_frontier.remove(d);
        }
        frontier.insert(j);
        if is_research {
            research_frontier.insert(j);
        }
        lists.push(deps);
    }
    DependencyMap::from_lists(lists)
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn stems_plural_and_tense_together() {
        assert_eq!(stem("cities"), stem("city"));
        assert_eq!(stem("cleaned"), stem("clean"));
        assert_eq!(stem("sources"), stem("source"));
        assert_eq!(stem("analysis"), stem("analyze"));
        assert_eq!(stem("sectors"), stem("sector"));
    }
}
