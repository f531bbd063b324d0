//! The browser client's wasm tests: token cache and single flight, the 401
//! retry, the marker, typed errors, and tabs sharing tokens over a
//! BroadcastChannel, per user: a shared browser with two accounts never hands
//! one user's token to the other. Run in headless Chrome and Firefox (and
//! Node and Deno).
#![cfg(all(target_arch = "wasm32", feature = "client"))]

use js_sys::{Array, Function, Promise, Reflect};
use oauth_token_manager::wasm::ClientCore;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

// The package's client (js/client.js) over this build's ClientCore.
#[wasm_bindgen(module = "/js/client.js")]
extern "C" {
    type BrowserTokenClient;
    #[wasm_bindgen(js_name = useCore)]
    fn use_core(core: &JsValue);
    #[wasm_bindgen(constructor, catch)]
    fn new(options: &JsValue) -> Result<BrowserTokenClient, JsValue>;
    #[wasm_bindgen(method, js_name = getAccessToken)]
    fn get_access_token(this: &BrowserTokenClient, options: Option<JsValue>) -> Promise;
    #[wasm_bindgen(method)]
    fn fetch(
        this: &BrowserTokenClient,
        input: String,
        init: Option<JsValue>,
        options: Option<JsValue>,
    ) -> Promise;
    #[wasm_bindgen(method, js_name = callFunction)]
    fn call_function(
        this: &BrowserTokenClient,
        name: String,
        body: JsValue,
        method: Option<String>,
    ) -> Promise;
    #[wasm_bindgen(method, js_name = observeResponse)]
    fn observe_response(this: &BrowserTokenClient, response: &JsValue);
    #[wasm_bindgen(method, js_name = completeConnect)]
    fn complete_connect(this: &BrowserTokenClient, url: Option<String>) -> Promise;
    #[wasm_bindgen(method)]
    fn disconnect(this: &BrowserTokenClient, provider: String) -> Promise;
    #[wasm_bindgen(method)]
    fn reset(this: &BrowserTokenClient);
    #[wasm_bindgen(method, js_name = onChange)]
    fn on_change(this: &BrowserTokenClient, listener: Function) -> JsValue;
    #[wasm_bindgen(method, js_name = tokenInfo)]
    fn token_info(this: &BrowserTokenClient, provider: Option<String>) -> JsValue;
    #[wasm_bindgen(method)]
    fn close(this: &BrowserTokenClient);
    #[wasm_bindgen(method)]
    fn free(this: &BrowserTokenClient);
}

// js/client.js's helpers, beside it (a snippet of its own: client.js imports it).
#[wasm_bindgen(module = "/js/client_io.js")]
extern "C" {
    #[wasm_bindgen(js_name = connectionOf)]
    fn connection_of(name: &str) -> Option<String>;
}

/// The client class over this build's core (js/browser.js does the same in the package).
fn make(options: &JsValue) -> Result<BrowserTokenClient, JsValue> {
    let core: JsValue = ClientCore::new(options.clone())?.into();
    use_core(&get(&core, "constructor"));
    BrowserTokenClient::new(options)
}

