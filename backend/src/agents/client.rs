//! Calls to agents: one pooled HTTPS client per host that trusts only the
//! host's pinned certificate, a cached EdDSA request signature per (host,
//! caller), and the mapping of agent answers and failures to the public
//! API's errors (the status and detail relayed, the host named).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::Problem;
use bytes::Bytes;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::keys::AgentSigner;
use crate::db::hosts::HostRecord;
use crate::error::ApiError;
use crate::tls;

/// How long a request signature is reused before a fresh one is made.
const TOKEN_REUSE_SECS: i64 = 60;

/// Every host's client.
pub struct Agents {
    signer: Arc<AgentSigner>,
    clients: Mutex<HashMap<String, Arc<HostClient>>>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agents").finish_non_exhaustive()
    }
}

impl Agents {
    pub fn new(signer: AgentSigner) -> Self {
        Agents {
            signer: Arc::new(signer),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn public_key_pem(&self) -> &str {
        &self.signer.public_key_pem
    }

    pub fn signer(&self) -> &AgentSigner {
        &self.signer
    }

    /// The client of a host, made on first use and kept while the host's
    /// address and pinned certificate stay the same.
    pub fn client(&self, host: &HostRecord) -> Result<Arc<HostClient>, ApiError> {
        let mut map = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&host.id)
            && c.address == host.address
            && c.fingerprint == host.cert_sha256
        {
            let mut c = c.clone();
            if c.name != host.name {
                let mut fresh = (*c).clone();
                fresh.name = host.name.clone();
                c = Arc::new(fresh);
                map.insert(host.id.clone(), c.clone());
            }
            return Ok(c);
        }
        let c = Arc::new(HostClient::new(host, self.signer.clone())?);
        map.insert(host.id.clone(), c.clone());
        Ok(c)
    }

    /// Drops a host's client (and its pooled connections).
    pub fn forget(&self, host_id: &str) {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(host_id);
    }
}

/// The connection pool and identity of one host.
#[derive(Clone)]
pub struct HostClient {
    pub host_id: String,
    pub name: String,
    address: String,
    base: Url,
    fingerprint: String,
    http: reqwest::Client,
    /// For WebSocket relays (HTTP/1.1 only).
    pub ws_tls: Arc<rustls::ClientConfig>,
    signer: Arc<AgentSigner>,
    tokens: Arc<Mutex<HashMap<String, (String, i64)>>>,
}

impl HostClient {
    fn new(host: &HostRecord, signer: Arc<AgentSigner>) -> Result<Self, ApiError> {
        let base = Url::parse(&host.address).map_err(|e| ApiError::Host {
            status: 502,
            host: host.id.clone(),
            detail: format!("the host's address {:?} is not a URL: {e}", host.address),
        })?;
        let cfg = tls::pinned_client_config(&host.cert_sha256, &[b"h2", b"http/1.1"])
            .map_err(ApiError::internal)?;
        let ws_cfg = tls::pinned_client_config(&host.cert_sha256, &[b"http/1.1"])
            .map_err(ApiError::internal)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(cfg)
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .http2_keep_alive_while_idle(true)
            .no_proxy()
            .build()
            .map_err(ApiError::internal)?;
        Ok(HostClient {
            host_id: host.id.clone(),
            name: host.name.clone(),
            address: host.address.clone(),
            base,
            fingerprint: host.cert_sha256.clone(),
            http,
            ws_tls: Arc::new(ws_cfg),
            signer,
            tokens: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// `<address>/<segments...>?<query>`; segments and query pairs are
    /// percent-encoded.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut s) = u.path_segments_mut() {
            s.pop_if_empty();
            for seg in segments {
                s.push(seg);
            }
        }
        u.set_query(None);
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// `Authorization` value for a call on behalf of `sub`.
    pub fn bearer(&self, sub: &str) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let mut map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, iat)) = map.get(sub)
            && now - iat < TOKEN_REUSE_SECS
        {
            return Ok(format!("Bearer {t}"));
        }
        let (t, iat) = self
            .signer
            .sign(&self.host_id, sub)
            .map_err(ApiError::internal)?;
        if map.len() > 1000 {
            map.clear();
        }
        map.insert(sub.to_string(), (t.clone(), iat));
        Ok(format!("Bearer {t}"))
    }

    /// A signed request.
    pub fn request(
        &self,
        method: Method,
        url: Url,
        sub: &str,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        Ok(self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, self.bearer(sub)?))
    }

    fn host_error(&self, status: u16, detail: String) -> ApiError {
        ApiError::Host {
            status,
            host: self.host_id.clone(),
            detail,
        }
    }

    /// Maps a transport failure.
    pub fn transport_error(&self, e: &reqwest::Error) -> ApiError {
        if e.is_timeout() {
            return self.host_error(504, format!("host {} timed out", self.name));
        }
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            src = s.source();
        }
        let detail = if chain.contains("fingerprint mismatch") {
            format!(
                "host {} presented a certificate other than the one pinned at join",
                self.name
            )
        } else if e.is_connect() {
            format!("host {} is unreachable: {chain}", self.name)
        } else {
            format!("host {} failed: {chain}", self.name)
        };
        self.host_error(502, detail)
    }

    /// Turns a non-success agent answer into the error the client sees.
    pub fn answer_error(&self, status: u16, body: &[u8]) -> ApiError {
        let detail = serde_json::from_slice::<Problem>(body)
            .map(|p| p.detail)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned());
        match status {
            400 | 404 | 409 | 413 | 415 | 422 | 429 => self.host_error(status, detail),
            401 | 403 => self.host_error(
                502,
                format!(
                    "host {} refused the server's signature ({detail}); was it removed or joined to another server?",
                    self.name
                ),
            ),
            _ => self.host_error(502, format!("host {} failed ({status}): {detail}", self.name)),
        }
    }

    /// Sends and waits for the answer's head, within `deadline` if given;
    /// a non-success status becomes an error.
    pub async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        deadline: Option<Duration>,
    ) -> Result<reqwest::Response, ApiError> {
        let fut = rb.send();
        let resp = match deadline {
            Some(d) => tokio::time::timeout(d, fut)
                .await
                .map_err(|_| self.timeout_error(d))?,
            None => fut.await,
        }
        .map_err(|e| self.transport_error(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        Err(self.answer_error(status, &body))
    }

    pub fn timeout_error(&self, d: Duration) -> ApiError {
        self.host_error(
            504,
            format!(
                "host {} did not answer within {} ms",
                self.name,
                d.as_millis()
            ),
        )
    }

    /// A whole answer's status, content type and body, within `deadline`.
    pub async fn fetch(
        &self,
        rb: reqwest::RequestBuilder,
        deadline: Duration,
    ) -> Result<(u16, Option<String>, Bytes), ApiError> {
        tokio::time::timeout(deadline, async {
            let resp = self.send(rb, None).await?;
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.bytes().await.map_err(|e| self.transport_error(&e))?;
            Ok((status, ct, body))
        })
        .await
        .map_err(|_| self.timeout_error(deadline))?
    }

    /// A JSON answer, decoded, within `deadline`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        rb: reqwest::RequestBuilder,
        deadline: Duration,
    ) -> Result<T, ApiError> {
        let (_, _, body) = self.fetch(rb, deadline).await?;
        serde_json::from_slice(&body).map_err(|e| {
            self.host_error(
                502,
                format!(
                    "host {} sent an answer that is not the expected JSON: {e}",
                    self.name
                ),
            )
        })
    }
}
