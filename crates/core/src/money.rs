//! Exact money: integer nano-dollars, never summed floats.

use std::fmt;
use std::ops::{Add, AddAssign};
use std::str::FromStr;

use crate::Usage;

const NANOS_PER_DOLLAR: u64 = 1_000_000_000;

/// An amount of money in US dollars, held as an integer number of nano-dollars
/// (10⁻⁹ $). Sums are exact; arithmetic saturates instead of wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Money(u64);

/// Error from parsing a decimal amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseMoneyError {
    input: String,
}

impl fmt::Display for ParseMoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid amount {:?}: expected a non-negative decimal such as \"0.15\" or \"$3\" with at most 9 decimal places",
            self.input
        )
    }
}

impl std::error::Error for ParseMoneyError {}

impl Money {
    /// Zero dollars.
    pub const ZERO: Self = Self(0);

    /// An amount of nano-dollars.
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// A whole number of dollars (saturating).
    #[must_use]
    pub const fn from_dollars(dollars: u64) -> Self {
        Self(dollars.saturating_mul(NANOS_PER_DOLLAR))
    }

    /// The amount in nano-dollars.
    #[must_use]
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// Saturating subtraction.
    #[must_use]
    pub const fn saturating_sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }

    /// Saturating multiplication by a count.
    #[must_use]
    pub const fn saturating_mul(self, n: u64) -> Self {
        Self(self.0.saturating_mul(n))
    }

    /// The amount as an `f64` of dollars — for display and ratios only, never for sums.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn as_dollars_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_DOLLAR as f64
    }
}

impl FromStr for Money {
    type Err = ParseMoneyError;

    /// Parses `"0.15"`, `"$3"`, `"12.000000001"` exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseMoneyError {
            input: s.to_owned(),
        };
        let t = s.trim();
        let t = t.strip_prefix('$').unwrap_or(t);
        if t.is_empty() {
            return Err(err());
        }
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if (whole.is_empty() && frac.is_empty())
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > 9
        {
            return Err(err());
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| err())?
        };
        let mut frac_nanos: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_nanos += u64::from(b - b'0') * 10u64.pow(8 - u32::try_from(i).map_err(|_| err())?);
        }
        whole
            .checked_mul(NANOS_PER_DOLLAR)
            .and_then(|w| w.checked_add(frac_nanos))
            .map(Self)
            .ok_or_else(err)
    }
}

impl fmt::Display for Money {
    /// Dollars with as many decimals as needed (at least 2): `$0.15`, `$0.000123`, `$12.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / NANOS_PER_DOLLAR;
        let frac = self.0 % NANOS_PER_DOLLAR;
        let mut digits = format!("{frac:09}");
        while digits.len() > 2 && digits.ends_with('0') {
            digits.pop();
        }
        write!(f, "${whole}.{digits}")
    }
}

impl Add for Money {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

/// A model's price: dollars per 1,000,000 input and output tokens, held exactly, with
/// optional prices of cached prompt tokens and of reasoning tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Price {
    /// Price of 1M prompt tokens.
    pub input_per_million: Money,
    /// Price of 1M completion tokens.
    pub output_per_million: Money,
    /// Price of 1M prompt tokens read from the provider's cache (`None`: the input price).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub cached_input_per_million: Option<Money>,
    /// Price of 1M reasoning tokens (`None`: the output price).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub reasoning_per_million: Option<Money>,
}

impl Price {
    /// A price from per-1M amounts.
    #[must_use]
    pub const fn new(input_per_million: Money, output_per_million: Money) -> Self {
        Self {
            input_per_million,
            output_per_million,
            cached_input_per_million: None,
            reasoning_per_million: None,
        }
    }

    /// The same price with a cached-input and a reasoning price (builder style).
    #[must_use]
    pub const fn with_details(
        mut self,
        cached_input: Option<Money>,
        reasoning: Option<Money>,
    ) -> Self {
        self.cached_input_per_million = cached_input;
        self.reasoning_per_million = reasoning;
        self
    }

    /// The cost of `usage` at this price: cached prompt tokens at the cached-input price and
    /// reasoning tokens at the reasoning price where set, the rest at the input and output
    /// prices. Each part is rounded **up** to the next nano-dollar, so a sum of costs never
    /// undercounts.
    #[must_use]
    pub fn cost(&self, usage: Usage) -> Money {
        let cached = usage.cached_prompt_tokens.min(usage.prompt_tokens);
        let reasoning = usage.reasoning_tokens.min(usage.completion_tokens);
        scale(self.input_per_million, usage.prompt_tokens - cached)
            + scale(
                self.cached_input_per_million
                    .unwrap_or(self.input_per_million),
                cached,
            )
            + scale(self.output_per_million, usage.completion_tokens - reasoning)
            + scale(
                self.reasoning_per_million
                    .unwrap_or(self.output_per_million),
                reasoning,
            )
    }

