//! The only place that touches wasm-bindgen and js-sys: each export decodes
//! JS values, calls the core, and encodes the result.

mod client;
mod client_connect;
mod convert;
mod fetch;
mod legacy;
mod manager;
mod runtime;
mod store;
mod util;

pub use client::BrowserTokenClient;
pub use legacy::LegacyImporter;
pub use manager::{
    error_codes, format_marker, marker_header, marker_is_newer, parse_marker, TokenManager,
};
