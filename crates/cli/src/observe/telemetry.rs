//! The subscriber the CLI installs: logs on stderr (`-v`, `-q`, `RUST_LOG`,
//! `--log-format`), and when asked, the live-metrics layer and the OTLP trace export
//! (cargo feature `otlp`). Each has its own filter, so quiet logs do not starve the
//! metrics or the traces of the spans they read.
//!
//! The OTLP exporter batches spans on a thread of its own; [`Telemetry::shutdown`]
//! flushes it before the process exits, whatever the command's outcome.

use std::sync::Arc;

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::Live;
use super::layer::MetricsLayer;
use crate::args::{Cli, Command, LogFormat};
use crate::diag::Failure;

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

/// What must be flushed before the process exits.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    #[cfg(feature = "otlp")]
    tracer: Option<(opentelemetry_sdk::trace::SdkTracerProvider, Reporting)>,
}

impl Telemetry {
    /// Sends the spans still buffered and stops the exporter (bounded by its timeout);
    /// says so when spans could not be exported.
    pub(crate) fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some((provider, reporting)) = self.tracer {
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: the trace export did not finish: {e}");
            }
            if let Some(e) = reporting.first_failure() {
                eprintln!(
                    "warning: traces could not be exported to {}: {e}",
                    reporting.url
                );
            }
        }
    }
}

/// The OTLP exporter, remembering its first failure (the SDK drops export errors
/// silently; a user should hear that the traces went nowhere).
#[cfg(feature = "otlp")]
#[derive(Clone, Debug)]
struct Reporting {
    url: String,
    failure: Arc<std::sync::Mutex<Option<String>>>,
}

#[cfg(feature = "otlp")]
impl Reporting {
    fn first_failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

#[cfg(feature = "otlp")]
#[derive(Debug)]
struct ReportingExporter {
    inner: opentelemetry_otlp::SpanExporter,
    reporting: Reporting,
}

#[cfg(feature = "otlp")]
impl opentelemetry_sdk::trace::SpanExporter for ReportingExporter {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        let sent = self.inner.export(batch);
        let failure = Arc::clone(&self.reporting.failure);
        async move {
            let result = sent.await;
            if let Err(e) = &result
                && let Ok(mut first) = failure.lock()
            {
                first.get_or_insert_with(|| e.to_string());
            }
            result
        }
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// dagent's own spans (run, task, attempt, provider_call) and events, for metrics and traces.
fn dagent_targets() -> Targets {
    Targets::new()
        .with_target("dagent", tracing::Level::INFO)
        .with_target("dagent_executor", tracing::Level::INFO)
        .with_target("dagent_providers", tracing::Level::INFO)
        .with_target("dagent_analyzers", tracing::Level::INFO)
        .with_target("dagent_store", tracing::Level::INFO)
}

/// The OTLP endpoint asked for: `--otlp-endpoint`, else `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn otlp_endpoint(cli: &Cli) -> Option<String> {
    cli.otlp_endpoint
        .clone()
        .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok())
        .filter(|s| !s.trim().is_empty())
}

/// Whether a URL's authority has a user or password (`scheme://user:pw@host`).
fn carries_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.contains('@')
}

/// The URL spans are posted to: the base endpoint with `/v1/traces` appended (as
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is defined), unless it already ends with it.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn traces_url(base: &str) -> String {
    let base = base.trim();
    if base.trim_end_matches('/').ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

#[cfg(feature = "otlp")]
fn otlp_layer(
    endpoint: &str,
) -> Result<
    (
        BoxedLayer,
        (opentelemetry_sdk::trace::SdkTracerProvider, Reporting),
    ),
    Failure,
> {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    if carries_credentials(endpoint) {
        // Not echoed: the URL holds a secret.
        return Err(Failure::bad_input(
            "error: --otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) carries credentials (user:password@): dagent does not put secrets in URLs it may print; give the collector's address without them, and its credentials in OTEL_EXPORTER_OTLP_HEADERS",
        ));
    }
    let url = traces_url(endpoint);
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Failure::bad_input(format!(
            "error: --otlp-endpoint {endpoint}: an http:// or https:// URL is needed (OTLP over HTTP, e.g. http://127.0.0.1:4318)"
        )));
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url.clone())
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| Failure::bad_input(format!("error: --otlp-endpoint {endpoint}: {e}")))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("dagent")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let reporting = Reporting {
        url,
        failure: Arc::default(),
    };
    let exporter = ReportingExporter {
        inner: exporter,
        reporting: reporting.clone(),
    };
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("dagent"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(dagent_targets())
        .boxed();
    Ok((layer, (provider, reporting)))
}

/// Installs the subscriber: stderr logs at the level of RUST_LOG, else -v / -q (default:
/// warnings), as text or JSON lines; plus the metrics layer feeding `live` and the OTLP
/// export when asked for.
pub(crate) fn init(cli: &Cli, live: Option<&Arc<Live>>) -> Result<Telemetry, Failure> {
    let quiet = matches!(&cli.command, Command::Run(r) if r.quiet);
    let level = match (quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(level));
    let ansi = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(true);
    let mut layers: Vec<BoxedLayer> = vec![match cli.log_format {
        LogFormat::Json => fmt
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    }];
    if let Some(live) = live {
        layers.push(
            MetricsLayer::new(Arc::clone(live))
                .with_filter(dagent_targets())
                .boxed(),
        );
    }
    #[cfg_attr(not(feature = "otlp"), allow(unused_mut))]
    let mut telemetry = Telemetry::default();
    if let Some(endpoint) = otlp_endpoint(cli) {
        #[cfg(feature = "otlp")]
        {
            let (layer, provider) = otlp_layer(&endpoint)?;
            layers.push(layer);
            telemetry.tracer = Some(provider);
        }
        #[cfg(not(feature = "otlp"))]
        {
            return Err(Failure::bad_input(format!(
                "error: --otlp-endpoint {endpoint}: this dagent was built without the `otlp` feature"
            )));
        }
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Ok(telemetry)
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn the_traces_path_is_appended_to_a_base_endpoint_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://otel.example/v1/traces"),
            "https://otel.example/v1/traces"
        );
    }
}
