//! Routing tasks to models: tier × category × complexity, roles, overrides, fallbacks.

use std::collections::BTreeMap;
use std::fmt;

use dagent_core::{Task, TaskKind};

/// How much to spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Cheapest models.
    Budget,
    /// Production with cost constraints (default).
    Balanced,
    /// Best quality.
    Premium,
}

impl Tier {
    /// Parses `budget`, `balanced` or `premium`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "budget" => Some(Self::Budget),
            "balanced" => Some(Self::Balanced),
            "premium" => Some(Self::Premium),
            _ => None,
        }
    }

    /// All tiers.
    pub const ALL: [Tier; 3] = [Tier::Budget, Tier::Balanced, Tier::Premium];

    /// Name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Balanced => "balanced",
            Self::Premium => "premium",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What sort of work, for routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskCategory {
    /// Writing or changing code (processing steps, coder roles).
    Coding,
    /// Reasoning over material (analysis steps, analyst and reviewer roles).
    Analysis,
    /// Everything else (research, reports).
    General,
    /// Structured output (extraction, JSON).
    Structured,
}

impl TaskCategory {
    /// All categories.
    pub const ALL: [TaskCategory; 4] = [
        Self::Coding,
        Self::Analysis,
        Self::General,
        Self::Structured,
    ];

    /// Parses a category name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "coding" => Some(Self::Coding),
            "analysis" => Some(Self::Analysis),
            "general" => Some(Self::General),
            "structured" => Some(Self::Structured),
            _ => None,
        }
    }

    /// Name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Coding => "coding",
            Self::Analysis => "analysis",
            Self::General => "general",
            Self::Structured => "structured",
        }
    }

    /// The category of a task, from its role, then its kind.
    #[must_use]
    pub fn of(task: &Task) -> Self {
        let role = task.role.as_deref().unwrap_or("").to_ascii_lowercase();
        if [
            "coder",
            "developer",
            "implementer",
            "tester",
            "debugger",
            "optimizer",
            "code-implementer",
        ]
        .contains(&role.as_str())
        {
            return Self::Coding;
        }
        if [
            "analyst",
            "reviewer",
            "architect",
            "critic",
            "security",
            "clarifier",
        ]
        .contains(&role.as_str())
        {
            return Self::Analysis;
        }
        if ["validator", "extractor", "planner"].contains(&role.as_str()) {
            return Self::Structured;
        }
        match &task.kind {
            TaskKind::Processing => Self::Coding,
            TaskKind::Analysis => Self::Analysis,
            TaskKind::Other(k) if ["coding", "code", "implementation"].contains(&k.as_str()) => {
                Self::Coding
            }
            TaskKind::Other(k) if ["structured", "extraction", "json"].contains(&k.as_str()) => {
                Self::Structured
            }
            _ => Self::General,
        }
    }
}

/// How hard a task is, for routing (simple tasks go to the budget table except in premium).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Complexity {
    /// Short and easy.
    Simple,
    /// The default.
    Medium,
    /// Long or hard.
    Complex,
}

impl Complexity {
    /// From the task's token estimate: under 1,000 simple, over 8,000 complex, else medium.
    #[must_use]
    pub fn of(task: &Task) -> Self {
        match task.estimate.and_then(|e| e.tokens) {
            Some(t) if t < 1_000 => Self::Simple,
            Some(t) if t > 8_000 => Self::Complex,
            _ => Self::Medium,
        }
    }

    /// Name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Medium => "medium",
            Self::Complex => "complex",
        }
    }
}

/// Tier × category → model name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingTable {
    table: BTreeMap<(Tier, TaskCategory), String>,
}

impl Default for RoutingTable {
    /// The deployment plan's tables: budget → DeepSeek (GLM for general), balanced and premium
    /// → Qwen Coder for coding, Llama 3.3 for analysis and general, Mistral Small for
    /// structured output.
    fn default() -> Self {
        use TaskCategory::{Analysis, Coding, General, Structured};
        let mut table = BTreeMap::new();
        for (cat, model) in [
            (Coding, "deepseek-chat"),
            (Analysis, "deepseek-chat"),
            (General, "glm-4-9b"),
            (Structured, "deepseek-chat"),
        ] {
            table.insert((Tier::Budget, cat), model.to_owned());
        }
        for tier in [Tier::Balanced, Tier::Premium] {
            for (cat, model) in [
                (Coding, "qwen-2.5-coder-32b"),
                (Analysis, "llama-3.3-70b"),
                (General, "llama-3.3-70b"),
                (Structured, "mistral-small-3.1"),
            ] {
                table.insert((tier, cat), model.to_owned());
            }
        }
        Self { table }
    }
}

