//! Plain HTTP values and the transport trait. The core builds requests and
//! parses responses; the wasm layer (or a test double) sends them.

use super::error::{Code, Error};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Form body. It carries secrets: never log it.
    pub body: String,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    #[cfg(test)]
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, body.to_string()).with_header("content-type", "application/json")
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Why a request got no HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// No answer within the timeout.
    Timeout,
    /// Connection failed or was reset. The detail goes into the error's
    /// message: no secret, host, address or URL (`network_cause` words it).
    Network(String),
}

impl From<TransportError> for Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Timeout => {
                Error::new(Code::Timeout, "the provider did not answer in time")
            }
            TransportError::Network(d) => Error::new(
                Code::Network,
                super::text::cat(&["network error reaching the provider: ", &d]),
            ),
        }
    }
}

/// A network failure's detail in words that name no host, address or URL.
/// fetch's messages carry all three (Deno's: "error sending request from
/// 10.0.0.5:50472 for https://…: tcp connect error: Connection refused"), and
/// the error's message is returned to callers and kept on the row and in its
/// events, which the user can read. (A browser's fetch says only "Failed to
/// fetch" or the like: the browser client passes that on as it is.)
pub fn network_cause(detail: &str) -> &'static str {
    // Its words, less the URLs, hosts and addresses (a host may hold "dns",
    // "ssl" or "eof": geofence.example).
    let d = detail
        .split_whitespace()
        .filter(|w| !w.contains(['.', '/', '[']))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    // text::contains, not str::contains: that one brings the two-way
    // searcher, 5 KB of wasm.
    let says = |words: &[&str]| words.iter().any(|w| super::text::contains(&d, w));
    if says(&[
        "dns",
        "lookup",
        "resolv",
        "name or service",
        "getaddrinfo",
        "enotfound",
    ]) {
        "the host name did not resolve"
    } else if says(&["refused"]) {
        "the connection was refused"
    } else if says(&["certificate", "tls", "ssl", "handshake"]) {
        "the TLS handshake failed"
    } else if says(&[
        "reset",
        "closed",
        "broken pipe",
        "eof",
        "aborted",
        "reading a body",
    ]) {
        "the connection was closed"
    } else {
        "no response"
    }
}

/// Sends one HTTP request. Implementations enforce `timeout_ms`.
#[allow(async_fn_in_trait)] // single-threaded wasm: futures need not be Send
pub trait Transport {
    async fn send(
        &self,
        request: HttpRequest,
        timeout_ms: u64,
    ) -> Result<HttpResponse, TransportError>;
}

/// `application/x-www-form-urlencoded` byte serializer (WHATWG URL §5.2),
/// the encoding RFC 6749 Appendix B requires for form parameters and for
/// the client id and secret inside HTTP Basic (§2.3.1).
pub fn form_urlencode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
    out
}

pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_urlencode(k), form_urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_follows_whatwg() {
        assert_eq!(
            form_urlencode("a b+c/d=e&f~é*-._"),
            "a+b%2Bc%2Fd%3De%26f%7E%C3%A9*-._"
        );
        assert_eq!(
            form_body(&[("grant_type", "refresh_token"), ("x", "1 2")]),
            "grant_type=refresh_token&x=1+2"
        );
    }

    #[test]
    fn network_errors_name_no_host_address_or_url() {
        let message =
            |d: &str| Error::from(TransportError::Network(network_cause(d).into())).message;
        let cases = [
            (
                "TypeError: error sending request from 10.0.0.5:50472 for https://oauth2.googleapis.com/token (142.250.1.95:443): client error (Connect): tcp connect error: Connection refused (os error 111)",
                "the connection was refused",
            ),
            (
                "TypeError: error sending request for url (https://discord.com/api/oauth2/token): client error (Connect): dns error: failed to lookup address information: Name or service not known",
                "the host name did not resolve",
            ),
            (
                "TypeError: error sending request for url (https://idp.internal:8443/token): client error (Connect): invalid peer certificate: UnknownIssuer",
                "the TLS handshake failed",
            ),
            (
                "TypeError: error sending request for url (https://idp/token): connection closed before message completed",
                "the connection was closed",
            ),
            ("TypeError: error reading a body from connection", "the connection was closed"),
            ("TypeError: Failed to fetch", "no response"),
            // A host that says a cause's word, and a cause past 200 characters.
            (
                "TypeError: error sending request for url (https://geofence-ssl.example/oauth2/v2.0/token?tenant=0123456789abcdef0123456789abcdef&x=resolve): client error (Connect): tcp connect error from [2001:db8:85a3::8a2e:370:7334]:50472 to [2001:db8:85a3::8a2e:370:7335]:443: Connection refused (os error 111)",
                "the connection was refused",
            ),
        ];
        for (detail, cause) in cases {
            let m = message(detail);
            assert_eq!(m, format!("network error reaching the provider: {cause}"));
        }
    }

    #[test]
    fn headers_are_case_insensitive() {
        let r = HttpResponse::new(200, "").with_header("Retry-After", "5");
        assert_eq!(r.header("retry-after"), Some("5"));
        assert_eq!(r.header("x"), None);
    }
}