    /// The most any token can cost at this price: input at the larger of the input and
    /// cached-input prices, output at the larger of the output and reasoning prices. A
    /// worst case priced with it bounds every split of the same token counts.
    #[must_use]
    pub fn upper_bound(&self) -> Self {
        Self::new(
            self.input_per_million
                .max(self.cached_input_per_million.unwrap_or(Money::ZERO)),
            self.output_per_million
                .max(self.reasoning_per_million.unwrap_or(Money::ZERO)),
        )
    }

    /// The larger of two prices, side by side (for a call that may be answered by either
    /// model).
    #[must_use]
    pub fn covering(self, other: Self) -> Self {
        let a = self.upper_bound();
        let b = other.upper_bound();
        Self::new(
            a.input_per_million.max(b.input_per_million),
            a.output_per_million.max(b.output_per_million),
        )
    }
}

fn scale(per_million: Money, tokens: u64) -> Money {
    let product = u128::from(per_million.0) * u128::from(tokens);
    let nanos = product.div_ceil(1_000_000);
    Money(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> Money {
        s.parse().expect("valid amount")
    }

    #[test]
    fn parses_decimal_strings_exactly() {
        assert_eq!(m("0.15").nanos(), 150_000_000);
        assert_eq!(m("$3").nanos(), 3_000_000_000);
        assert_eq!(m("0.000000001").nanos(), 1);
        assert_eq!(m(".5").nanos(), 500_000_000);
        for bad in ["", "$", "abc", "1.0000000001", "-1", "1,5", "1e3"] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn displays_dollars() {
        assert_eq!(m("0.15").to_string(), "$0.15");
        assert_eq!(m("12").to_string(), "$12.00");
        assert_eq!(m("0.000123").to_string(), "$0.000123");
    }

    #[test]
    fn cost_is_exact_and_rounds_up() {
        let price = Price::new(m("3"), m("15"));
        // 1,000 in × $3/M = $0.003; 500 out × $15/M = $0.0075
        assert_eq!(price.cost(Usage::new(1_000, 500)), m("0.0105"));
        let cheap = Price::new(m("0.0001"), Money::ZERO);
        // 1 token × $0.0001/M = 0.1 nano-dollars, rounded up to 1.
        assert_eq!(cheap.cost(Usage::new(1, 0)).nanos(), 1);
    }

    #[test]
    fn cached_and_reasoning_tokens_have_their_own_prices_and_the_bound_covers_them() {
        let price = Price::new(m("1"), m("2")).with_details(Some(m("0.1")), Some(m("4")));
        let u = Usage::new(1_000, 500).with_details(800, 300);
        // 200 × 1 + 800 × 0.1 + 200 × 2 + 300 × 4 per million.
        assert_eq!(price.cost(u), m("0.00188"));
        // Details larger than their totals are capped, never underflow.
        let odd = Usage::new(10, 10).with_details(99, 99);
        assert_eq!((odd.cached_prompt_tokens, odd.reasoning_tokens), (10, 10));
        // Without detail prices, the split changes nothing.
        assert_eq!(Price::new(m("1"), m("2")).cost(u), m("0.002"));
        // The upper bound prices every token at the dearer rate of its side.
        let bound = price.upper_bound();
        assert_eq!(
            (bound.input_per_million, bound.output_per_million),
            (m("1"), m("4"))
        );
        for split in [(0, 0), (1_000, 0), (0, 500), (1_000, 500), (300, 200)] {
            let u = Usage::new(1_000, 500).with_details(split.0, split.1);
            assert!(
                price.cost(u) <= bound.cost(Usage::new(1_000, 500)),
                "{split:?}"
            );
        }
        // Two prices side by side: the larger of each.
        let other = Price::new(m("5"), m("1"));
        let both = price.covering(other);
        assert_eq!(
            (both.input_per_million, both.output_per_million),
            (m("5"), m("4"))
        );
    }

    #[test]
    fn sums_do_not_drift() {
        let c = m("0.1");
        let total: Money = std::iter::repeat_n(c, 1_000_000).sum();
        assert_eq!(total, m("100000"));
    }
}