impl RoutingTable {
    /// An empty table.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            table: BTreeMap::new(),
        }
    }

    /// Sets one entry.
    pub fn set(&mut self, tier: Tier, category: TaskCategory, model: impl Into<String>) {
        self.table.insert((tier, category), model.into());
    }

    /// One entry.
    #[must_use]
    pub fn get(&self, tier: Tier, category: TaskCategory) -> Option<&str> {
        self.table.get(&(tier, category)).map(String::as_str)
    }
}

/// Per-role model and parameters (`[roles.NAME]`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoleSettings {
    /// Model for this role (overrides the table).
    pub model: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Cap on generated tokens.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// System prompt.
    pub system_prompt: Option<String>,
}

/// Built-in role parameters and prompt ([`crate::roles`]); the default for unknown roles.
fn builtin_role(role: &str) -> RoleSettings {
    crate::roles::builtin_role(role).map_or_else(RoleSettings::default, |r| RoleSettings {
        model: None,
        temperature: Some(r.temperature),
        max_tokens: Some(r.max_tokens),
        top_p: Some(r.top_p),
        system_prompt: Some(r.system_prompt.to_owned()),
    })
}

/// Where a task goes and how it is asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The chosen model's name in the catalogue.
    pub model: String,
    /// Models to try when it is unavailable or keeps failing.
    pub fallbacks: Vec<String>,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Cap on generated tokens.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// The role's system prompt (`[roles.NAME] system_prompt`, else the built-in role's);
    /// `None` for a task without a known role (the runner then uses
    /// [`crate::default_system_prompt`]).
    pub system_prompt: Option<String>,
    /// Why this model (for `dagent models` and reports).
    pub reason: String,
}

/// Routes tasks: per-task `model` > role's model > tier table (simple tasks use the budget
/// table except in premium) > default model.
#[derive(Clone, Debug, PartialEq)]
pub struct Router {
    /// The tier in use.
    pub tier: Tier,
    /// Tier × category table.
    pub table: RoutingTable,
    /// Per-role settings.
    pub roles: BTreeMap<String, RoleSettings>,
    /// Used when nothing else decides.
    pub default_model: Option<String>,
    /// Tried in order after the chosen model.
    pub fallbacks: Vec<String>,
}

impl Default for Router {
    fn default() -> Self {
        Self {
            tier: Tier::Balanced,
            table: RoutingTable::default(),
            roles: BTreeMap::new(),
            default_model: None,
            fallbacks: Vec::new(),
        }
    }
}

impl Router {
    /// The route of a task, or `None` when no rule names a model.
    #[must_use]
    pub fn route(&self, task: &Task) -> Option<Route> {
        let role_name = task.role.as_deref().unwrap_or("").to_ascii_lowercase();
        let builtin = builtin_role(&role_name);
        let configured = self.roles.get(&role_name);
        let pick =
            |f: fn(&RoleSettings) -> Option<f32>| configured.and_then(f).or_else(|| f(&builtin));
        let category = TaskCategory::of(task);
        let complexity = Complexity::of(task);
        let (model, reason) = if let Some(m) = &task.model {
            (m.clone(), "the task's own model".to_owned())
        } else if let Some(m) = configured.and_then(|r| r.model.clone()) {
            (m, format!("role {role_name}"))
        } else {
            let tier = if complexity == Complexity::Simple && self.tier != Tier::Premium {
                Tier::Budget
            } else {
                self.tier
            };
            match self.table.get(tier, category) {
                Some(m) => (
                    m.to_owned(),
                    format!(
                        "{tier} tier, {} task, {}",
                        category.as_str(),
                        complexity.as_str()
                    ),
                ),
                None => (self.default_model.clone()?, "the default model".to_owned()),
            }
        };
        let fallbacks = self
            .fallbacks
            .iter()
            .filter(|f| **f != model)
            .cloned()
            .collect();
        Some(Route {
            model,
            fallbacks,
            temperature: pick(|r| r.temperature),
            max_tokens: configured.and_then(|r| r.max_tokens).or(builtin.max_tokens),
            top_p: pick(|r| r.top_p),
            system_prompt: configured
                .and_then(|r| r.system_prompt.clone())
                .or(builtin.system_prompt),
            reason,
        })
    }
}
