//! Plan formats and their detection.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A plan file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanFormat {
    /// Native format, TOML.
    Toml,
    /// Native format, JSON.
    Json,
    /// DeerFlow plan JSON (`steps` with `step_type`, `need_search`, `execution_res`).
    DeerFlow,
}

pub(crate) const UNKNOWN_FORMAT: &str = "cannot tell the plan format from the file name: use a .toml or .json extension, or pass --input-format toml|json|deerflow";

impl PlanFormat {
    /// Chooses a format from the extension, looking inside `.json` files for DeerFlow's
    /// top-level `steps`. `None` when the extension says nothing.
    #[must_use]
    pub fn detect(path: &Path, text: &str) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Self::Toml),
            "json" => Some(if looks_like_deerflow(text) {
                Self::DeerFlow
            } else {
                Self::Json
            }),
            _ => None,
        }
    }

    /// The name used on the command line.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Toml => "toml",
            Self::Json => "json",
            Self::DeerFlow => "deerflow",
        }
    }
}

/// Whether JSON text is a DeerFlow plan: its top level has `steps`, or a key only DeerFlow
/// plans have (`locale`, `has_enough_context`, `thought`), and no `tasks`.
///
/// The keys are read in order until the end or the first error, so a truncated or otherwise
/// broken DeerFlow plan is still recognised and gets DeerFlow's error (an unexpected end of
/// input at its line and column), not the native format's "unknown field `locale`".
fn looks_like_deerflow(text: &str) -> bool {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

    #[derive(Default)]
    struct Seen {
        steps: bool,
        tasks: bool,
        deerflow_only: bool,
    }
    struct TopKeys<'a>(&'a mut Seen);
    impl<'de> DeserializeSeed<'de> for TopKeys<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for TopKeys<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "steps" => self.0.steps = true,
                    "tasks" => self.0.tasks = true,
                    "locale" | "has_enough_context" | "thought" => self.0.deerflow_only = true,
                    _ => {}
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut seen = Seen::default();
    let mut de = serde_json::Deserializer::from_str(text);
    // An error only ends the scan: the keys seen so far decide.
    let _ = TopKeys(&mut seen).deserialize(&mut de);
    !seen.tasks && (seen.steps || seen.deerflow_only)
}

impl fmt::Display for PlanFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlanFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "toml" => Ok(Self::Toml),
            "json" => Ok(Self::Json),
            "deerflow" => Ok(Self::DeerFlow),
            other => Err(format!(
                "unknown plan format {other:?}: expected toml, json or deerflow"
            )),
        }
    }
}
