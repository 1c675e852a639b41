//! The RPC transport every provider of the SDK uses: HTTP with connect and request timeouts,
//! alloy's retry layer for failures in transit, and a watch on sends that re-syncs the shared
//! nonce sequence when one fails.

use std::{
    fmt,
    task::{Context, Poll},
    time::Duration,
};

use alloy::{
    primitives::{B256, Bytes, keccak256},
    rpc::{
        client::RpcClient,
        json_rpc::{Id, Request, RequestPacket, Response, ResponsePacket, ResponsePayload},
    },
    transports::{
        TransportError, TransportErrorKind, TransportFut,
        http::{
            Http,
            reqwest::{self, Url},
        },
        layers::{RateLimitRetryPolicy, RetryBackoffLayer, RetryPolicy},
    },
};
use tower::{Layer, Service};

use crate::{Result, SdkError, nonce::SharedNonceManager};

/// Timeouts and retries of every RPC request a provider makes.
///
/// A request that fails in transit (no connection, connection closed or reset, no answer within
/// `request_timeout`, HTTP 429 or 5xx) is sent again up to `max_retries` times, `backoff` apart.
/// An answer from the node (a revert, a rejected transaction) is never retried. Re-sending a
/// transaction is safe: it is the same signed transaction, so the node mines it at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcOptions {
    /// Longest wait for a TCP connection to the RPC to open.
    pub connect_timeout: Duration,
    /// Longest wait for one attempt's whole answer (connecting included).
    pub request_timeout: Duration,
    /// Attempts after the first for a request that failed in transit.
    pub max_retries: u32,
    /// Pause before each retry (a `Retry-After` from the server takes precedence).
    pub backoff: Duration,
}

impl Default for RpcOptions {
    /// 5 s to connect, 10 s per attempt, 3 retries 500 ms apart: a dead RPC is reported within
    /// about 42 s instead of hanging forever.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Parses an RPC URL with an error that names it.
pub(crate) fn parse_url(rpc_url: &str) -> Result<Url> {
    rpc_url.parse().map_err(|e| SdkError::Transport(format!("bad RPC URL {rpc_url:?}: {e}")))
}

/// An RPC client for `url` with `options`; when `nonces` is given, every failed transaction send
/// (or gas estimate, which runs while a nonce is reserved) makes it re-read the next nonce from
/// the chain.
pub(crate) fn rpc_client(
    url: Url,
    options: &RpcOptions,
    nonces: Option<SharedNonceManager>,
) -> Result<RpcClient> {
    let http = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .build()
        .map_err(|e| SdkError::Transport(format!("cannot build the HTTP client: {e}")))?;
    let retry = RetryBackoffLayer::new_with_policy(
        options.max_retries,
        u64::try_from(options.backoff.as_millis()).unwrap_or(u64::MAX),
        // No compute-unit budget: the backoff alone paces retries.
        u64::MAX,
        InTransitPolicy,
    );
    let transport = Http::with_client(http, url);
    let is_local = transport.guess_local();
    Ok(RpcClient::builder()
        .layer(NonceWatchLayer { nonces })
        .layer(retry)
        .layer(ClassifyLayer { timeout: options.request_timeout })
        .transport(transport, is_local))
}

/// Why a request failed in transit, in words an operator can act on.
#[derive(Debug)]
enum InTransit {
    /// No answer within the request timeout.
    TimedOut(Duration),
    /// No connection could be opened.
    Connect(reqwest::Error),
    /// The connection failed while sending or receiving (closed, reset).
    Broken(reqwest::Error),
}

impl fmt::Display for InTransit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut(timeout) => {
                write!(
                    f,
                    "the RPC did not answer within {} s (request timed out)",
                    timeout.as_secs_f32()
                )
            }
            Self::Connect(e) => write!(f, "cannot connect to the RPC: {}", chain(e)),
            Self::Broken(e) => write!(f, "the RPC connection failed: {}", chain(e)),
        }
    }
}

impl std::error::Error for InTransit {}

/// An error and its sources on one line (reqwest's own message omits the cause).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns reqwest's failures into [`InTransit`] errors, which [`InTransitPolicy`] retries.
#[derive(Debug, Clone)]
struct ClassifyLayer {
    timeout: Duration,
}

