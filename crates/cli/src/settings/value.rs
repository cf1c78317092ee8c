//! The one validated parser for setting values — numbers, durations, fractions, rates,
//! booleans, names — used alike for `dagent.toml` values, `DAGENT_*` variables and flags.
//!
//! Every rule bounds its values, so no setting can carry a number that overflows a
//! `Duration` or a rate limiter later (`1e20` seconds, `1e-300` tasks per second, `nan`).

use std::fmt;
use std::time::Duration;

/// Longest duration any setting accepts: ten years. Longer ones are almost certainly
/// mistakes, and `0` already means "no limit" where that makes sense.
pub(crate) const MAX_SECONDS: f64 = 315_360_000.0;
/// Slowest launch rate accepted: one task in about 11.6 days.
pub(crate) const MIN_RATE: f64 = 1e-6;
/// Fastest launch rate accepted.
pub(crate) const MAX_RATE: f64 = 1e6;
/// Largest count (tasks at once, retries, …) accepted.
pub(crate) const MAX_COUNT: u64 = 1_000_000;

/// A value as written: a TOML value (from the file) or text (a variable or a flag).
#[derive(Clone, Debug)]
pub(crate) enum Raw<'a> {
    Toml(&'a toml::Value),
    Text(&'a str),
}

/// A validated value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Count(u64),
    /// `None`: disabled (written as 0) or unset.
    Seconds(Option<Duration>),
    SecondsList(Vec<Duration>),
    /// `None`: unlimited / unset.
    Number(Option<f64>),
    Text(Option<String>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Count(n) => write!(f, "{n}"),
            Self::Seconds(None) | Self::Number(None) | Self::Text(None) => f.write_str("none"),
            Self::Seconds(Some(d)) => f.write_str(&seconds_text(*d)),
            Self::SecondsList(list) => {
                let items: Vec<String> = list.iter().map(|d| seconds_text(*d)).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Self::Number(Some(x)) => write!(f, "{x}"),
            Self::Text(Some(s)) => write!(f, "{s:?}"),
        }
    }
}

fn seconds_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// How a key's value is validated.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rule {
    Bool,
    /// A whole number in `min..=MAX_COUNT`.
    Count {
        min: u64,
    },
    /// Seconds (a number, or a duration such as `"30s"`, `"5m"`); `0` disables when
    /// `zero_disables`, else `0` is refused.
    Seconds {
        zero_disables: bool,
    },
    /// One duration or a non-empty list of them (`[1, 5, 15]`; `"1,5,15"` as text).
    SecondsList,
    /// A launch rate per second in `MIN_RATE..=MAX_RATE`.
    Rate,
    /// A fraction in `0..=1`.
    Fraction,
    /// A positive factor in `1e-6..=1e6` (time scales).
    Factor,
    /// One of a fixed set of names, checked by the function.
    Name(fn(&str) -> Result<(), String>),
    /// Any non-empty text.
    Text,
    /// A size in bytes, `1..=MAX_BYTES`: a whole number, optionally with `KiB`, `MiB` or
    /// `GiB` (`"256MiB"`).
    Bytes,
}

/// Largest size accepted: 1 TiB.
pub(crate) const MAX_BYTES: u64 = 1 << 40;

impl Rule {
    /// Validates `raw`; the error is the rule's message, without location (the caller adds
    /// the file position, the variable or the flag).
    pub(crate) fn parse(self, raw: &Raw<'_>) -> Result<Value, String> {
        match self {
            Self::Bool => match raw {
                Raw::Toml(toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
                Raw::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
                    "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
                    _ => Err("must be true or false".into()),
                },
                Raw::Toml(_) => Err("must be true or false".into()),
            },
            Self::Count { min } => {
                let x = number(raw).ok_or_else(|| count_message(min))?;
                if x.fract() != 0.0 || x < min as f64 || x > MAX_COUNT as f64 {
                    return Err(count_message(min));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Value::Count(x as u64))
            }
            Self::Seconds { zero_disables } => {
                let d = seconds(raw, zero_disables)?;
                Ok(Value::Seconds(d))
            }
            Self::SecondsList => {
                let items: Vec<Raw<'_>> = match raw {
                    Raw::Toml(toml::Value::Array(a)) => a.iter().map(Raw::Toml).collect(),
                    Raw::Toml(v) => vec![Raw::Toml(v)],
                    Raw::Text(t) => t.split(',').map(|s| Raw::Text(s.trim())).collect(),
                };
                let list_message = "must be a number of seconds or a non-empty list of them, each at most 315360000 (ten years), e.g. [1, 5, 15]";
                if items.is_empty() {
                    return Err(list_message.into());
                }
                let mut out = Vec::with_capacity(items.len());
                for item in &items {
                    match seconds(item, true) {
                        Ok(d) => out.push(d.unwrap_or(Duration::ZERO)),
                        Err(_) => return Err(list_message.into()),
                    }
                }
                Ok(Value::SecondsList(out))
            }
            Self::Rate => {
                let msg = "must be a number of tasks per second between 0.000001 and 1000000";
                let x = number(raw).ok_or(msg)?;
                if !(MIN_RATE..=MAX_RATE).contains(&x) {
                    return Err(msg.into());
                }
                Ok(Value::Number(Some(x)))
            }
            Self::Fraction => {
                let msg = "must be a fraction between 0 and 1, e.g. 0.5";
                let x = number(raw).ok_or(msg)?;
                if !(0.0..=1.0).contains(&x) {
                    return Err(msg.into());
                }
                Ok(Value::Number(Some(x)))
            }
            Self::Factor => {
                let msg = "must be a positive number between 0.000001 and 1000000, e.g. 0.1";
                let x = number(raw).ok_or(msg)?;
                if !(1e-6..=1e6).contains(&x) {
                    return Err(msg.into());
                }
                Ok(Value::Number(Some(x)))
            }
            Self::Name(check) => {
                let s = text(raw).ok_or("must be a string")?;
                check(s)?;
                Ok(Value::Text(Some(s.to_owned())))
            }
            Self::Bytes => {
                let msg = "must be a size in bytes between 1 and 1099511627776 (1 TiB), e.g. 268435456 or \"256MiB\"";
                let n = match raw {
                    Raw::Toml(toml::Value::Integer(i)) => u64::try_from(*i).ok(),
                    _ => text(raw).and_then(bytes),
                };
                match n {
                    Some(n) if (1..=MAX_BYTES).contains(&n) => Ok(Value::Count(n)),
                    _ => Err(msg.into()),
                }
            }
            Self::Text => {
                let s = text(raw).ok_or("must be a string")?;
                if s.trim().is_empty() {
                    return Err("must not be empty".into());
                }
                Ok(Value::Text(Some(s.to_owned())))
            }
        }
    }
}

