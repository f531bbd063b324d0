//! The pure core: builds requests, parses responses, decides. No I/O, no
//! clock, no wasm-bindgen: every instant is an argument, every effect goes
//! through the `Transport`, `Store` and `Runtime` traits.

pub mod authorize;
pub mod b64;
pub mod client;
pub mod config;
pub mod connect;
pub mod error;
pub mod fields;
pub mod grant;
pub mod http;
pub mod identity;
pub mod json;
mod lifecycle;
pub mod manager;
pub mod marker;
pub mod memory;
pub mod policy;
pub mod provider;
mod refresh;
pub mod revoke;
pub mod runtime;
pub mod seal;
pub mod secret;
pub mod singleflight;
pub mod status;
pub mod store;
pub mod text;
pub mod time;
pub mod token;
pub mod tracked;
pub mod vecmap;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;
