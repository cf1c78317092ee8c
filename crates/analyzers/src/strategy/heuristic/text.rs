//! The words of a task as the rules see them: tokens with Snowball (Porter2) stems from
//! `rust-stemmers`, and the small closed word classes the rules look for (determiners,
//! pronouns, ordering, parallel and aggregation words). Work per task is bounded: at most
//! [`MAX_WORDS`] words of title and description are read.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::borrow::Cow;
use std::sync::Arc;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Words read per task (title first, then description); the rest is ignored so a huge
/// description cannot make inference slow.
pub(super) const MAX_WORDS: usize = 160;

/// One word of a task's text.
#[derive(Clone, Debug)]
pub(super) struct Word {
    /// Lower-cased (shared: plans repeat their words).
    pub(super) raw: Arc<str>,
    /// Snowball English stem of `raw`.
    pub(super) stem: Arc<str>,
    /// In the title (not the description).
    pub(super) in_title: bool,
    /// First word of its text or after clause punctuation (".", ",", ";", …).
    pub(super) starts_clause: bool,
    /// A function word (or shorter than three letters and not a number).
    pub(super) stop: bool,
    /// A process word ("research", "analyse", "report"): what is done, not what about.
    pub(super) generic: bool,
    /// The closed word classes (`class::*` bits) the word belongs to.
    pub(super) class: u16,
}

impl Word {
    /// Whether the word is in the class `bit` (`class::*`).
    pub(super) fn is(&self, bit: u16) -> bool {
        self.class & bit != 0
    }
}

/// Bits of [`Word::class`].
pub(super) mod class {
    pub(in super::super) const DETERMINER: u16 = 1;
    pub(in super::super) const PRONOUN: u16 = 1 << 1;
    pub(in super::super) const THEN: u16 = 1 << 2;
    pub(in super::super) const FINALLY: u16 = 1 << 3;
    pub(in super::super) const PARALLEL: u16 = 1 << 4;
    pub(in super::super) const PREPOSITION: u16 = 1 << 5;
    pub(in super::super) const TIME: u16 = 1 << 6;
    pub(in super::super) const ORDINAL: u16 = 1 << 7;
    pub(in super::super) const FILLER: u16 = 1 << 8;
    pub(in super::super) const ARTICLE: u16 = 1 << 9;
    pub(in super::super) const STOP: u16 = 1 << 10;
    pub(in super::super) const VAGUE: u16 = 1 << 11;
}

/// Every closed-class word with its class bits, built once.
fn classes() -> &'static HashMap<&'static str, u16> {
    static MAP: OnceLock<HashMap<&'static str, u16>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m: HashMap<&'static str, u16> = HashMap::new();
        for (list, bit) in [
            (DETERMINERS, class::DETERMINER),
            (PRONOUNS, class::PRONOUN),
            (THEN, class::THEN),
            (FINALLY, class::FINALLY),
            (PARALLEL, class::PARALLEL),
            (PREPOSITIONS, class::PREPOSITION),
            (TIME, class::TIME),
            (ORDINALS, class::ORDINAL),
            (TITLE_FILLER, class::FILLER),
            (&["a", "an"][..], class::ARTICLE),
            (STOP, class::STOP),
        ] {
            for w in list {
                *m.entry(w).or_default() |= bit;
            }
        }
        m
    })
}

/// A word's lower-cased form, stem and classes, computed once.
#[derive(Clone)]
struct Cached {
    raw: Arc<str>,
    stem: Arc<str>,
    generic: bool,
    class: u16,
}

/// The tokenizer: splits on anything but letters, digits and apostrophes, stems each word.
pub(super) struct Words {
    stemmer: Stemmer,
    /// Stems already computed (plans repeat their words).
    cache: HashMap<Box<str>, Cached>,
    /// One shared copy of each stem, so equal stems are the same pointer.
    stems: HashSet<Arc<str>>,
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Words(english)")
    }
}

