//! Metered model calls: the one token estimator, the worst case of a call, and the one path
//! every paid call takes — worst case → reserve (a guard) → call → settle — shared by the
//! LLM dependency analyzer and the LLM task runner.
//!
//! The design choice to know: the worst case is a **true upper bound**. Every token of a
//! byte-level BPE tokenizer (and of a SentencePiece tokenizer with byte fallback) covers at
//! least one byte of its text, so a prompt has at most as many tokens as bytes, plus the
//! tokens a chat template adds around each message; and a call generates at most
//! `max_tokens`. A provider that still reports more is an *overrun*, which the tracker
//! records and which stops new paid calls.

use std::fmt;

use crate::{
    Billing, Charge, ChatProvider, ChatRequest, ChatResponse, CostTracker, Money, Price,
    ProviderError, TaskError, Usage,
};

/// Tokens a chat template adds around one message (role markers, separators), bounded
/// generously: ChatML adds 4–5, Llama 3 about 5.
pub const MESSAGE_OVERHEAD_TOKENS: u64 = 16;

/// Tokens a chat template adds once per request (begin-of-text, the assistant's opening),
/// bounded generously.
pub const REQUEST_OVERHEAD_TOKENS: u64 = 16;

/// A *typical* token count of `text`: one token per three bytes (over-estimates English).
/// For fitting a prompt into a context window — never for a budget, which uses
/// [`max_tokens_of`].
#[must_use]
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(3)
}

/// An upper bound on the tokens of `text` under a byte-level tokenizer: its length in bytes
/// (every token covers at least one byte).
#[must_use]
pub fn max_tokens_of(text: &str) -> u64 {
    text.len() as u64
}

/// An upper bound on the prompt tokens of `request`: the bytes of every message plus
/// [`MESSAGE_OVERHEAD_TOKENS`] each, the bytes of every tool's name, description and schema
/// plus the same overhead each, plus [`REQUEST_OVERHEAD_TOKENS`].
#[must_use]
pub fn prompt_tokens_upper_bound(request: &ChatRequest) -> u64 {
    let messages = request.messages.iter().fold(0u64, |acc, m| {
        acc.saturating_add(max_tokens_of(&m.content))
            .saturating_add(MESSAGE_OVERHEAD_TOKENS)
    });
    let tools = request.tools.iter().fold(0u64, |acc, t| {
        acc.saturating_add(max_tokens_of(&t.name))
            .saturating_add(max_tokens_of(&t.description))
            .saturating_add(max_tokens_of(&t.parameters_json))
            .saturating_add(MESSAGE_OVERHEAD_TOKENS)
    });
    messages
        .saturating_add(tools)
        .saturating_add(REQUEST_OVERHEAD_TOKENS)
}

/// The most tokens `request` can use: [`prompt_tokens_upper_bound`] in, and all of
/// `max_tokens` out (`u32::MAX` when the request sets none).
#[must_use]
pub fn worst_case_usage(request: &ChatRequest) -> Usage {
    Usage::new(
        prompt_tokens_upper_bound(request),
        u64::from(request.max_tokens.unwrap_or(u32::MAX)),
    )
}

/// Tokens to bill when a provider reports no usage: the upper bounds (the prompt's, and the
/// answer's bytes capped by `max_tokens`), so an estimate never under-counts.
#[must_use]
pub fn usage_upper_bound(request: &ChatRequest, response: &ChatResponse) -> Usage {
    let answer = response
        .tool_calls
        .iter()
        .fold(max_tokens_of(&response.content), |acc, t| {
            acc.saturating_add(max_tokens_of(&t.name))
                .saturating_add(max_tokens_of(&t.arguments_json))
        });
    let cap = u64::from(request.max_tokens.unwrap_or(u32::MAX));
    Usage::new(prompt_tokens_upper_bound(request), answer.min(cap))
}

/// A paid call that went through: the answer, what it used and what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeteredResponse {
    /// The provider's answer.
    pub response: ChatResponse,
    /// Tokens billed (reported, or the upper bound when none were reported).
    pub usage: Usage,
    /// Whether `usage` is the upper bound because the provider reported none.
    pub usage_estimated: bool,
    /// dagent's figure: `usage` at the model's price.
    pub cost: Money,
    /// The provider's own figure, when it reported one.
    pub reported_cost: Option<Money>,
    /// The worst case that was reserved for the call.
    pub worst_case: Money,
    /// The billing name of the model that answered: the requested one, or the alternative
    /// the provider said answered (OpenRouter's `models` fallbacks).
    pub model: String,
}

/// A model a provider may answer with instead of the requested one (OpenRouter's `models`
/// fallback list): its id as the provider names it in answers, its billing name and price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alternative {
    /// The provider's id of the model (matched against the answer's `model`).
    pub id: String,
    /// The model's name in the configuration (what the call is billed under).
    pub name: String,
    /// Its price.
    pub price: Price,
}

