//! A small OpenADR 3.1 REST client: the parts of the API a demand-response program uses, for both
//! sides: the grid's business logic (programs, VEN objects, events, reading reports) and the
//! site's VEN (reading its events, posting reports). JSON shapes follow the OpenADR 3.1
//! specification as the OpenLEADR VTN serves it.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::sync::Mutex;

use crate::{NodeError, Result};

/// How long one VTN request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A token is renewed this long before the VTN says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// A VTN client logged in with OAuth2 client credentials (the secret is kept for renewals and
/// never printed: `Debug` shows only the client id).
pub struct VtnClient {
    base: String,
    client_id: String,
    secret: String,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for VtnClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtnClient")
            .field("base", &self.base)
            .field("client_id", &self.client_id)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// An OpenADR program (what the VTN returns; only the fields the ledger reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    /// The VTN's id.
    pub id: String,
    /// Unique name.
    pub program_name: String,
}

/// The period of an interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalPeriod {
    /// RFC 3339 start.
    pub start: String,
    /// ISO 8601 duration (e.g. `PT90S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// One typed list of values (`{"type": "SIMPLE", "values": [1]}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValuesMap {
    /// The payload type (`SIMPLE`, `BASELINE`, `USAGE`, …).
    #[serde(rename = "type")]
    pub value_type: String,
    /// Its values.
    pub values: Vec<serde_json::Value>,
}

/// One interval of an event or a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    /// Index within its parent.
    pub id: i32,
    /// When; absent: the parent's period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    /// What.
    pub payloads: Vec<ValuesMap>,
}

/// An event to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "objectType", rename = "EVENT")]
pub struct EventRequest {
    /// The program.
    #[serde(rename = "programID")]
    pub program_id: String,
    /// Name (the ledger's convention: see [`super::event_name`]).
    pub event_name: String,
    /// VEN targets that may see it.
    pub targets: Vec<String>,
    /// Its intervals.
    pub intervals: Vec<Interval>,
}

/// An event as the VTN returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The VTN's id.
    pub id: String,
    /// The program.
    #[serde(rename = "programID")]
    pub program_id: String,
    /// Name.
    #[serde(default)]
    pub event_name: Option<String>,
    /// Targets visible to the caller.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// Its intervals.
    #[serde(default)]
    pub intervals: Vec<Interval>,
}

/// A report resource (one metered thing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportResource {
    /// `AGGREGATED_REPORT` for the whole site.
    pub resource_name: String,
    /// The period the intervals cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_period: Option<IntervalPeriod>,
    /// Values.
    pub intervals: Vec<Interval>,
}

/// A report to post, or one read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "objectType", rename = "REPORT")]
pub struct Report {
    /// The event reported on.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// The VEN's client name.
    pub client_name: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_name: Option<String>,
    /// What was measured.
    pub resources: Vec<ReportResource>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase", tag = "objectType", rename = "BL_VEN_REQUEST")]
struct VenRequest<'a> {
    #[serde(rename = "clientID")]
    client_id: &'a str,
    ven_name: &'a str,
    targets: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase", tag = "objectType", rename = "PROGRAM")]
struct ProgramRequest<'a> {
    program_name: &'a str,
}

impl VtnClient {
    /// A client of the VTN at `base` (e.g. `http://127.0.0.1:3100`) with these credentials.
    pub fn new(base: &str, client_id: &str, secret: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| NodeError::OpenAdr(format!("HTTP client: {e}")))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            secret: secret.to_owned(),
            http,
            token: Mutex::new(None),
        })
    }

    /// The VTN's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// This client's OAuth client id (the VEN's `clientName` in its reports).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    async fn token(&self) -> Result<String> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let url = format!("{}/auth/token", self.base);
        let response = self
            .http
            .post(&url)
            .basic_auth(&self.client_id, Some(&self.secret))
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST {
            return Err(NodeError::OpenAdr(format!(
                "log-in of {} at {url} refused (HTTP {status}): wrong client id or secret, or the \
                 VTN has no such user",
                self.client_id
            )));
        }
        let token: TokenResponse = decode(response, &url).await?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300));
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        *cached = Some((token.access_token.clone(), until));
        Ok(token.access_token)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let token = self.token().await?;
        let mut request = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            *self.token.lock().await = None; // expired early (VTN restarted): log in again next call
        }
        decode(response, &url).await
    }

    /// Creates a program (grid side).
    pub async fn create_program(&self, name: &str) -> Result<Program> {
        self.call(Method::POST, "/programs", Some(&ProgramRequest { program_name: name })).await
    }

    /// The program named `name`, if any.
    pub async fn program_named(&self, name: &str) -> Result<Option<Program>> {
        let programs: Vec<Program> = self.call(Method::GET, "/programs", None::<&()>).await?;
        Ok(programs.into_iter().find(|p| p.program_name == name))
    }

    /// Creates the VEN object of a site's VEN client, visible under `target` (grid side).
    pub async fn create_ven(
        &self,
        ven_client_id: &str,
        ven_name: &str,
        target: &str,
    ) -> Result<()> {
        let request =
            VenRequest { client_id: ven_client_id, ven_name, targets: vec![target.into()] };
        let _: serde_json::Value = self.call(Method::POST, "/vens", Some(&request)).await?;
        Ok(())
    }

    /// Creates an event (grid side).
    pub async fn create_event(&self, event: &EventRequest) -> Result<Event> {
        self.call(Method::POST, "/events", Some(event)).await
    }

    /// The events this client may see (a VEN: those targeted at it or at nobody).
    pub async fn events(&self) -> Result<Vec<Event>> {
        self.call(Method::GET, "/events", None::<&()>).await
    }

    /// Posts a report (VEN side).
    pub async fn post_report(&self, report: &Report) -> Result<()> {
        let _: serde_json::Value = self.call(Method::POST, "/reports", Some(report)).await?;
        Ok(())
    }

    /// The reports on one event (grid side).
    pub async fn reports(&self, event_id: &str) -> Result<Vec<Report>> {
        self.call(Method::GET, &format!("/reports?eventID={event_id}"), None::<&()>).await
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response, url: &str) -> Result<T> {
    let status = response.status();
    let body = response.bytes().await.map_err(|e| unreachable(url, &e))?;
    if !status.is_success() {
        let detail: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        return Err(NodeError::OpenAdr(format!("{url} answered HTTP {status}: {detail}")));
    }
    serde_json::from_slice(&body).map_err(|e| {
        NodeError::OpenAdr(format!("{url} answered what is not OpenADR 3.1 JSON: {e}"))
    })
}

fn unreachable(url: &str, e: &reqwest::Error) -> NodeError {
    NodeError::OpenAdr(format!(
        "VTN unreachable at {url}: {e}; is it running and is the URL right?"
    ))
}