impl<S> Layer<S> for ClassifyLayer {
    type Service = Classify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Classify { inner, timeout: self.timeout }
    }
}

#[derive(Debug, Clone)]
struct Classify<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<RequestPacket> for Classify<S>
where
    S: Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        > + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let timeout = self.timeout;
        let call = self.inner.call(request);
        Box::pin(async move { call.await.map_err(|e| classify(e, timeout)) })
    }
}

fn classify(error: TransportError, timeout: Duration) -> TransportError {
    let TransportError::Transport(TransportErrorKind::Custom(custom)) = error else {
        return error;
    };
    let Some(http) = custom.downcast_ref::<reqwest::Error>() else {
        return TransportError::Transport(TransportErrorKind::Custom(custom));
    };
    // A connect timeout is both: report it as the connect failure it is.
    let in_transit = if http.is_connect() {
        InTransit::Connect(into_reqwest(custom))
    } else if http.is_timeout() {
        InTransit::TimedOut(timeout)
    } else if http.is_request() || http.is_body() || http.is_decode() {
        InTransit::Broken(into_reqwest(custom))
    } else {
        return TransportError::Transport(TransportErrorKind::Custom(custom));
    };
    TransportErrorKind::custom(in_transit)
}

/// Takes the reqwest error out of its box (checked by the caller's downcast).
fn into_reqwest(custom: Box<dyn std::error::Error + Send + Sync>) -> reqwest::Error {
    *custom.downcast::<reqwest::Error>().expect("the caller checked it is a reqwest error")
}

/// Retries failures in transit and what alloy deems retryable (429, 503, rate-limit answers,
/// empty answers); never an answer such as a revert or a rejected transaction.
#[derive(Debug, Clone, Copy)]
struct InTransitPolicy;

impl RetryPolicy for InTransitPolicy {
    fn should_retry(&self, error: &TransportError) -> bool {
        let in_transit = matches!(
            error,
            TransportError::Transport(TransportErrorKind::Custom(custom))
                if custom.is::<InTransit>()
        );
        let gateway = matches!(
            error,
            TransportError::Transport(TransportErrorKind::HttpError(http))
                if matches!(http.status, 502..=504)
        );
        in_transit || gateway || RateLimitRetryPolicy::default().should_retry(error)
    }

    fn backoff_hint(&self, error: &TransportError) -> Option<Duration> {
        RateLimitRetryPolicy::default().backoff_hint(error)
    }
}

/// Watches requests that spend a reserved nonce. A send the node reports failed although it
/// knows the transaction (an earlier attempt got through and only its answer was lost, so the
/// retry is refused as "already imported" or "nonce too low") is answered with the transaction's
/// hash: the send did happen. Any other failure re-syncs the shared nonce sequence.
#[derive(Debug, Clone)]
struct NonceWatchLayer {
    nonces: Option<SharedNonceManager>,
}

impl<S> Layer<S> for NonceWatchLayer {
    type Service = NonceWatch<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NonceWatch { inner, nonces: self.nonces.clone() }
    }
}

#[derive(Debug, Clone)]
struct NonceWatch<S> {
    inner: S,
    nonces: Option<SharedNonceManager>,
}

/// Methods whose failure leaves a reserved nonce unused: the send itself, and the gas estimate
/// the nonce filler runs alongside the reservation.
const SPENDS_NONCE: [&str; 2] = ["eth_sendRawTransaction", "eth_estimateGas"];

impl<S> Service<RequestPacket> for NonceWatch<S>
where
    S: Service<
            RequestPacket,
            Response = ResponsePacket,
            Error = TransportError,
            Future = TransportFut<'static>,
        > + Clone
        + Send
        + 'static,
{
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let watched = request.method_names().any(|method| SPENDS_NONCE.contains(&method));
        let nonces = self.nonces.clone().filter(|_| watched);
        let sent = sent_transaction(&request);
        let mut lookup = self.inner.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let failed = match &result {
                Ok(response) => response.is_error(),
                Err(_) => true,
            };
            if !failed {
                return result;
            }
            if let Some((id, hash)) = sent
                && node_knows(&mut lookup, hash).await
            {
                return Ok(sent_response(id, hash));
            }
            if let Some(nonces) = nonces {
                nonces.resync();
            }
            result
        })
    }
}