impl Alternative {
    /// Whether an answer naming `answered` came from this model: the same id, or the id
    /// followed by a version suffix (`openai/gpt-4o-mini-2024-07-18`).
    #[must_use]
    pub fn matches(&self, answered: &str) -> bool {
        answered == self.id
            || answered
                .strip_prefix(self.id.as_str())
                .is_some_and(|rest| rest.starts_with(['-', ':', '@']))
    }
}

/// Why a metered call did not produce an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeteredError {
    /// The tracker refused the reservation: nothing was sent.
    Budget(TaskError),
    /// The provider failed; the reservation was released.
    Provider(ProviderError),
}

impl fmt::Display for MeteredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Budget(e) => write!(f, "{}", e.message()),
            Self::Provider(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MeteredError {}

impl From<MeteredError> for TaskError {
    fn from(e: MeteredError) -> Self {
        match e {
            MeteredError::Budget(e) => e,
            MeteredError::Provider(e) => e.into(),
        }
    }
}

/// The one path every paid call takes: reserve the worst case of `request` at `price` in
/// `tracker` (a guard), send it through `provider`, and settle the reservation on the
/// reported usage — or on the upper bound when the provider reports none. A provider error
/// releases the reservation; so does dropping this future (a timeout, a cancellation).
///
/// # Errors
/// [`MeteredError::Budget`] when the tracker refuses (nothing is sent);
/// [`MeteredError::Provider`] when the call fails.
pub async fn metered_chat(
    provider: &dyn ChatProvider,
    tracker: &dyn CostTracker,
    price: Price,
    request: &ChatRequest,
    billing: Billing,
) -> Result<MeteredResponse, MeteredError> {
    metered_chat_with(provider, tracker, price, &[], request, billing).await
}

/// [`metered_chat`] for a call the provider may answer with another model: the worst case
/// is priced at the largest price among the requested model and `alternatives`, and the
/// call is billed under (and at the price of) the model the answer names, when it names one
/// of them. With no alternatives it is exactly [`metered_chat`].
///
/// # Errors
/// As [`metered_chat`].
pub async fn metered_chat_with(
    provider: &dyn ChatProvider,
    tracker: &dyn CostTracker,
    price: Price,
    alternatives: &[Alternative],
    request: &ChatRequest,
    mut billing: Billing,
) -> Result<MeteredResponse, MeteredError> {
    let bound = alternatives
        .iter()
        .fold(price.upper_bound(), |acc, a| acc.covering(a.price));
    let worst_case = bound.cost(worst_case_usage(request));
    let reservation = tracker
        .reserve(&billing.model, worst_case)
        .await
        .map_err(MeteredError::Budget)?;
    // No await between the reservation and the call: a call is sent only while its
    // reservation is held.
    let response = match provider.chat(request).await {
        Ok(r) => r,
        Err(e) => {
            reservation.release();
            return Err(MeteredError::Provider(e));
        }
    };
    let (usage, usage_estimated) = match response.usage {
        Some(u) => (u, false),
        None => (usage_upper_bound(request, &response), true),
    };
    let mut price = price;
    if response.model != request.model
        && let Some(a) = alternatives.iter().find(|a| a.matches(&response.model))
    {
        price = a.price;
        billing.model.clone_from(&a.name);
    }
    let cost = price.cost(usage);
    let reported_cost = response.reported_cost;
    let model = billing.model.clone();
    reservation.settle(Charge {
        billing,
        usage,
        usage_estimated,
        cost,
        reported_cost,
    });
    Ok(MeteredResponse {
        response,
        usage,
        usage_estimated,
        cost,
        reported_cost,
        worst_case,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatMessage, ToolSpec};

    #[test]
    fn the_prompt_bound_counts_bytes_and_overheads() {
        let req = ChatRequest {
            messages: vec![ChatMessage::system("héllo"), ChatMessage::user("abc")],
            tools: vec![ToolSpec {
                name: "f".into(),
                description: "d".into(),
                parameters_json: "{}".into(),
            }],
            max_tokens: Some(10),
            ..ChatRequest::default()
        };
        // 6 + 3 bytes + 2 × 16, tool 1 + 1 + 2 + 16, request 16.
        assert_eq!(prompt_tokens_upper_bound(&req), 9 + 32 + 20 + 16);
        assert_eq!(worst_case_usage(&req), Usage::new(77, 10));
        let no_cap = ChatRequest::default();
        assert_eq!(
            worst_case_usage(&no_cap).completion_tokens,
            u64::from(u32::MAX)
        );
    }

    #[test]
    fn a_missing_usage_is_billed_at_its_upper_bound_capped_by_max_tokens() {
        let req = ChatRequest {
            messages: vec![ChatMessage::user("abcd")],
            max_tokens: Some(5),
            ..ChatRequest::default()
        };
        let resp = ChatResponse {
            content: "0123456789".into(),
            ..ChatResponse::default()
        };
        assert_eq!(usage_upper_bound(&req, &resp), Usage::new(4 + 16 + 16, 5));
        assert_eq!(estimate_tokens("abcdefg"), 3);
    }
}
