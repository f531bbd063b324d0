//! What both builds export: the error codes and the token_refreshed_at
//! marker helpers, and the types the browser client and the server manager
//! share.

use wasm_bindgen::prelude::*;

use super::convert::{n, obj, s};
use crate::core::error::Code;
use crate::core::marker;

#[wasm_bindgen(typescript_custom_section)]
const TS_COMMON: &'static str = r#"
/** Stable error codes; branch on these, never on messages. */
export type ErrorCode =
  | "NOT_CONNECTED" | "REAUTH_REQUIRED" | "INSUFFICIENT_SCOPE" | "CONNECT_STATE_INVALID"
  | "CONSENT_DENIED" | "INVALID_CLIENT"
  | "PROVIDER_REJECTED" | "RATE_LIMITED" | "PROVIDER_UNAVAILABLE" | "NETWORK" | "TIMEOUT"
  | "BAD_PROVIDER_RESPONSE" | "COOLDOWN" | "LEASE_TIMEOUT" | "CRYPTO_MALFORMED"
  | "CRYPTO_UNKNOWN_KEY" | "CRYPTO_INTEGRITY" | "CRYPTO_UNBOUND" | "STORAGE"
  | "ROTATION_NOT_SAVED" | "SCHEMA_MISMATCH" | "UNAUTHORIZED" | "AUTH_UNAVAILABLE"
  | "FORBIDDEN" | "NOT_FOUND" | "METHOD_NOT_ALLOWED" | "BAD_REQUEST" | "PAYLOAD_TOO_LARGE"
  | "IDEMPOTENCY_CONFLICT" | "CONFIG" | "INTERNAL";

/**
 * Every rejection is a TokenManagerError. The package's entry exports the class
 * (`e instanceof TokenManagerError`); this module describes its shape.
 */
export interface TokenManagerError extends Error {
  name: "TokenManagerError";
  code: ErrorCode;
  /** The provider's HTTP status, when there was one. */
  status: number | null;
  /** The HTTP status an API should answer with. */
  httpStatus: number;
  requiresReauth: boolean;
  retryable: boolean;
  /** Seconds to wait before trying again. */
  retryAfter?: number;
  /** The provider's own Retry-After, seconds, when it sent one (retryAfter may be longer: the grant's cooldown). */
  providerRetryAfter?: number;
}

/** A connection that works but will not for long. */
export interface StatusWarning {
  code: "REFRESH_TOKEN_EXPIRING";
  message: string;
  /** The refresh token's end (epoch ms). */
  reconnectBefore: number;
}

export type ConnectionStatus = "connected" | "token_expired" | "needs_reauth" | "error" | "disconnected";

export interface StatusReport {
  provider: string;
  status: ConnectionStatus;
  connected: boolean;
  requiresReauth: boolean;
  expiresAt: number | null;
  tokenRefreshedAt: number | null;
  scopes: string[];
  hasRefreshToken: boolean;
  refreshTokenExpiresAt: number | null;
  lastErrorCode: ErrorCode | null;
  lastErrorMessage: string | null;
  lastErrorAt: number | null;
  failureCount: number;
  cooldownUntil: number | null;
  /** Who connected: the provider account. */
  accountId: string | null;
  accountEmail: string | null;
  accountName: string | null;
  /** Set when the grant ends soon (refreshTokenExpiresAt within the provider's refreshTokenWarningSeconds). */
  warning: StatusWarning | null;
}

export interface DisconnectReport {
  provider: string;
  status: StatusReport;
  revocation: "revoked" | "not_supported" | "nothing_to_revoke" | "failed";
  revocationError: { code: ErrorCode; message: string } | null;
}

export interface ErrorCodeInfo { code: ErrorCode; retryable: boolean; requiresReauth: boolean; httpStatus: number }
"#;

/// Every error code with its properties.
#[wasm_bindgen(js_name = errorCodes, unchecked_return_type = "ErrorCodeInfo[]")]
pub fn error_codes() -> JsValue {
    Code::ALL
        .iter()
        .map(|c| {
            obj(&[
                ("code", s(c.as_str())),
                ("retryable", JsValue::from_bool(c.retryable())),
                ("requiresReauth", JsValue::from_bool(c.requires_reauth())),
                ("httpStatus", n(c.http_status().into())),
            ])
        })
        .collect::<js_sys::Array>()
        .into()
}

/// True when the marker `seen` (RFC 3339) is newer than `knownMs`.
#[wasm_bindgen(js_name = markerIsNewer)]
pub fn marker_is_newer(seen: &str, known_ms: Option<f64>) -> bool {
    marker::is_newer(seen, known_ms.map(|k| k as i64))
}

/// Formats epoch milliseconds as a marker.
#[wasm_bindgen(js_name = formatMarker)]
pub fn format_marker(ms: f64) -> String {
    marker::format(ms as i64)
}

/// Parses a marker to epoch milliseconds; `undefined` if it is not RFC 3339.
#[wasm_bindgen(js_name = parseMarker)]
pub fn parse_marker(marker: &str) -> Option<f64> {
    marker::parse(marker).map(|m| m as f64)
}

/// The header that carries the marker.
#[wasm_bindgen(js_name = markerHeader)]
pub fn marker_header() -> String {
    marker::HEADER.to_string()
}
