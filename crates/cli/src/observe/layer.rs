//! A `tracing` layer that turns the providers' `provider_call` spans into metrics
//! (latency, tokens, cost, in-flight calls and errors per endpoint) and the executor's
//! `run stopped` event into the breaker gauge. The libraries only emit; this reads.

use std::sync::Arc;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::Live;

/// The span the providers' task runner opens around each model call.
const CALL_SPAN: &str = "provider_call";

/// What a model call's span says.
#[derive(Debug, Default)]
struct Call {
    task: String,
    model: String,
    endpoint: String,
    input: u64,
    output: u64,
    cost_nanos: u64,
    status: String,
    error_type: String,
}

impl Visit for Call {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "gen_ai.usage.input_tokens" => self.input = value,
            "gen_ai.usage.output_tokens" => self.output = value,
            "cost_nanos" => self.cost_nanos = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, u64::try_from(value).unwrap_or(0));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%value` fields arrive here, formatted by their `Display`.
        self.set(field, format!("{value:?}"));
    }
}

impl Call {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "task" => self.task = value,
            "model" => self.model = value,
            "endpoint" => self.endpoint = value,
            "status" => self.status = value,
            "error.type" => self.error_type = value,
            _ => {}
        }
    }
}

/// A call's fields and when it started (kept in its span's extensions).
struct Timed {
    call: Call,
    started: Instant,
}

/// Whether an event reports the circuit breaker opening (`stop = "breaker"`).
#[derive(Default)]
struct StopVisitor {
    breaker: bool,
}

impl Visit for StopVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "stop" && value == "breaker" {
            self.breaker = true;
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// Feeds [`Live`] from the spans and events of a run.
#[derive(Debug)]
pub(crate) struct MetricsLayer {
    live: Arc<Live>,
}

impl MetricsLayer {
    pub(crate) fn new(live: Arc<Live>) -> Self {
        Self { live }
    }
}

impl<S> tracing_subscriber::Layer<S> for MetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != CALL_SPAN {
            return;
        }
        let mut call = Call::default();
        attrs.record(&mut call);
        self.live.call_started(&call.endpoint);
        if !call.task.is_empty() {
            self.live.set_model(&call.task, &call.model);
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Timed {
                call,
                started: Instant::now(),
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(timed) = span.extensions_mut().get_mut::<Timed>()
        {
            values.record(&mut timed.call);
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut v = StopVisitor::default();
        event.record(&mut v);
        if v.breaker {
            self.live.breaker_opened();
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(Timed { call, started }) = span.extensions_mut().remove::<Timed>() else {
            return;
        };
        let outcome = if call.status == "ok" {
            Ok((call.input, call.output, call.cost_nanos))
        } else if !call.error_type.is_empty() {
            Err(call.error_type.as_str())
        } else if call.status.is_empty() {
            // Dropped before it ended: cancelled, or timed out by the executor.
            Err("cancelled")
        } else {
            Err(call.status.as_str())
        };
        self.live
            .call_ended(&call.endpoint, &call.model, started.elapsed(), outcome);
    }
}
