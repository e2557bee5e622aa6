//! The HTTP server loop: axum's router on hyper connections with a header-read timeout.
//!
//! `axum::serve` offers no way to set hyper's `header_read_timeout`, and without it a
//! client that never finishes its request head holds a connection (and a task) forever
//! (slowloris). This is `axum::serve(..).with_graceful_shutdown(..)` with that one
//! setting added: the same `ConnectInfo<SocketAddr>`, the same accept-error handling
//! (`axum::serve::Listener`), and the same shutdown (stop accepting, let every
//! connection finish its in-flight request, then return).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::serve::Listener;
use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{Service, ServiceExt};

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open
/// connections to finish their current request.
///
/// `header_read_timeout` bounds the time from the moment a connection waits for a
/// request head (a new connection, or an idle keep-alive one) until the whole head
/// has arrived; past it hyper closes the connection.
pub async fn serve(
    mut listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    // hyper's HTTP/1 builder rather than hyper-util's `auto` one: `auto` first waits
    // for the bytes that tell HTTP/1 from HTTP/2, with no timeout, so a client that
    // connects and sends nothing was never cut off. We serve HTTP/1.1 only (axum's
    // `http2` feature is off), so there is nothing to tell apart.
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);

    // Dropping the receiver is the signal: every connection task watches `closed()`.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Each connection task holds a receiver; `closed()` resolves when all have ended.
    let (close_tx, close_rx) = watch::channel(());

    loop {
        let (stream, remote) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = signal_tx.closed() => break,
        };
        let service = match ServiceExt::<SocketAddr>::ready(&mut make_service).await {
            Ok(ready) => ready.call(remote).await,
            Err(never) => match never {},
        };
        let service = match service {
            Ok(service) => service.map_request(|request: Request<Incoming>| request.map(Body::new)),
            Err(never) => match never {},
        };
        let builder = builder.clone();
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let hyper_service = TowerToHyperService::new(service);
            let connection = builder.serve_connection(TokioIo::new(stream), hyper_service).with_upgrades();
            let mut connection = std::pin::pin!(connection);
            // Fused: the signal is seen once, then only the connection is polled.
            let mut signalled = std::pin::pin!(signal_tx.closed().fuse());
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        // Timeouts and clients that hang up end up here; nothing to answer.
                        if let Err(err) = result {
                            tracing::debug!(error = %err, %remote, "connection ended with an error");
                        }
                        break;
                    }
                    () = &mut signalled => connection.as_mut().graceful_shutdown(),
                }
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}
