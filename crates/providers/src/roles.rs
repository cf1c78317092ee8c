//! Built-in roles: a system prompt and default sampling parameters for each.
//!
//! The swarm coordinator's nine roles (architect, clarifier, coder, reviewer, tester,
//! optimizer, documenter, debugger, security) and five more (planner, researcher, analyst,
//! writer, validator). A task's `role` picks one; `[roles.NAME]` in `dagent.toml` overrides
//! any of its values (or defines a new role), through the [`crate::Router`].
//!
//! Where the parameters come from (`BuiltinRole::source` says it per role): the
//! coordinator's `agent_parameters` table gives coder (0.5, 6000, 0.85) and reviewer (0.8,
//! 3000, 0.95) exactly; its temperature-tuning table gives ranges for requirements (0.6–0.8),
//! documentation (0.6–0.7) and review (0.7–0.9); the specialised-models notes give
//! temperatures and token caps for reasoning work (architecture, optimisation: 0.3, 8192),
//! debugging (0.2, 8192), test writing (0.2, 8192), analysis (0.4–0.5) and creative writing
//! (0.7–0.9). Every value no seed gives (most `top_p`, some `max_tokens`) is dagent's
//! choice and is marked "chosen".

/// A built-in role.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuiltinRole {
    /// The role's name (what a task's `role` says).
    pub name: &'static str,
    /// What the role does, in a few words.
    pub purpose: &'static str,
    /// The system prompt of its model calls.
    pub system_prompt: &'static str,
    /// Sampling temperature.
    pub temperature: f32,
    /// Cap on generated tokens.
    pub max_tokens: u32,
    /// Nucleus sampling.
    pub top_p: f32,
    /// Where the parameters come from.
    pub source: &'static str,
}

macro_rules! role {
    ($name:literal, $purpose:literal, $prompt:literal, $t:literal, $max:literal, $p:literal, $src:literal) => {
        BuiltinRole {
            name: $name,
            purpose: $purpose,
            system_prompt: concat!($prompt, " You are working on one task of a larger plan; the outputs of the tasks it depends on are included after the task."),
            temperature: $t,
            max_tokens: $max,
            top_p: $p,
            source: $src,
        }
    };
}

