//! A server's exporter as the sim reaches it: its metrics URL (`http` or
//! `https`), an HTTP client (reqwest on the sim's rustls configuration)
//! and the bearer secret a protected exporter wants.
//!
//! Scrapes ask for gzip as Prometheus does and decompress the body
//! themselves, so that both sizes (on the wire and as text) are known.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use url::Url;

use crate::exposition::{Scrape, ScrapeError, parse};
use crate::tls::Tls;

/// Where and how to scrape; cheap to clone (the client is shared).
#[derive(Debug, Clone)]
pub struct Exporter {
    url: Url,
    client: reqwest::Client,
    /// What the client trusts, to build another like it.
    tls: Arc<rustls::ClientConfig>,
    secret: Option<String>,
}

/// A response body as received.
#[derive(Debug)]
pub struct Fetched {
    /// The bytes on the wire (after any transfer encoding).
    pub body: Vec<u8>,
    /// Whether they are gzip (`Content-Encoding: gzip`).
    pub gzip: bool,
}

impl Exporter {
    /// The exporter at `url` (`http` or `https`), trusting `tls`, sending
    /// `secret` as a bearer token when given.
    pub fn new(url: Url, tls: &Tls, secret: Option<String>) -> Result<Exporter, ScrapeError> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ScrapeError::Url(url.to_string()));
        }
        let tls = tls.config();
        Ok(Exporter {
            url,
            client: client(&tls)?,
            tls,
            secret,
        })
    }

    /// The same exporter with a client (and so a connection pool) of its
    /// own, for use on another runtime.
    pub fn detached(&self) -> Exporter {
        Exporter {
            // Building a client with a configuration that built one before
            // does not fail; should it, sharing the client still works.
            client: client(&self.tls).unwrap_or_else(|_| self.client.clone()),
            ..self.clone()
        }
    }

    /// A plain `http` exporter without a secret (TLS from the system's roots
    /// should the URL be `https`).
    pub fn plain(url: Url) -> Result<Exporter, ScrapeError> {
        Exporter::new(url, &crate::tls::system(), None)
    }

    /// The same client and secret for another URL (another node of a
    /// cluster, or another path of this exporter such as `/sd`).
    pub fn at(&self, url: Url) -> Result<Exporter, ScrapeError> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ScrapeError::Url(url.to_string()));
        }
        Ok(Exporter {
            url,
            ..self.clone()
        })
    }

    /// One GET of the URL, its body as text (decompressed if it came as gzip).
    pub async fn get_text(&self, timeout: Duration) -> Result<String, ScrapeError> {
        let fetched = tokio::time::timeout(timeout, self.fetch())
            .await
            .map_err(|_| ScrapeError::Timeout(timeout))??;
        text(fetched)
    }

    /// Its metrics URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// One GET of the exposition.
    pub async fn fetch(&self) -> Result<Fetched, ScrapeError> {
        let mut request = self
            .client
            .get(self.url.clone())
            // What Prometheus sends.
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .header(
                reqwest::header::ACCEPT,
                "text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            );
        if let Some(secret) = &self.secret {
            request = request.bearer_auth(secret);
        }
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ScrapeError::Http(format!("status {}", status.as_u16())));
        }
        let gzip = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let body = response.bytes().await.map_err(http_error)?.to_vec();
        Ok(Fetched { body, gzip })
    }
}

fn client(tls: &Arc<rustls::ClientConfig>) -> Result<reqwest::Client, ScrapeError> {
    reqwest::Client::builder()
        .use_preconfigured_tls((**tls).clone())
        // Proxies from the environment would send loopback scrapes astray.
        .no_proxy()
        .build()
        .map_err(|e| ScrapeError::Http(format!("HTTP client: {e}")))
}

/// What a scrape keeps of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every sample, parsed (what the live checks read).
    Parse,
    /// Its sizes only, `families` left empty: parsing a large exposition
    /// costs the sim more CPU than anything but its media, and a capacity
    /// ramp reads only the latency.
    Sizes,
}

/// GETs and parses the exposition of `exporter`.
pub async fn scrape(exporter: &Exporter, timeout: Duration) -> Result<Scrape, ScrapeError> {
    scrape_to(exporter, timeout, Depth::Parse).await
}

/// GETs the exposition of `exporter`, parsing it only at [`Depth::Parse`].
pub async fn scrape_to(
    exporter: &Exporter,
    timeout: Duration,
    depth: Depth,
) -> Result<Scrape, ScrapeError> {
    let started = Instant::now();
    let fetched = tokio::time::timeout(timeout, exporter.fetch())
        .await
        .map_err(|_| ScrapeError::Timeout(timeout))??;
    let latency = started.elapsed();
    let wire_bytes = fetched.body.len();
    let text = text(fetched)?;
    let families = match depth {
        Depth::Parse => parse(&text)?,
        Depth::Sizes => Default::default(),
    };
    // Beside the server's own line per scrape: where a slow one was spent.
    tracing::debug!(
        latency_us = latency.as_micros() as u64,
        read_us = (started.elapsed() - latency).as_micros() as u64,
        "scraped"
    );
    Ok(Scrape {
        started,
        latency,
        body_bytes: text.len(),
        wire_bytes,
        families,
    })
}

/// The exposition text, decompressed if it came as gzip.
fn text(fetched: Fetched) -> Result<String, ScrapeError> {
    let bytes = if fetched.gzip {
        let mut out = Vec::with_capacity(fetched.body.len() * 8);
        GzDecoder::new(&fetched.body[..])
            .read_to_end(&mut out)
            .map_err(|e| ScrapeError::Http(format!("bad gzip body: {e}")))?;
        out
    } else {
        fetched.body
    };
    String::from_utf8(bytes).map_err(|_| ScrapeError::Http("body is not UTF-8".into()))
}

fn http_error(e: reqwest::Error) -> ScrapeError {
    // The chain says why (refused, certificate, reset): reqwest's own
    // message alone is only "error sending request".
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    ScrapeError::Http(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls() {
        for bad in ["ws://h/metrics", "ftp://h/", "unix:/tmp/x"] {
            let url = Url::parse(bad).unwrap();
            assert!(
                matches!(Exporter::plain(url), Err(ScrapeError::Url(_))),
                "{bad}"
            );
        }
        let ok = Url::parse("https://127.0.0.1:9/metrics").unwrap();
        assert!(Exporter::plain(ok).is_ok());
    }
}