/// `"268435456"`, `"256MiB"`, `"1 GiB"`, `"512KiB"`.
fn bytes(t: &str) -> Option<u64> {
    let t = t.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: u64 = t[..digits].parse().ok()?;
    let factor: u64 = match t[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn count_message(min: u64) -> String {
    if min == 0 {
        format!("must be a whole number between 0 and {MAX_COUNT}")
    } else {
        format!("must be at least {min} (a whole number, at most {MAX_COUNT})")
    }
}

/// A finite number: a TOML integer or float, or text that parses as one.
fn number(raw: &Raw<'_>) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    let x = match raw {
        Raw::Toml(toml::Value::Integer(i)) => *i as f64,
        Raw::Toml(toml::Value::Float(f)) => *f,
        Raw::Toml(_) => return None,
        Raw::Text(t) => t.trim().parse::<f64>().ok()?,
    };
    x.is_finite().then_some(x)
}

fn text<'a>(raw: &'a Raw<'a>) -> Option<&'a str> {
    match raw {
        Raw::Toml(toml::Value::String(s)) => Some(s),
        Raw::Toml(_) => None,
        Raw::Text(t) => Some(t),
    }
}

/// Seconds as a number, or a duration with a unit (`"90s"`, `"5m"`, `"1h 30m"`).
fn seconds(raw: &Raw<'_>, zero_disables: bool) -> Result<Option<Duration>, String> {
    let msg = if zero_disables {
        "must be a number of seconds between 0 and 315360000 (ten years), or a duration such as \"30s\" or \"5m\"; 0 disables it"
    } else {
        "must be a positive number of seconds, at most 315360000 (ten years), or a duration such as \"30s\" or \"5m\""
    };
    let secs = match number(raw) {
        Some(x) => x,
        None => {
            let t = text(raw).ok_or(msg)?;
            dagent_core::parse_duration(t.trim())
                .map_err(|_| msg.to_owned())?
                .as_secs_f64()
        }
    };
    if !(0.0..=MAX_SECONDS).contains(&secs) || (secs == 0.0 && !zero_disables) {
        return Err(msg.into());
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_value(rule: Rule, s: &str) -> Result<Value, String> {
        rule.parse(&Raw::Text(s))
    }

    #[test]
    fn out_of_range_numbers_are_refused_not_panics() {
        let secs = Rule::Seconds {
            zero_disables: true,
        };
        for bad in ["1e20", "nan", "inf", "-1", "1e300", "lots"] {
            assert!(text_value(secs, bad).is_err(), "{bad}");
            assert!(text_value(Rule::SecondsList, bad).is_err(), "{bad}");
        }
        for bad in ["1e-300", "0", "nan", "1e300", "-5"] {
            assert!(text_value(Rule::Rate, bad).is_err(), "{bad}");
            assert!(text_value(Rule::Factor, bad).is_err(), "{bad}");
        }
        let toml_huge = toml::Value::Float(1e20);
        assert!(secs.parse(&Raw::Toml(&toml_huge)).is_err());
        assert!(text_value(Rule::Count { min: 1 }, "0").is_err());
        assert!(text_value(Rule::Count { min: 1 }, "1.5").is_err());
        assert!(text_value(Rule::Count { min: 0 }, "1e20").is_err());
    }

    #[test]
    fn the_same_rule_reads_files_and_text_alike() {
        let secs = Rule::Seconds {
            zero_disables: true,
        };
        assert_eq!(
            text_value(secs, "90"),
            Ok(Value::Seconds(Some(Duration::from_secs(90))))
        );
        assert_eq!(
            text_value(secs, "1m 30s"),
            Ok(Value::Seconds(Some(Duration::from_secs(90))))
        );
        assert_eq!(text_value(secs, "0"), Ok(Value::Seconds(None)));
        let ninety = toml::Value::Integer(90);
        assert_eq!(
            secs.parse(&Raw::Toml(&ninety)),
            Ok(Value::Seconds(Some(Duration::from_secs(90))))
        );
        assert_eq!(
            text_value(Rule::SecondsList, "1, 5,15"),
            Ok(Value::SecondsList(vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(15)
            ]))
        );
        assert_eq!(text_value(Rule::Bool, "off"), Ok(Value::Bool(false)));
        assert_eq!(
            text_value(Rule::Bytes, "256MiB"),
            Ok(Value::Count(256 << 20))
        );
        assert_eq!(text_value(Rule::Bytes, "4096"), Ok(Value::Count(4096)));
        assert!(text_value(Rule::Bytes, "0").is_err());
        assert!(text_value(Rule::Bytes, "99999999999999999999GiB").is_err());
        assert_eq!(text_value(Rule::Rate, "2.5"), Ok(Value::Number(Some(2.5))));
    }
}