impl Words {
    pub(super) fn new() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
            cache: HashMap::new(),
            stems: HashSet::new(),
        }
    }

    fn compute(&mut self, raw: &str) -> Cached {
        let stem = self.stemmer.stem(raw).into_owned();
        let generic = GENERIC
            .iter()
            .any(|g| stem == *g || g.len() >= 5 && stem.starts_with(g));
        let vague = VAGUE.iter().any(|g| stem.starts_with(g));
        let mut class = classes().get(raw).copied().unwrap_or(0);
        if ORDINALS.contains(&stem.as_str()) {
            class |= class::ORDINAL;
        }
        if vague {
            class |= class::VAGUE;
        }
        let stem = match self.stems.get(stem.as_str()) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = stem.into();
                self.stems.insert(Arc::clone(&shared));
                shared
            }
        };
        Cached {
            raw: raw.into(),
            stem,
            generic,
            class,
        }
    }

    /// The words of a title and a description, at most [`MAX_WORDS`].
    pub(super) fn of(&mut self, title: &str, description: &str) -> Vec<Word> {
        let mut out = Vec::new();
        for (text, in_title) in [(title, true), (description, false)] {
            let mut clause = true;
            let mut rest = text;
            while !rest.is_empty() {
                // Skip to the next word, noting clause punctuation on the way.
                let start = rest
                    .find(|c: char| c.is_alphanumeric())
                    .unwrap_or(rest.len());
                clause |= rest[..start].contains(['.', ',', ';', ':', '!', '?', '(', ')']);
                rest = &rest[start..];
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '\''))
                    .unwrap_or(rest.len());
                let w = rest[..end].trim_matches('\'');
                rest = &rest[end..];
                if w.is_empty() {
                    continue;
                }
                if out.len() >= MAX_WORDS {
                    return out;
                }
                let starts_clause = std::mem::take(&mut clause);
                // Most words are already lower case: no allocation to look them up then.
                let plain = !w.ends_with("'s") && !w.chars().any(char::is_uppercase);
                let lower: Cow<str> = if plain {
                    Cow::Borrowed(w)
                } else {
                    let lower = w.to_lowercase();
                    Cow::Owned(lower.strip_suffix("'s").unwrap_or(&lower).to_owned())
                };
                let Cached {
                    raw,
                    stem,
                    generic,
                    class,
                } = match self.cache.get(&*lower) {
                    Some(hit) => hit.clone(),
                    None => {
                        let entry = self.compute(&lower);
                        if self.cache.len() < 100_000 {
                            self.cache.insert(lower.into(), entry.clone());
                        }
                        entry
                    }
                };
                let stop = class & class::STOP != 0
                    || raw.len() < 3 && !raw.chars().all(|c| c.is_ascii_digit());
                out.push(Word {
                    raw,
                    stem,
                    in_title,
                    starts_clause,
                    stop,
                    generic,
                    class,
                });
            }
        }
        out
    }
}

/// Whether two stems name the same thing: equal, or sharing a long prefix
/// ("transcript"/"transcrib", "summari"/"summar", "translat"/"translat").
pub(super) fn same_stem(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la < 5 || lb < 5 {
        return false;
    }
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    common >= 5.max(la.min(lb) - 1)
}

/// The key a stem is indexed under for [`same_stem`] lookups: its first five bytes.
pub(super) fn stem_key(stem: &str) -> &str {
    stem.get(..5).unwrap_or(stem)
}

