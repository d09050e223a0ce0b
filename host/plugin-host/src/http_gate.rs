//! The wasi:http door: outgoing requests are sent only to authorities the call's permit
//! admits; anything else fails with `HTTP-request-denied` before a connection is made.

use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::permit::Permit;
use crate::stats::Stats;

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// The wasi:http hooks of one call.
pub(crate) struct HttpGate {
    plugin: Arc<str>,
    permit: Arc<Permit>,
    stats: Option<Arc<Stats>>,
}

impl HttpGate {
    pub fn new(plugin: Arc<str>, permit: Arc<Permit>, stats: Option<Arc<Stats>>) -> Self {
        Self {
            plugin,
            permit,
            stats,
        }
    }
}

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        if !self.permit.admits_authority(request.uri()) {
            tracing::warn!(
                plugin = %self.plugin,
                uri = %request.uri(),
                "HTTP request denied: the authority was not requested and granted"
            );
            if let Some(stats) = &self.stats {
                stats.denied("network");
            }
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as IoFuture,
            ))
        })
    }
}
