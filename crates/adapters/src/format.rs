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

fn looks_like_deerflow(text: &str) -> bool {
    /// Top-level keys only; values are skipped without being built.
    #[derive(serde::Deserialize)]
    struct Keys {
        steps: Option<serde::de::IgnoredAny>,
        tasks: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_str::<Keys>(text).is_ok_and(|k| k.steps.is_some() && k.tasks.is_none())
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
