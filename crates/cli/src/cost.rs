//! `dagent cost`: the cost calculator.

use std::fmt::Write as _;
use std::process::ExitCode;

use dagent_core::{Money, Usage};
use serde::Serialize;

use crate::args::{CostArgs, TableFormat};
use crate::diag::Failure;

#[derive(Serialize)]
struct Row {
    model: String,
    input_per_million_usd: String,
    output_per_million_usd: String,
    per_request_usd: String,
    daily_usd: String,
    monthly_usd: String,
    savings_vs_baseline_usd: String,
    savings_vs_baseline_percent: f64,
}

#[derive(Serialize)]
struct Doc {
    input_tokens: u64,
    output_tokens: u64,
    requests_per_day: u64,
    days: u64,
    baseline: String,
    models: Vec<Row>,
}

fn usd(m: Money) -> String {
    m.to_string().trim_start_matches('$').to_owned()
}

pub(crate) fn run(args: &CostArgs) -> Result<ExitCode, Failure> {
    let config = crate::settings::Settings::from_env(args.config.as_deref())?;
    let cat = &config.models.catalogue;
    let unknown = |name: &str| {
        Failure::bad_input(format!(
            "error: unknown model \"{name}\" (known: {}); define others under [models.NAME] in dagent.toml",
            cat.names().join(", ")
        ))
    };
    let baseline = cat
        .get(&args.baseline)
        .ok_or_else(|| unknown(&args.baseline))?;
    let names: Vec<String> = if args.models.is_empty() {
        cat.names().into_iter().map(str::to_owned).collect()
    } else {
        args.models.clone()
    };
    let requests = args.requests_per_day.saturating_mul(args.days);
    // Monthly cost from the month's total tokens (exact), per request from one request.
    let monthly_of = |price: &dagent_core::Price| {
        price.cost(Usage::new(
            args.input_tokens.saturating_mul(requests),
            args.output_tokens.saturating_mul(requests),
        ))
    };
    let base_monthly = monthly_of(&baseline.price);
    let mut rows = Vec::new();
    for name in &names {
        let info = cat.get(name).ok_or_else(|| unknown(name))?;
        let monthly = monthly_of(&info.price);
        let daily = info.price.cost(Usage::new(
            args.input_tokens.saturating_mul(args.requests_per_day),
            args.output_tokens.saturating_mul(args.requests_per_day),
        ));
        let (saved, percent) = if base_monthly.nanos() == 0 {
            (String::from("0.00"), 0.0)
        } else if monthly <= base_monthly {
            #[allow(clippy::cast_precision_loss)]
            let p = (base_monthly.nanos() - monthly.nanos()) as f64 / base_monthly.nanos() as f64
                * 100.0;
            (usd(base_monthly.saturating_sub(monthly)), p)
        } else {
            #[allow(clippy::cast_precision_loss)]
            let p = (monthly.nanos() - base_monthly.nanos()) as f64 / base_monthly.nanos() as f64
                * 100.0;
            (
                format!("-{}", usd(monthly.saturating_sub(base_monthly))),
                -p,
            )
        };
        rows.push(Row {
            model: name.clone(),
            input_per_million_usd: usd(info.price.input_per_million),
            output_per_million_usd: usd(info.price.output_per_million),
            per_request_usd: usd(info
                .price
                .cost(Usage::new(args.input_tokens, args.output_tokens))),
            daily_usd: usd(daily),
            monthly_usd: usd(monthly),
            savings_vs_baseline_usd: saved,
            savings_vs_baseline_percent: (percent * 10.0).round() / 10.0,
        });
    }
    rows.sort_by(|a, b| {
        let m = |r: &Row| r.monthly_usd.parse::<Money>().unwrap_or(Money::ZERO);
        m(a).cmp(&m(b)).then_with(|| a.model.cmp(&b.model))
    });
    let doc = Doc {
        input_tokens: args.input_tokens,
        output_tokens: args.output_tokens,
        requests_per_day: args.requests_per_day,
        days: args.days,
        baseline: args.baseline.clone(),
        models: rows,
    };
    match args.format {
        TableFormat::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&doc)
                    .map_err(|e| Failure::bad_input(e.to_string()))?
            );
        }
        TableFormat::Text => print!("{}", text(&doc)),
    }
    Ok(ExitCode::SUCCESS)
}

fn text(d: &Doc) -> String {
    let mut out = format!(
        "Scenario: {} input + {} output tokens per request, {} requests/day, {}-day month; baseline {}\n\n",
        d.input_tokens, d.output_tokens, d.requests_per_day, d.days, d.baseline
    );
    let w = d
        .models
        .iter()
        .map(|r| r.model.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        out,
        "  {:<w$}  {:>9}  {:>9}  {:>12}  {:>11}  {:>12}  {:>8}",
        "model", "in $/1M", "out $/1M", "per request", "per day", "per month", "savings"
    );
    for r in &d.models {
        let savings = if r.model == d.baseline {
            "baseline".to_owned()
        } else {
            format!("{:.1}%", r.savings_vs_baseline_percent)
        };
        let _ = writeln!(
            out,
            "  {:<w$}  {:>9}  {:>9}  {:>12}  {:>11}  {:>12}  {:>8}",
            r.model,
            r.input_per_million_usd,
            r.output_per_million_usd,
            r.per_request_usd,
            r.daily_usd,
            r.monthly_usd,
            savings
        );
    }
    let _ = writeln!(
        out,
        "\nPrices are per 1M tokens (built-in prices as of {}; override them under [models.NAME]).",
        dagent_providers::BUILTIN_PRICES_AS_OF
    );
    out
}
