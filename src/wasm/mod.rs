//! The only place that touches wasm-bindgen and js-sys: each export decodes
//! JS values, calls the core, and encodes the result.

//!
//! Three builds come from it (cargo features, all by default): `client`, the
//! browser's `ClientCore` (driven by js/client.js); `server`, the `TokenManager` with its
//! store, sealing and providers; and `legacy`, the operator's
//! `LegacyImporter`. Each package entry loads one build alone.

// A build with one feature leaves some shared helpers unused.
#![cfg_attr(
    not(all(feature = "client", feature = "server", feature = "legacy")),
    allow(dead_code, unused_imports)
)]

#[cfg(feature = "client")]
mod client;
mod common;
mod convert;
mod fetch;
#[cfg(feature = "legacy")]
mod legacy;
#[cfg(feature = "server")]
mod manager;
#[cfg(feature = "server")]
mod manager_types;
mod runtime;
#[cfg(feature = "server")]
mod store;
mod util;

#[cfg(feature = "client")]
pub use client::ClientCore;
pub use common::{error_codes, format_marker, marker_header, marker_is_newer, parse_marker};
#[cfg(feature = "legacy")]
pub use legacy::LegacyImporter;
#[cfg(feature = "server")]
pub use manager::TokenManager;

/// Talc in place of Rust's default wasm allocator (dlmalloc): 1.6 KB of code
/// against 7.1 KB, and faster on the server's hot path (`make bench`). Both
/// builds are single-threaded; with wasm threads the default stays.
#[cfg(not(target_feature = "atomics"))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
