//! Several servers behind one provider name.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dagent_core::{BoxFuture, ChatProvider, ChatRequest, ChatResponse, ProviderError};

/// Endpoints of one provider (e.g. two llama.cpp servers). Each call goes to the endpoint
/// with the fewest calls in flight (ties: the first). Pair it with a per-provider
/// concurrency limit of `endpoints × per-endpoint limit`.
pub struct EndpointPool {
    name: String,
    endpoints: Vec<Arc<dyn ChatProvider>>,
    in_flight: Vec<AtomicUsize>,
}

impl std::fmt::Debug for EndpointPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointPool")
            .field("name", &self.name)
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

impl EndpointPool {
    /// A pool named `name` over `endpoints` (at least one).
    #[must_use]
    pub fn new(name: impl Into<String>, endpoints: Vec<Arc<dyn ChatProvider>>) -> Self {
        let in_flight = endpoints.iter().map(|_| AtomicUsize::new(0)).collect();
        Self {
            name: name.into(),
            endpoints,
            in_flight,
        }
    }

    /// Number of endpoints.
    #[must_use]
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Whether the pool is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}

struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ChatProvider for EndpointPool {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let i = (0..self.endpoints.len())
                .min_by_key(|&i| self.in_flight[i].load(Ordering::SeqCst))
                .ok_or_else(|| {
                    ProviderError::new(
                        dagent_core::ProviderErrorKind::Connection,
                        "no endpoint configured",
                    )
                })?;
            self.in_flight[i].fetch_add(1, Ordering::SeqCst);
            let _slot = Slot(&self.in_flight[i]);
            self.endpoints[i].chat(request).await
        })
    }
}