#[wasm_bindgen(module = "/tests/js/edge-mock.js")]
extern "C" {
    #[wasm_bindgen(js_name = edgeMock)]
    fn edge_mock() -> JsValue;
    #[wasm_bindgen(js_name = clientOptions)]
    fn client_options(mock: &JsValue, channel: &str) -> JsValue;
    #[wasm_bindgen(js_name = clientOptions)]
    fn client_options_for(mock: &JsValue, channel: &str, sub: &str) -> JsValue;
    #[wasm_bindgen(js_name = signInAs)]
    fn sign_in_as(opts: &JsValue, sub: &str);
    #[wasm_bindgen(js_name = issuedTo)]
    fn issued_to(mock: &JsValue, token: &str) -> Option<String>;
    #[wasm_bindgen(js_name = issuedFor)]
    fn issued_for(mock: &JsValue, token: &str) -> Option<String>;
    #[wasm_bindgen(js_name = completedTickets)]
    fn completed_tickets(mock: &JsValue) -> Array;
    #[wasm_bindgen(js_name = refreshCalls)]
    fn refresh_calls(mock: &JsValue) -> u32;
    #[wasm_bindgen(js_name = forcedCalls)]
    fn forced_calls(mock: &JsValue) -> u32;
    #[wasm_bindgen(js_name = rejectToken)]
    fn reject_token(mock: &JsValue, token: &str);
    #[wasm_bindgen(js_name = delayCalendar)]
    fn delay_calendar(mock: &JsValue, delays: Vec<u32>);
    #[wasm_bindgen(js_name = calendarTokens)]
    fn calendar_tokens(mock: &JsValue) -> Array;
    #[wasm_bindgen(js_name = failNextRefresh)]
    fn fail_next_refresh(mock: &JsValue, status: u16, body: JsValue);
    #[wasm_bindgen(js_name = markerOnNextCall)]
    fn marker_on_next_call(mock: &JsValue, marker: &str);
    fn recorder() -> JsValue;
    fn changes(rec: &JsValue) -> Array;
    #[wasm_bindgen(js_name = listenerOf)]
    fn listener_of(rec: &JsValue) -> js_sys::Function;
    fn tick(ms: u32) -> Promise;
    #[wasm_bindgen(js_name = uniqueChannel)]
    fn unique_channel() -> String;
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

fn get_str(o: &JsValue, k: &str) -> String {
    get(o, k).as_string().unwrap_or_default()
}

fn client(mock: &JsValue, channel: &str) -> BrowserTokenClient {
    make(&client_options(mock, channel)).unwrap()
}

async fn token(c: &BrowserTokenClient, force: bool) -> Result<JsValue, JsValue> {
    let opts = js_sys::JSON::parse(if force { r#"{"force":true}"# } else { "{}" }).unwrap();
    JsFuture::from(c.get_access_token(Some(opts))).await
}

#[wasm_bindgen_test]
async fn cached_and_single_flight() {
    let mock = edge_mock();
    let c = client(&mock, &unique_channel());
    let all: Array = (0..20).map(|_| c.get_access_token(None)).collect();
    let results: Array = JsFuture::from(Promise::all(&all)).await.unwrap().into();
    assert!(results.iter().all(|t| get_str(&t, "accessToken") == "at-1"));
    assert_eq!(refresh_calls(&mock), 1);
    assert_eq!(
        get_str(&token(&c, false).await.unwrap(), "accessToken"),
        "at-1"
    );
    assert_eq!(refresh_calls(&mock), 1);
    assert!(get_str(&token(&c, false).await.unwrap(), "tokenRefreshedAt").ends_with('Z'));
    c.close();
}

#[wasm_bindgen_test]
async fn a_401_from_the_provider_forces_one_refresh_and_one_retry() {
    let mock = edge_mock();
    let c = client(&mock, &unique_channel());
    token(&c, false).await.unwrap();
    reject_token(&mock, "at-1");
    let resp = JsFuture::from(c.fetch("https://calendar.test/events".into(), None, None))
        .await
        .unwrap();
    assert_eq!(get(&resp, "status").as_f64(), Some(200.0));
    let used: Vec<String> = calendar_tokens(&mock)
        .iter()
        .map(|t| t.as_string().unwrap())
        .collect();
    assert_eq!(used, vec!["at-1", "at-2"]);
    assert_eq!(forced_calls(&mock), 1);
    c.close();
}

#[wasm_bindgen_test]
async fn a_401_that_arrives_after_the_refresh_uses_the_new_token_without_forcing_again() {
    let mock = edge_mock();
    let c = client(&mock, &unique_channel());
    token(&c, false).await.unwrap();
    reject_token(&mock, "at-1");
    // Two requests with at-1: the first 401 comes at once, the second 40 ms later,
    // after the first has forced a refresh and retried with at-2.
    delay_calendar(&mock, vec![0, 40]);
    let call = || JsFuture::from(c.fetch("https://calendar.test/events".into(), None, None));
    let (a, b) = futures_util::future::join(call(), call()).await;
    for r in [a, b] {
        assert_eq!(get(&r.unwrap(), "status").as_f64(), Some(200.0));
    }
    let used: Vec<String> = calendar_tokens(&mock)
        .iter()
        .map(|t| t.as_string().unwrap())
        .collect();
    assert_eq!(used, vec!["at-1", "at-1", "at-2", "at-2"]);
    assert_eq!(forced_calls(&mock), 1, "one forced refresh for both 401s");
    c.close();
}

#[wasm_bindgen_test]
async fn a_newer_marker_on_an_edge_response_drops_the_cache() {
    let mock = edge_mock();
    let c = client(&mock, &unique_channel());
    token(&c, false).await.unwrap();
    let rec = recorder();
    c.on_change(listener_of(&rec));
    marker_on_next_call(&mock, "2099-01-01T00:00:00.000Z");
    let body = js_sys::JSON::parse(r#"{"requestId":"r"}"#).unwrap();
    JsFuture::from(c.call_function("create-google-meet".into(), body, None))
        .await
        .unwrap();
    assert_eq!(get(&c.token_info(None), "hasToken").as_bool(), Some(false));
    assert!(changes(&rec)
        .iter()
        .any(|ch| get_str(&ch, "type") == "marker"));
    token(&c, false).await.unwrap();
    assert_eq!(
        refresh_calls(&mock),
        2,
        "the next use asks the server again"
    );
    c.close();
}

#[wasm_bindgen_test]
async fn server_errors_keep_their_codes_and_reach_listeners() {
    let mock = edge_mock();
    let c = client(&mock, &unique_channel());
    let rec = recorder();
    c.on_change(listener_of(&rec));
    let body = js_sys::JSON::parse(
        r#"{"error":"the google connection must be reconnected","code":"REAUTH_REQUIRED","requiresReauth":true}"#,
    )
    .unwrap();
    fail_next_refresh(&mock, 401, body);
    let e = token(&c, false).await.unwrap_err();
    assert!(e.is_instance_of::<js_sys::Error>());
    assert_eq!(get_str(&e, "code"), "REAUTH_REQUIRED");
    assert_eq!(get(&e, "requiresReauth").as_bool(), Some(true));
    let ch = changes(&rec);
    assert!(ch.iter().any(
        |c| get_str(&c, "type") == "error" && get(&c, "requiresReauth").as_bool() == Some(true)
    ));
    c.close();
}

#[wasm_bindgen_test]
async fn tabs_share_tokens_and_a_late_tab_gets_the_current_one() {
    let mock = edge_mock();
    let channel = unique_channel();
    let a = client(&mock, &channel);
    let b = client(&mock, &channel);
    let rec = recorder();
    b.on_change(listener_of(&rec));
    token(&a, false).await.unwrap();
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(get(&b.token_info(None), "hasToken").as_bool(), Some(true));
    assert!(changes(&rec)
        .iter()
        .any(|c| get(&c, "fromOtherTab").as_bool() == Some(true)));
    assert_eq!(
        get_str(&token(&b, false).await.unwrap(), "accessToken"),
        "at-1"
    );
    assert_eq!(
        refresh_calls(&mock),
        1,
        "the other tab used the shared token"
    );
    let late = client(&mock, &channel);
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(
        get_str(&token(&late, false).await.unwrap(), "accessToken"),
        "at-1"
    );
    assert_eq!(refresh_calls(&mock), 1);
    for c in [a, b, late] {
        c.close();
    }
}

#[wasm_bindgen_test]
fn bad_options_name_the_field() {
    let bad = js_sys::JSON::parse(r#"{"functionsUrl":"ftp://x","getSessionToken":null}"#).unwrap();
    let e = match ClientCore::new(bad.clone()).and_then(|_| make(&bad)) {
        Ok(_) => panic!("expected CONFIG"),
        Err(e) => e,
    };
    assert_eq!(get_str(&e, "code"), "CONFIG");
    assert_eq!(
        get_str(&e, "message"),
        "options.functionsUrl: must be an http(s) URL"
    );
}

fn client_as(mock: &JsValue, channel: &str, sub: &str) -> (BrowserTokenClient, JsValue) {
    let opts = client_options_for(mock, channel, sub);
    let c = make(&opts).unwrap();
    (c, opts)
}

async fn access(c: &BrowserTokenClient) -> String {
    get_str(&token(c, false).await.unwrap(), "accessToken")
}

#[wasm_bindgen_test]
async fn a_user_switch_in_the_same_tab_never_returns_the_previous_users_token() {
    let mock = edge_mock();
    let (c, opts) = client_as(&mock, &unique_channel(), "user-a");
    let a = access(&c).await;
    assert_eq!(issued_to(&mock, &a).as_deref(), Some("user-a"));
    sign_in_as(&opts, "user-b");
    let b = access(&c).await;
    assert_ne!(a, b, "user-b must not get user-a's cached token");
    assert_eq!(issued_to(&mock, &b).as_deref(), Some("user-b"));
    assert_eq!(refresh_calls(&mock), 2);
    // And back: user-a's old token is gone too.
    sign_in_as(&opts, "user-a");
    let a2 = access(&c).await;
    assert_eq!(issued_to(&mock, &a2).as_deref(), Some("user-a"));
    assert_eq!(refresh_calls(&mock), 3);
    c.close();
}

#[wasm_bindgen_test]
async fn a_tab_of_another_user_never_receives_a_token_over_the_channel() {
    let mock = edge_mock();
    let channel = unique_channel();
    let (a, _) = client_as(&mock, &channel, "user-a");
    let (b, _) = client_as(&mock, &channel, "user-b");
    let (a2, _) = client_as(&mock, &channel, "user-a");
    JsFuture::from(tick(10)).await.unwrap();
    let rec = recorder();
    b.on_change(listener_of(&rec));
    let ta = access(&a).await;
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(
        get(&a2.token_info(None), "hasToken").as_bool(),
        Some(true),
        "same user shares"
    );
    assert_eq!(
        get(&b.token_info(None), "hasToken").as_bool(),
        Some(false),
        "other user does not"
    );
    assert_eq!(changes(&rec).length(), 0, "user-b's tab heard nothing");
    let tb = access(&b).await;
    assert_ne!(ta, tb);
    assert_eq!(issued_to(&mock, &tb).as_deref(), Some("user-b"));
    // A tab of user-b opened later asks its own user's tabs only.
    let (late_b, _) = client_as(&mock, &channel, "user-b");
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(access(&late_b).await, tb);
    assert_eq!(refresh_calls(&mock), 2);
    for c in [a, b, a2, late_b] {
        c.close();
    }
}

#[wasm_bindgen_test]
async fn reset_drops_the_token_in_every_tab_of_that_user_only() {
    let mock = edge_mock();
    let channel = unique_channel();
    let (a1, _) = client_as(&mock, &channel, "user-a");
    let (a2, _) = client_as(&mock, &channel, "user-a");
    let (b, _) = client_as(&mock, &channel, "user-b");
    JsFuture::from(tick(10)).await.unwrap();
    access(&a1).await;
    access(&b).await;
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(get(&a2.token_info(None), "hasToken").as_bool(), Some(true));
    let rec = recorder();
    a2.on_change(listener_of(&rec));
    a1.reset();
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(get(&a1.token_info(None), "hasToken").as_bool(), Some(false));
    assert_eq!(
        get(&a2.token_info(None), "hasToken").as_bool(),
        Some(false),
        "the user's other tab dropped it"
    );
    assert_eq!(
        get(&b.token_info(None), "hasToken").as_bool(),
        Some(true),
        "another user's tab kept its own"
    );
    assert!(
        changes(&rec)
            .iter()
            .any(|c| get_str(&c, "type") == "reset"
                && get(&c, "fromOtherTab").as_bool() == Some(true))
    );
    for c in [a1, a2, b] {
        c.close();
    }
}

async fn access_for(c: &BrowserTokenClient, provider: &str) -> String {
    let opts = js_sys::JSON::parse(&format!(r#"{{"provider":"{provider}"}}"#)).unwrap();
    let t = JsFuture::from(c.get_access_token(Some(opts)))
        .await
        .unwrap();
    get_str(&t, "accessToken")
}

#[wasm_bindgen_test]
async fn each_connection_has_its_own_token_shared_with_the_users_tabs() {
    let mock = edge_mock();
    let channel = unique_channel();
    let (a, _) = client_as(&mock, &channel, "user-a");
    let (b, _) = client_as(&mock, &channel, "user-a");
    JsFuture::from(tick(10)).await.unwrap();
    let sp = access_for(&a, "spotify").await;
    let g = access_for(&a, "google").await;
    assert_eq!(issued_for(&mock, &sp).as_deref(), Some("spotify"));
    assert_eq!(issued_for(&mock, &g).as_deref(), Some("google"));
    assert_eq!(access_for(&a, "spotify").await, sp, "cached per connection");
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(
        get(&b.token_info(Some("spotify".into())), "hasToken").as_bool(),
        Some(true)
    );
    assert_eq!(
        access_for(&b, "spotify").await,
        sp,
        "the other tab got it over the channel"
    );
    assert_eq!(refresh_calls(&mock), 2);
    // onChange hands back a function that stops listening.
    let rec = recorder();
    let stop: js_sys::Function = a.on_change(listener_of(&rec)).unchecked_into();
    stop.call0(&JsValue::NULL).unwrap();
    token(&a, true).await.unwrap();
    assert_eq!(changes(&rec).length(), 0);
    for c in [a, b] {
        c.close();
    }
}

#[wasm_bindgen_test]
async fn a_disconnect_drops_the_token_in_every_tab_of_that_user() {
    let mock = edge_mock();
    let channel = unique_channel();
    let (a1, _) = client_as(&mock, &channel, "user-a");
    let (a2, _) = client_as(&mock, &channel, "user-a");
    JsFuture::from(tick(10)).await.unwrap();
    let sp = access_for(&a1, "spotify").await;
    access_for(&a1, "google").await;
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(access_for(&a2, "spotify").await, sp, "shared");
    let rec = recorder();
    a2.on_change(listener_of(&rec));
    JsFuture::from(a1.disconnect("spotify".into()))
        .await
        .unwrap();
    JsFuture::from(tick(30)).await.unwrap();
    for c in [&a1, &a2] {
        assert_eq!(
            get(&c.token_info(Some("spotify".into())), "hasToken").as_bool(),
            Some(false),
            "the disconnected connection's token is gone in both tabs"
        );
        assert_eq!(
            get(&c.token_info(None), "hasToken").as_bool(),
            Some(true),
            "google stays"
        );
    }
    assert!(changes(&rec)
        .iter()
        .any(|c| get_str(&c, "type") == "disconnected"
            && get_str(&c, "provider") == "spotify"
            && get(&c, "fromOtherTab").as_bool() == Some(true)));
    let calls = refresh_calls(&mock);
    assert_ne!(
        access_for(&a2, "spotify").await,
        sp,
        "asked the server again"
    );
    assert_eq!(refresh_calls(&mock), calls + 1);
    for c in [a1, a2] {
        c.close();
    }
}

#[wasm_bindgen_test]
async fn a_client_freed_without_close_stops_listening() {
    let mock = edge_mock();
    let channel = unique_channel();
    let (a1, _) = client_as(&mock, &channel, "user-a");
    let (a2, _) = client_as(&mock, &channel, "user-a");
    JsFuture::from(tick(10)).await.unwrap();
    // free() without close(): its channel must stop calling a freed core,
    // which would throw at every message (an uncaught error in the page).
    a2.free();
    access(&a1).await;
    JsFuture::from(tick(30)).await.unwrap();
    assert_eq!(get(&a1.token_info(None), "hasToken").as_bool(), Some(true));
    a1.close();
}

#[wasm_bindgen_test]
async fn a_connects_return_completes_with_the_session_or_says_why_not() {
    let mock = edge_mock();
    let (c, _) = client_as(&mock, &unique_channel(), "user-a");
    let done = JsFuture::from(c.complete_connect(Some(
        "https://app.test/settings?otm_connect=T1&otm_provider=spotify".into(),
    )))
    .await
    .unwrap();
    assert_eq!(get_str(&get(&done, "status"), "status"), "connected");
    assert!(get(&done, "error").is_null());
    assert_eq!(
        completed_tickets(&mock).get(0).as_string().as_deref(),
        Some("T1")
    );
    let denied = JsFuture::from(c.complete_connect(Some(
        "https://app.test/?otm_error=CONSENT_DENIED&otm_provider=spotify".into(),
    )))
    .await
    .unwrap();
    assert_eq!(get_str(&get(&denied, "error"), "code"), "CONSENT_DENIED");
    assert_eq!(
        get_str(&get(&denied, "error"), "message"),
        "Access was not granted at the provider."
    );
    assert_eq!(completed_tickets(&mock).length(), 1, "no call for an error");
    let nothing = JsFuture::from(c.complete_connect(Some("https://app.test/".into())))
        .await
        .unwrap();
    assert!(nothing.is_null());
    // Disconnect drops the cached token of that connection only.
    access_for(&c, "spotify").await;
    access_for(&c, "google").await;
    let r = JsFuture::from(c.disconnect("spotify".into()))
        .await
        .unwrap();
    assert_eq!(get_str(&r, "revocation"), "revoked");
    assert_eq!(
        get(&c.token_info(Some("spotify".into())), "hasToken").as_bool(),
        Some(false)
    );
    assert_eq!(get(&c.token_info(None), "hasToken").as_bool(), Some(true));
    c.close();
}

/// The connection a function's path names, for answers that do not say.
#[wasm_bindgen_test]
fn a_function_path_names_its_connection() {
    assert_eq!(
        connection_of("connections/spotify/disconnect").as_deref(),
        Some("spotify")
    );
    assert_eq!(connection_of("create-google-meet"), None);
}
