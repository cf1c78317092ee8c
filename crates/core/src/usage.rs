//! Token usage.

use std::ops::{Add, AddAssign};

/// Tokens used by one or more model calls, as the provider reported them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Usage {
    /// Tokens in the prompt (input).
    pub prompt_tokens: u64,
    /// Tokens generated (output).
    pub completion_tokens: u64,
    /// Of `prompt_tokens`, those the provider served from its prompt cache
    /// (`prompt_tokens_details.cached_tokens`); billed at the model's cached-input price
    /// where one is configured.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub cached_prompt_tokens: u64,
    /// Of `completion_tokens`, those spent reasoning (`completion_tokens_details.reasoning_tokens`);
    /// billed at the model's reasoning price where one is configured.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_zero"))]
    pub reasoning_tokens: u64,
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// A usage record.
    #[must_use]
    pub const fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            cached_prompt_tokens: 0,
            reasoning_tokens: 0,
        }
    }

    /// The same usage with `cached` of its prompt tokens read from the provider's cache and
    /// `reasoning` of its completion tokens spent reasoning (each capped at its total).
    #[must_use]
    pub const fn with_details(mut self, cached: u64, reasoning: u64) -> Self {
        self.cached_prompt_tokens = if cached < self.prompt_tokens {
            cached
        } else {
            self.prompt_tokens
        };
        self.reasoning_tokens = if reasoning < self.completion_tokens {
            reasoning
        } else {
            self.completion_tokens
        };
        self
    }

    /// Prompt plus completion tokens.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

impl Add for Usage {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self {
            prompt_tokens: self.prompt_tokens.saturating_add(rhs.prompt_tokens),
            completion_tokens: self.completion_tokens.saturating_add(rhs.completion_tokens),
            cached_prompt_tokens: self
                .cached_prompt_tokens
                .saturating_add(rhs.cached_prompt_tokens),
            reasoning_tokens: self.reasoning_tokens.saturating_add(rhs.reasoning_tokens),
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}