/// The request id and transaction hash of a single `eth_sendRawTransaction` (the hash of a
/// signed transaction is the keccak of its raw bytes).
fn sent_transaction(request: &RequestPacket) -> Option<(Id, B256)> {
    let request = request.as_single().filter(|r| r.method() == "eth_sendRawTransaction")?;
    let (raw,): (Bytes,) = serde_json::from_str(request.params()?.get()).ok()?;
    Some((request.id().clone(), keccak256(&raw)))
}

/// Whether the node has transaction `hash` (pending or mined).
async fn node_knows<S>(inner: &mut S, hash: B256) -> bool
where
    S: Service<RequestPacket, Response = ResponsePacket, Error = TransportError>,
{
    let Ok(request) = Request::new("eth_getTransactionByHash", Id::Number(0), (hash,)).serialize()
    else {
        return false;
    };
    match inner.call(RequestPacket::Single(request)).await {
        Ok(ResponsePacket::Single(Response { payload: ResponsePayload::Success(tx), .. })) => {
            tx.get() != "null"
        }
        _ => false,
    }
}

/// The answer a successful `eth_sendRawTransaction` with id `id` would have had.
fn sent_response(id: Id, hash: B256) -> ResponsePacket {
    let payload =
        serde_json::value::to_raw_value(&hash).expect("a hash serializes as a JSON string");
    ResponsePacket::Single(Response { id, payload: ResponsePayload::Success(payload) })
}

#[cfg(test)]
mod tests {
    use alloy::{
        rpc::json_rpc::ErrorPayload,
        transports::{HttpError, RpcError},
    };

    use super::*;

    #[test]
    fn retries_failures_in_transit_never_answers() {
        let policy = InTransitPolicy;
        let timed_out = TransportErrorKind::custom(InTransit::TimedOut(Duration::from_secs(10)));
        assert!(policy.should_retry(&timed_out));
        assert!(timed_out.to_string().contains("did not answer within 10 s"), "{timed_out}");
        for status in [429, 502, 503, 504] {
            let http = TransportError::Transport(TransportErrorKind::HttpError(HttpError {
                status,
                body: String::new(),
            }));
            assert!(policy.should_retry(&http), "HTTP {status}");
        }
        let bad_request = TransportError::Transport(TransportErrorKind::HttpError(HttpError {
            status: 400,
            body: String::new(),
        }));
        assert!(!policy.should_retry(&bad_request));
        let revert: TransportError = RpcError::ErrorResp(ErrorPayload {
            code: 3,
            message: "execution reverted".into(),
            data: None,
        });
        assert!(!policy.should_retry(&revert), "a revert is an answer");
        let rejected: TransportError = RpcError::ErrorResp(ErrorPayload {
            code: -32003,
            message: "nonce too low".into(),
            data: None,
        });
        assert!(!policy.should_retry(&rejected), "a rejected transaction is an answer");
    }

    #[test]
    fn a_send_is_known_by_the_hash_of_its_raw_bytes() {
        let raw = Bytes::from_static(&[0x02, 0xf8, 0x6f, 0x01]);
        let request = Request::new("eth_sendRawTransaction", Id::Number(7), (raw.clone(),))
            .serialize()
            .expect("serialize");
        let (id, hash) = sent_transaction(&RequestPacket::Single(request)).expect("a send");
        assert_eq!((id, hash), (Id::Number(7), keccak256(&raw)));
        let call = Request::new("eth_call", Id::Number(8), (raw,)).serialize().expect("serialize");
        assert_eq!(sent_transaction(&RequestPacket::Single(call)), None);

        let response = sent_response(Id::Number(7), hash);
        let answer = response.as_single().expect("single");
        assert_eq!(answer.id, Id::Number(7));
        let ResponsePayload::Success(payload) = &answer.payload else { panic!("a success") };
        assert_eq!(payload.get(), format!("\"{hash}\""));
    }
}