/// Times: "this weekend" is when, not something an earlier step made.
pub(super) const TIME: &[&str] = &[
    "day",
    "days",
    "week",
    "weeks",
    "weekend",
    "month",
    "months",
    "year",
    "years",
    "morning",
    "evening",
    "night",
    "hour",
    "hours",
    "minute",
    "minutes",
    "time",
    "today",
    "tomorrow",
    "tonight",
    "yesterday",
    "afternoon",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Process words that say what is done, not what it is about (stem prefixes).
const GENERIC: &[&str] = &[
    "research",
    "analy",
    "find",
    "search",
    "web",
    "collect",
    "gather",
    "studi",
    "investig",
    "look",
    "identifi",
    "review",
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
    "inform",
    "result",
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
    "aggreg",
    "examin",
    "evalu",
    "assess",
    "explor",
    "understand",
    "determin",
    "calcul",
    "comput",
    "process",
    "data",
    "sourc",
    "trend",
    "theme",
    "materi",
    "check",
    "new",
    "text",
    "file",
    "user",
    "get",
    "set",
    "run",
    "add",
    "updat",
    "make",
];

/// Nouns that name earlier work without saying which ("the research above", "the
/// results"): after a group of siblings they mean the whole group (stem prefixes).
const VAGUE: &[&str] = &[
    "research", "result", "find", "data", "inform", "output", "materi", "work", "everyth", "sourc",
    "input",
];

/// Function words: never subjects or artefacts.
pub(super) const STOP: &[&str] = &[
    "a", "an", "the", "of", "for", "and", "or", "to", "in", "on", "with", "from", "by", "at", "as",
    "is", "are", "be", "been", "was", "were", "this", "that", "these", "those", "it", "its",
    "their", "them", "they", "into", "about", "our", "we", "you", "your", "any", "some", "such",
    "than", "then", "there", "which", "who", "what", "how", "why", "when", "where", "will",
    "should", "can", "may", "must", "per", "via", "each", "all", "every", "both", "other", "more",
    "most", "up", "out", "over", "under", "between", "also", "using", "use", "do", "does", "did",
    "i", "me", "my", "he", "she", "his", "her", "if", "so", "not", "no", "step", "task", "s",
    "just", "only", "until", "once", "after", "before", "next", "first", "finally", "lastly",
    "again", "now", "too", "very", "new", "get", "got", "make", "let", "take", "put", "go", "one",
    "two", "three", "four", "five", "many", "much", "own", "give", "given", "here", "call", "done",
    "while", "same", "like", "way", "ways", "want",
];

/// Prepositions: a phrase after one is a place or a tool, not the step's object.
pub(super) const PREPOSITIONS: &[&str] = &[
    "in", "on", "at", "into", "onto", "for", "with", "from", "to", "until", "under", "over",
    "inside", "near", "through", "across", "by", "of",
];

/// Definite determiners that introduce a reference to something already there.
pub(super) const DETERMINERS: &[&str] = &[
    "the", "this", "that", "these", "those", "its", "their", "each", "both", "all", "said",
];

/// Words that refer to the previous step's output without naming it.
pub(super) const PRONOUNS: &[&str] = &[
    "it",
    "them",
    "results",
    "result",
    "output",
    "outputs",
    "above",
    "findings",
    "answer",
    "answers",
    "everything",
    "previous",
    "resulting",
];

/// Words that say "after the previous step".
pub(super) const THEN: &[&str] = &[
    "then",
    "next",
    "afterwards",
    "subsequently",
    "continue",
    "continuing",
    "once",
];

/// Words that say "after everything so far".
pub(super) const FINALLY: &[&str] = &["finally", "lastly"];

/// Words that say a step runs beside the previous one.
pub(super) const PARALLEL: &[&str] = &[
    "meanwhile",
    "simultaneously",
    "parallel",
    "concurrently",
    "independently",
    "separately",
];

/// Stems of words that gather several inputs ("compare", "combine", "all", "both").
pub(super) const AGGREGATION: &[&str] = &[
    "all",
    "both",
    "everi",
    "compar",
    "combin",
    "merg",
    "merger",
    "togeth",
    "across",
    "consolid",
    "aggreg",
    "synthes",
    "synthesis",
    "differ",
    "overal",
];

/// Words that make a list ordered: numbered parts are written one after another.
pub(super) const ORDINALS: &[&str] = &[
    "one", "two", "three", "four", "five", "six", "first", "second", "third", "fourth", "fifth",
    "last", "part", "phase", "stage", "round", "act", "chapter", "everyon",
];

/// Title words that say a plan is a list of independent tips.
pub(super) const LIST_TITLES: &[&str] = &[
    "tips", "ways", "things", "ideas", "habits", "hacks", "tricks", "errands",
];

/// Title words that say a plan is a collection of chores, not one procedure (a checklist
/// needs one of these or a [`LIST_TITLES`] word).
pub(super) const COLLECTION_TITLES: &[&str] = &[
    "chores",
    "jobs",
    "tasks",
    "todo",
    "todos",
    "prep",
    "checklist",
    "before",
    "errands",
];

/// Words that open a title without being its verb ("Step 1:", "We will", "How many").
pub(super) const TITLE_FILLER: &[&str] = &[
    "step", "we", "will", "i", "to", "please", "the", "a", "an", "how", "what", "which", "who",
    "she", "he", "they", "you", "someone", "should", "must", "can", "shall", "is", "are", "do",
    "does", "many", "much", "let", "us", "let's", "now", "then", "next", "first", "finally",
    "call", "use", "using",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_match_across_forms() {
        let mut w = Words::new();
        let mut stem = |s: &str| w.of(s, "")[0].stem.clone();
        assert!(same_stem(&stem("transcript"), &stem("transcribe")));
        assert!(same_stem(&stem("summary"), &stem("summarization")));
        assert!(same_stem(&stem("translated"), &stem("translation")));
        assert!(same_stem(&stem("cities"), &stem("city")));
        assert!(same_stem(&stem("edited"), &stem("editing")));
        assert!(!same_stem(&stem("translate"), &stem("transport")));
        assert!(!same_stem(&stem("image"), &stem("imagine")));
    }

    #[test]
    fn reads_a_bounded_number_of_words() {
        let long = "word ".repeat(10_000);
        assert_eq!(Words::new().of("Title", &long).len(), MAX_WORDS);
    }
}
