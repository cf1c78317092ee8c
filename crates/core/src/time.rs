//! Human-friendly durations: `"45s"`, `"1m30s"`, `"250ms"`, `"1.5h"`.

use std::fmt;
use std::time::Duration;

/// Error returned by [`parse_duration`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDurationError {
    input: String,
}

impl fmt::Display for ParseDurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: expected a number followed by a unit, e.g. \"45s\", \"1m30s\", \"250ms\", \"2h\" (units: ms, s, m, h)",
            self.input
        )
    }
}

impl std::error::Error for ParseDurationError {}

/// Parses a duration written as one or more `<number><unit>` parts (`ms`, `s`, `m`, `h`),
/// e.g. `"45s"`, `"1m30s"`, `"1.5s"`, `"250ms"`. A bare number is seconds.
///
/// # Errors
/// Returns [`ParseDurationError`] for empty input, unknown units, or values that overflow.
pub fn parse_duration(input: &str) -> Result<Duration, ParseDurationError> {
    let err = || ParseDurationError {
        input: input.to_owned(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err());
    }
    let mut total_ms: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let factor = match unit {
            "ms" => 1.0,
            "" | "s" | "sec" | "secs" => 1_000.0,
            "m" | "min" | "mins" => 60_000.0,
            "h" | "hr" | "hrs" => 3_600_000.0,
            "d" | "day" | "days" => 86_400_000.0,
            _ => return Err(err()),
        };
        if unit.is_empty() && num_len != s.len() {
            // A bare number is only accepted on its own ("45"), not inside "1m30".
            return Err(err());
        }
        total_ms += value * factor;
        rest = rest[unit_len..].trim_start();
    }
    if !total_ms.is_finite() || total_ms > 1e15 {
        return Err(err());
    }
    let micros = (total_ms * 1_000.0).round();
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Duration::from_micros(micros as u64))
}

/// Formats a duration compactly for people: `45s`, `1m 45s`, `250ms`, `1h 2m`.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        if ms == 0 && d.as_micros() > 0 {
            return format!("{}µs", d.as_micros());
        }
        return format!("{ms}ms");
    }
    let total_s = d.as_secs();
    if total_s < 60 {
        let tenths = (ms % 1_000) / 100;
        return if tenths == 0 {
            format!("{total_s}s")
        } else {
            format!("{total_s}.{tenths}s")
        };
    }
    let (h, m, s) = (total_s / 3600, (total_s % 3600) / 60, total_s % 60);
    match (h, s) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{m}m {s}s"),
        (_, _) if m == 0 => format!("{h}h"),
        _ => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "s", "abc", "10 parsecs", "1m30", "-5s", "1e400s", "5x"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_secs(105)), "1m 45s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h 2m");
    }
}