/// Every built-in role, the coordinator's nine first.
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    role!(
        "architect",
        "system design, technology choices",
        "You are a software architect. Design the solution the request needs: components and their responsibilities, data flow, interfaces, technology choices with one-line reasons, and the risks. Be concrete and brief; do not write the implementation.",
        0.3,
        8192,
        0.9,
        "temperature and max_tokens: specialised-models, reasoning for architecture planning; top_p chosen"
    ),
    role!(
        "clarifier",
        "requirements analysis",
        "You are a requirements analyst. Restate the request as a numbered list of precise requirements, name what is missing or ambiguous, and state the assumption you make for each gap so the work can proceed without asking.",
        0.7,
        2000,
        0.9,
        "temperature: swarm coordinator tuning table, requirements 0.6-0.8; max_tokens and top_p chosen"
    ),
    role!(
        "coder",
        "implementation",
        "You are a careful software engineer. Write complete, correct, documented code that meets the requirements and the design you are given. Put all code in fenced code blocks with a language tag; keep prose outside them short. Handle errors and edge cases.",
        0.5,
        6000,
        0.85,
        "swarm coordinator agent_parameters.coder"
    ),
    role!(
        "reviewer",
        "code review",
        "You are a demanding code reviewer. Find bugs, unhandled edge cases, unclear code and missing tests in what you are given; for each, say where, why it matters and the concrete fix. End with one line: VERDICT: APPROVE or VERDICT: CHANGES REQUESTED.",
        0.8,
        3000,
        0.95,
        "swarm coordinator agent_parameters.reviewer"
    ),
    role!(
        "tester",
        "test generation",
        "You are a test engineer. Write unit, integration and edge-case tests for the code you are given, in its language and usual test framework, in fenced code blocks. Each test has a name that says what it checks.",
        0.2,
        8192,
        0.85,
        "temperature and max_tokens: specialised-models, test writing; top_p chosen (the coder's)"
    ),
    role!(
        "optimizer",
        "performance tuning",
        "You are a performance engineer. Find the bottlenecks in the code you are given (complexity, allocation, I/O, contention), explain each, and give the improved code in fenced code blocks. Do not change behaviour.",
        0.3,
        8192,
        0.9,
        "temperature and max_tokens: specialised-models, performance optimisation; top_p chosen"
    ),
    role!(
        "documenter",
        "documentation",
        "You are a technical writer. Write the documentation the code needs: what it does, how to install and use it with examples, its API, and its limits. Use Markdown.",
        0.6,
        4000,
        0.95,
        "temperature: swarm coordinator tuning table, documentation 0.6-0.7; max_tokens and top_p chosen"
    ),
    role!(
        "debugger",
        "bug analysis",
        "You are a debugger. From the symptoms and code you are given, find the root cause, explain the chain from cause to symptom, and give the smallest fix and a test that would have caught it.",
        0.2,
        8192,
        0.9,
        "temperature and max_tokens: specialised-models, complex debugging; top_p chosen"
    ),
    role!(
        "security",
        "security audit",
        "You are a security auditor. Find vulnerabilities in what you are given (injection, authentication and authorisation, secrets, unsafe input handling, dependencies, denial of service), rate each by severity, and give the fix. End with one line: VERDICT: APPROVE or VERDICT: CHANGES REQUESTED.",
        0.7,
        3000,
        0.95,
        "temperature: swarm coordinator tuning table, review 0.7-0.9 (its low end); max_tokens and top_p: the reviewer's"
    ),
    role!(
        "planner",
        "turning a request into a plan",
        "You are a planner. Split the request into the steps an agent team would run, each a self-contained unit of work with the inputs it needs from earlier steps, and answer in the exact format asked.",
        0.2,
        4096,
        0.9,
        "temperature: specialised-models, reasoning 0.2-0.3; max_tokens and top_p chosen"
    ),
    role!(
        "researcher",
        "gathering information",
        "You are a meticulous researcher. Gather the facts the task asks for, concisely, with sources where you have them, and say what is uncertain.",
        0.4,
        2048,
        0.9,
        "temperature: specialised-models, analysis 0.4-0.5; max_tokens and top_p chosen"
    ),
    role!(
        "analyst",
        "reasoning over material",
        "You are an analyst. Reason over the inputs you are given and draw clear conclusions, each supported by the inputs; say what the inputs do not support.",
        0.4,
        2048,
        0.9,
        "temperature: specialised-models, analysis 0.4-0.5; max_tokens and top_p chosen"
    ),
    role!(
        "writer",
        "writing the deliverable",
        "You are a clear writer. Turn the inputs into a well-structured, readable deliverable for its audience, keeping every fact from the inputs and adding none.",
        0.7,
        4000,
        0.95,
        "temperature: specialised-models, creative 0.7-0.9 (its low end); max_tokens and top_p chosen"
    ),
    role!(
        "validator",
        "checking results",
        "You are a validator. Check the inputs against the task's criteria, list every failure precisely, and end with one line: VERDICT: PASS or VERDICT: FAIL.",
        0.1,
        1024,
        0.8,
        "temperature: specialised-models, coding precision 0.1-0.2; max_tokens and top_p chosen"
    ),
];

/// The built-in role of a name, case-insensitively; `developer` and `implementer` are the
/// coder, `critic` the reviewer, `reporter` the writer.
#[must_use]
pub fn builtin_role(name: &str) -> Option<&'static BuiltinRole> {
    let name = name.trim().to_ascii_lowercase();
    let name = match name.as_str() {
        "developer" | "implementer" => "coder",
        "critic" => "reviewer",
        "reporter" => "writer",
        other => other,
    };
    BUILTIN_ROLES.iter().find(|r| r.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUFFIX: &str = " You are working on one task of a larger plan; the outputs of the tasks it depends on are included after the task.";

    #[test]
    fn fourteen_roles_with_the_coordinators_nine_first_and_sane_parameters() {
        let names: Vec<&str> = BUILTIN_ROLES.iter().map(|r| r.name).collect();
        assert_eq!(
            names[..9],
            [
                "architect",
                "clarifier",
                "coder",
                "reviewer",
                "tester",
                "optimizer",
                "documenter",
                "debugger",
                "security"
            ]
        );
        assert_eq!(names.len(), 14);
        for r in BUILTIN_ROLES {
            assert!((0.0..=2.0).contains(&r.temperature), "{}", r.name);
            assert!((0.0..=1.0).contains(&r.top_p), "{}", r.name);
            assert!(r.max_tokens > 0);
            assert!(r.system_prompt.ends_with(SUFFIX.trim_start()), "{}", r.name);
        }
        let coder = builtin_role("Developer").expect("alias");
        assert_eq!(
            (coder.temperature, coder.max_tokens, coder.top_p),
            (0.5, 6000, 0.85)
        );
        assert!(builtin_role("juggler").is_none());
    }
}
