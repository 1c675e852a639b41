//! Checks every `ledger_` call's params against the SDK's method catalogue before the typed
//! handler decodes them, so a bad param is refused with -32602 and a message that names the param
//! and what was expected (the handler's own decoding would only say "Invalid params"). Calls
//! outside the catalogue (unsubscribe, `rpc.discover`, `oracle_` methods) pass through.

use compute_ledger_sdk::api::spec;
use futures::future::Either;
use jsonrpsee::{
    core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT},
    server::MethodResponse,
    types::{ErrorObjectOwned, Request, error::INVALID_PARAMS_CODE},
};

/// An invalid-params error with `reason`.
pub(crate) fn invalid(reason: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS_CODE, reason.into(), None::<()>)
}

/// The reason `method`'s `params` are refused, if they are.
fn refusal(method: &str, params: Option<&str>) -> Option<ErrorObjectOwned> {
    let spec = spec::find(method)?;
    spec.check(params).err().map(invalid)
}

/// The middleware (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct ValidateParams<S>(pub(crate) S);

impl<S> RpcServiceT for ValidateParams<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let params = request.params.as_ref().map(|p| p.get());
        match refusal(request.method_name(), params) {
            Some(error) => {
                Either::Left(std::future::ready(MethodResponse::error(request.id, error)))
            }
            None => Either::Right(self.0.call(request)),
        }
    }

    fn batch<'a>(
        &self,
        mut requests: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in requests.iter_mut() {
            let refused = match entry {
                Ok(BatchEntry::Call(request)) => {
                    let params = request.params.as_ref().map(|p| p.get());
                    refusal(request.method_name(), params).map(|e| (request.id.clone(), e))
                }
                _ => None,
            };
            if let Some((id, error)) = refused {
                *entry = Err(BatchEntryErr::new(id, error));
            }
        }
        self.0.batch(requests)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.0.notification(n)
    }
}
