//! Logs and traces: `tracing` to stderr (human or JSON), plus OpenTelemetry
//! export over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! The filter comes from `RUST_LOG` (default `info`). The W3C trace-context
//! propagator is always installed so trace context can ride in NATS headers and
//! HTTP requests whether or not this process exports spans itself.

use std::io::IsTerminal;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The environment variable that turns OTLP export on (standard OpenTelemetry name).
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable; coloured when stderr is a terminal.
    #[default]
    Auto,
    /// Human-readable, never coloured.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Keeps the trace exporter alive; call [`Telemetry::shutdown`] before exit so
/// buffered spans are flushed.
#[must_use = "dropping the guard without shutdown() may lose buffered spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes and stops the span exporter (a no-op without one).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(error) = provider.shutdown() {
                eprintln!("warning: cannot flush OpenTelemetry spans: {error}");
            }
        }
    }
}

/// Installs the global subscriber for a program named `service` (used as the
/// OpenTelemetry `service.name` unless `OTEL_SERVICE_NAME` says otherwise).
pub fn init(service: &'static str, format: LogFormat) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env()
        .context("invalid RUST_LOG")?;

    let stderr = std::io::stderr;
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(stderr)
            .boxed(),
        LogFormat::Text | LogFormat::Auto => tracing_subscriber::fmt::layer()
            .with_ansi(format == LogFormat::Auto && std::io::stderr().is_terminal())
            .with_writer(stderr)
            .boxed(),
    };

    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = match std::env::var(OTLP_ENDPOINT_VAR) {
        Ok(endpoint) if !endpoint.trim().is_empty() => Some(otlp_provider(service)?),
        _ => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .context("cannot install the tracing subscriber")?;
    if provider.is_some() {
        tracing::info!(endpoint = %std::env::var(OTLP_ENDPOINT_VAR).unwrap_or_default(), "exporting traces over OTLP");
    }
    Ok(Telemetry { provider })
}

fn otlp_provider(service: &'static str) -> anyhow::Result<SdkTracerProvider> {
    // The exporter's HTTP client uses rustls without a built-in provider (the
    // workspace builds rustls with *ring* only): make *ring* the process
    // default first. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and the other standard
    // OTEL_EXPORTER_OTLP_* variables) itself and appends /v1/traces.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .context("cannot build the OTLP span exporter")?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    Ok(provider)
}
