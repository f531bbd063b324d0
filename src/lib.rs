//! oauth-token-manager: OAuth token refresh for Supabase apps, one refresh
//! path in Rust for Edge Functions (Deno) and the browser, via WebAssembly.
//!
//! `core` is pure and natively tested; `wasm` binds it to JavaScript.

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
