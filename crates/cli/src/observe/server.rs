//! The metrics server of `dagent run --metrics-addr`: `/metrics`, `/health`, `/status`,
//! on hyper's HTTP/1 server, for as long as the run lasts.
//!
//! The address is bound before anything is paid for (a taken port is bad input); a bare
//! port binds loopback only.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::Live;

/// Binds `addr`: `PORT` (loopback), or `HOST:PORT` as given (`0.0.0.0:9090` listens on
/// every interface).
pub(crate) fn bind(addr: &str) -> Result<TcpListener, String> {
    let target: Vec<SocketAddr> = if let Ok(port) = addr.parse::<u16>() {
        vec![SocketAddr::from(([127, 0, 0, 1], port))]
    } else {
        addr.to_socket_addrs()
            .map_err(|e| format!("not a port or HOST:PORT address ({e})"))?
            .collect()
    };
    let listener =
        TcpListener::bind(&target[..]).map_err(|e| format!("cannot listen there: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen there: {e}"))?;
    Ok(listener)
}

fn respond(live: &Live, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, kind, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            live.metrics_text(),
        ),
        "/health" => (
            StatusCode::OK,
            "application/json",
            "{\"status\":\"ok\"}\n".to_owned(),
        ),
        "/status" => (
            StatusCode::OK,
            "application/json",
            format!("{:#}\n", live.status_json()),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: try /metrics, /health or /status\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, v);
    }
    response
}

/// Serves until the runtime ends (the run is over); needs a tokio runtime.
pub(crate) async fn serve(listener: TcpListener, live: Arc<Live>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        tracing::warn!("the metrics server could not start");
        return;
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = respond(&live, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
