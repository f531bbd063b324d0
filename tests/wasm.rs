//! The wasm test suite: the real `TokenManager` over a JS store and a JS
//! `fetch`, run by `make test` in headless Chrome, headless Firefox, Node and Deno.
#![cfg(all(target_arch = "wasm32", feature = "server"))]

use js_sys::{Object, Promise, Reflect, JSON};
use oauth_token_manager::wasm::{
    error_codes, format_marker, marker_is_newer, parse_marker, TokenManager,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

#[wasm_bindgen(module = "/tests/js/memory-store.js")]
extern "C" {
    #[wasm_bindgen(js_name = newMemoryStore)]
    fn new_memory_store() -> JsValue;
    #[wasm_bindgen(js_name = scriptedFetch)]
    fn scripted_fetch(options: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = callCount)]
    fn call_count(f: &JsValue) -> u32;
    #[wasm_bindgen(js_name = pushReply)]
    fn push_reply(f: &JsValue, reply: JsValue);
    #[wasm_bindgen(js_name = lastBody)]
    fn last_body(f: &JsValue) -> Option<String>;
    #[wasm_bindgen(js_name = storedRow)]
    fn stored_row(store: &JsValue, user: &str, provider: &str) -> JsValue;
    #[wasm_bindgen(js_name = leaseCalls)]
    fn lease_calls(store: &JsValue) -> u32;
    #[wasm_bindgen(js_name = storeWithout)]
    fn store_without(method: &str) -> JsValue;
    #[wasm_bindgen(js_name = asyncLoadStore)]
    fn async_load_store() -> JsValue;
    #[wasm_bindgen(js_name = loadCount)]
    fn load_count(store: &JsValue) -> u32;
    #[wasm_bindgen(js_name = makeConfig)]
    fn make_config(extra: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = describeError)]
    fn describe_error(e: &JsValue) -> JsValue;
}

fn json(s: &str) -> JsValue {
    JSON::parse(s).unwrap()
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap()
}

fn get_str(o: &JsValue, k: &str) -> String {
    get(o, k).as_string().unwrap_or_default()
}

struct Setup {
    m: TokenManager,
    store: JsValue,
    fetch: JsValue,
}

fn setup(config_extra: &str, fetch_options: &str) -> Setup {
    let store = new_memory_store();
    let fetch = scripted_fetch(json(fetch_options));
    let options = Object::new();
    Reflect::set(&options, &"fetch".into(), &get(&fetch, "fetch")).unwrap();
    let m = TokenManager::new(
        make_config(json(config_extra)),
        store.clone(),
        Some(options.unchecked_into()),
    )
    .unwrap();
    Setup { m, store, fetch }
}

async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

impl Setup {
    async fn connect(&self, provider: &str, expires_in: i64, refresh: &str) {
        let tokens = json(&format!(
            r#"{{"accessToken":"at-initial","refreshToken":"{refresh}","expiresIn":{},"scope":"calendar"}}"#,
            expires_in.max(0)
        ));
        settle(
            self.m
                .store_tokens("user-1".into(), provider.into(), tokens),
        )
        .await
        .unwrap();
    }
    async fn get(&self, provider: &str) -> Result<JsValue, JsValue> {
        settle(
            self.m
                .get_valid_token("user-1".into(), provider.into(), None),
        )
        .await
    }
}

#[wasm_bindgen_test]
async fn expired_token_refreshes_through_fetch_and_the_js_store() {
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    let before = stored_row(&s.store, "user-1", "google");
    let t = s.get("google").await.unwrap();
    assert_eq!(get_str(&t, "accessToken"), "at-1");
    assert_eq!(get(&t, "refreshed").as_bool(), Some(true));
    assert!(get_str(&t, "tokenRefreshedAt").ends_with('Z'));
    assert_eq!(call_count(&s.fetch), 1);
    let body = last_body(&s.fetch).unwrap();
    assert!(
        body.starts_with("grant_type=refresh_token&refresh_token=rt-0&client_id=cid"),
        "{body}"
    );
    let after = stored_row(&s.store, "user-1", "google");
    assert_eq!(
        get(&after, "version").as_f64(),
        get(&before, "version").as_f64().map(|v| v + 1.0)
    );
    let sealed = get_str(&after, "accessTokenSealed");
    assert!(sealed.starts_with("v1.k1.") && !sealed.contains("at-1"));
    // Fresh now: served from the store without a call.
    let t = s.get("google").await.unwrap();
    assert_eq!(get(&t, "refreshed").as_bool(), Some(false));
    assert_eq!(call_count(&s.fetch), 1);
}

#[wasm_bindgen_test]
async fn provider_calls_leave_nothing_behind_in_the_js_heap() {
    // Each call arms a timeout; a call that beats it must free the timer's
    // closure and the AbortController it holds, not leave them to JS for good.
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    let force: JsValue = json(r#"{"force":true}"#);
    let refresh = || {
        settle(s.m.get_valid_token(
            "user-1".into(),
            "google".into(),
            Some(force.clone().unchecked_into()),
        ))
    };
    refresh().await.unwrap();
    let before = wasm_bindgen::externref_heap_live_count();
    for _ in 0..20 {
        refresh().await.unwrap();
    }
    let after = wasm_bindgen::externref_heap_live_count();
    assert_eq!(call_count(&s.fetch), 21);
    assert!(
        after <= before + 2,
        "{before} live JS references before 20 calls, {after} after"
    );
}

#[wasm_bindgen_test]
async fn concurrent_calls_make_one_provider_call() {
    let s = setup("{}", r#"{"delayMs":20}"#);
    s.connect("google", 0, "rt-0").await;
    let promises: Vec<Promise> = (0..25)
        .map(|_| s.m.get_valid_token("user-1".into(), "google".into(), None))
        .collect();
    let all = js_sys::Array::from_iter(promises.iter());
    let results = settle(Promise::all(&all)).await.unwrap();
    let results: js_sys::Array = results.into();
    assert_eq!(results.length(), 25);
    for r in results.iter() {
        assert_eq!(get_str(&r, "accessToken"), "at-1");
    }
    assert_eq!(call_count(&s.fetch), 1);
    assert_eq!(lease_calls(&s.store), 1);
}

#[wasm_bindgen_test]
async fn rotated_refresh_token_is_stored_and_sent_next() {
    let s = setup(r#"{"refreshMarginSeconds":0}"#, r#"{"rotate":true}"#);
    s.connect("discord", 0, "rt-0").await;
    s.get("discord").await.unwrap();
    let force = json(r#"{"force":true}"#).unchecked_into();
    settle(s.m.get_valid_token("user-1".into(), "discord".into(), Some(force)))
        .await
        .unwrap();
    assert!(last_body(&s.fetch).unwrap().contains("refresh_token=rt-1"));
}

#[wasm_bindgen_test]
async fn invalid_grant_rejects_with_a_typed_error() {
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(
        &s.fetch,
        json(r#"{"status":400,"body":"{\"error\":\"invalid_grant\"}"}"#),
    );
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get(&e, "isError").as_bool(), Some(true));
    assert_eq!(get_str(&e, "name"), "TokenManagerError");
    assert_eq!(get_str(&e, "code"), "REAUTH_REQUIRED");
    assert_eq!(get(&e, "requiresReauth").as_bool(), Some(true));
    assert_eq!(get(&e, "httpStatus").as_f64(), Some(401.0));
    let status = settle(s.m.status("user-1".into(), "google".into()))
        .await
        .unwrap();
    assert_eq!(get_str(&status, "status"), "needs_reauth");
    let text = JSON::stringify(&status).unwrap().as_string().unwrap();
    assert!(
        !text.contains("at-initial") && !text.contains("rt-0"),
        "{text}"
    );
}

#[wasm_bindgen_test]
async fn rate_limit_carries_retry_after() {
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(
        &s.fetch,
        json(r#"{"status":429,"body":"","headers":{"retry-after":"90"}}"#),
    );
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "RATE_LIMITED");
    assert_eq!(get(&e, "retryAfter").as_f64(), Some(90.0));
    assert_eq!(get(&e, "retryable").as_bool(), Some(true));
    // No provider call during the cooldown.
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "RATE_LIMITED");
    assert_eq!(call_count(&s.fetch), 1);
}

#[wasm_bindgen_test]
async fn a_rate_limits_reset_header_reaches_the_core() {
    // Discord's bucket reset, fractional seconds, on a 429 without Retry-After.
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(
        &s.fetch,
        json(r#"{"status":429,"body":"","headers":{"x-ratelimit-reset-after":"42.2"}}"#),
    );
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "RATE_LIMITED");
    // The cooldown: at least what the provider asked (30 s otherwise).
    assert_eq!(get(&e, "retryAfter").as_f64(), Some(43.0));
}

#[wasm_bindgen_test]
async fn a_hanging_provider_times_out() {
    let s = setup(r#"{"requestTimeoutMs":50,"maxAttempts":1}"#, "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(&s.fetch, json(r#"{"hang":true}"#));
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "TIMEOUT");
}

#[wasm_bindgen_test]
async fn a_failing_fetch_is_a_network_error_then_retried() {
    let s = setup(r#"{"backoffBaseMs":1,"backoffCapMs":2}"#, "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(&s.fetch, json(r#"{"reject":"connection refused"}"#));
    let t = s.get("google").await.unwrap();
    assert_eq!(get_str(&t, "accessToken"), "at-2");
    assert_eq!(call_count(&s.fetch), 2);
    let s = setup(r#"{"maxAttempts":1}"#, "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(&s.fetch, json(r#"{"reject":"connection refused"}"#));
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "NETWORK");
}

#[wasm_bindgen_test]
async fn malformed_provider_body_is_bad_provider_response_without_token_bytes() {
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    push_reply(
        &s.fetch,
        json(r#"{"status":200,"body":"<html>oops rt-0</html>"}"#),
    );
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "BAD_PROVIDER_RESPONSE");
    assert!(!get_str(&e, "message").contains("rt-0"));
}

fn construct_err(config: JsValue, store: JsValue) -> JsValue {
    let e = match TokenManager::new(config, store, None) {
        Ok(_) => panic!("expected a CONFIG error"),
        Err(e) => describe_error(&e),
    };
    assert_eq!(get_str(&e, "code"), "CONFIG");
    e
}

#[wasm_bindgen_test]
fn bad_config_fails_at_construction_naming_the_field() {
    let cases = [
        (
            r#"{"providers":{"acme":{"clientId":"a","clientSecret":"b"}},"encryptionKeys":[{"id":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}"#,
            "providers.acme: unknown provider",
        ),
        (
            r#"{"providers":{"google":{"clientSecret":"b"}},"encryptionKeys":[{"id":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}]}"#,
            "providers.google.clientId",
        ),
        (
            r#"{"providers":{"google":{"clientId":"a","clientSecret":"b"}},"encryptionKeys":[{"id":"k1","key":"c2hvcnQ="}]}"#,
            "encryptionKeys[0].key",
        ),
    ];
    for (config, field) in cases {
        let e = construct_err(json(config), new_memory_store());
        assert!(
            get_str(&e, "message").starts_with(field),
            "{}",
            get_str(&e, "message")
        );
        assert!(!get_str(&e, "message").contains("c2hvcnQ"));
    }
    let e = construct_err(make_config(json("{}")), store_without("tryLease"));
    assert_eq!(get_str(&e, "message"), "store.tryLease: must be a function");
    let e = construct_err(JsValue::from_str("nope"), new_memory_store());
    assert_eq!(get_str(&e, "message"), "config: must be an object");
}

/// Values `JSON.stringify` refuses are errors that name the argument and carry
/// nothing of the value or of what a `toJSON` threw.
#[wasm_bindgen_test]
async fn values_that_are_not_json_data_are_refused_by_name() {
    let config = make_config(json("{}"));
    Reflect::set(&config, &"self".into(), &config).unwrap();
    let e = construct_err(config, new_memory_store());
    assert_eq!(
        get_str(&e, "message"),
        "config: must be JSON data (no cycles, BigInts or throwing toJSON)"
    );

    let config = make_config(json("{}"));
    let throws = js_sys::Function::new_no_args("throw new Error('sk_live_do_not_echo')");
    Reflect::set(&get(&config, "providers"), &"toJSON".into(), &throws).unwrap();
    let e = construct_err(config, new_memory_store());
    assert!(get_str(&e, "message").starts_with("config: must be JSON data"));
    assert!(!get_str(&e, "message").contains("sk_live"));

    let s = setup("{}", "{}");
    let options = Object::new();
    Reflect::set(
        &options,
        &"minValiditySeconds".into(),
        &js_sys::BigInt::from(60u64).into(),
    )
    .unwrap();
    let e = describe_error(
        &settle(s.m.get_valid_token(
            "user-1".into(),
            "google".into(),
            Some(options.unchecked_into()),
        ))
        .await
        .unwrap_err(),
    );
    assert_eq!(get_str(&e, "code"), "BAD_REQUEST");
    assert!(get_str(&e, "message").starts_with("options: must be JSON data"));
}

#[wasm_bindgen_test]
async fn bad_arguments_reject_with_bad_request() {
    let s = setup("{}", "{}");
    let e = describe_error(
        &settle(s.m.store_tokens("u".into(), "google".into(), json(r#"{"refreshToken":"x"}"#)))
            .await
            .unwrap_err(),
    );
    assert_eq!(get_str(&e, "code"), "BAD_REQUEST");
    assert!(
        get_str(&e, "message").starts_with("tokens.accessToken")
            || get_str(&e, "message").contains("accessToken")
    );
    let e = describe_error(&s.get("spotify").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "BAD_REQUEST");
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "NOT_CONNECTED");
}

#[wasm_bindgen_test]
fn helpers_for_browsers() {
    let codes: js_sys::Array = error_codes().into();
    assert_eq!(codes.length(), 31);
    let marker = format_marker(1_795_200_239_123.0);
    assert_eq!(marker, "2026-11-20T18:43:59.123Z");
    assert_eq!(parse_marker(&marker), Some(1_795_200_239_123.0));
    assert!(marker_is_newer(&marker, Some(1_795_200_239_122.0)));
    assert!(!marker_is_newer(&marker, Some(1_795_200_239_123.0)));
    assert!(!marker_is_newer("garbage", None));
}

#[wasm_bindgen_test]
async fn connect_flow_through_the_js_store_and_fetch() {
    let s = setup(
        r#"{"providers":{"spotify":{"clientId":"sid","clientSecret":"ss",
            "tokenUrl":"http://127.0.0.1:9/api/token","authUrl":"http://127.0.0.1:9/authorize",
            "userinfoUrl":"http://127.0.0.1:9/v1/me","identity":"spotify"}}}"#,
        "{}",
    );
    let start = settle(s.m.begin_connect(
        "11111111-1111-4111-8111-111111111111".into(),
        "spotify".into(),
        json(r#"{"redirectUri":"http://127.0.0.1:54321/functions/v1/connections/callback","returnTo":"http://localhost:5173/"}"#),
    ))
    .await
    .unwrap();
    let url = get_str(&start, "authorizationUrl");
    assert!(url.starts_with("http://127.0.0.1:9/authorize?response_type=code&client_id=sid"));
    assert!(url.contains("code_challenge_method=S256"));
    let state = url
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .unwrap()
        .to_string();
    let params = Object::new();
    Reflect::set(&params, &"state".into(), &state.clone().into()).unwrap();
    Reflect::set(&params, &"code".into(), &"code-1".into()).unwrap();
    let cb = settle(s.m.connect_callback(params.clone().into()))
        .await
        .unwrap();
    assert_eq!(get_str(&cb, "returnTo"), "http://localhost:5173/");
    assert!(get(&cb, "error").is_null());
    let ticket = get_str(&cb, "ticket");
    // The exchange answers a token; the user-info endpoint says who it is.
    push_reply(
        &s.fetch,
        json(
            r#"{"status":200,"body":"{\"access_token\":\"sp-at\",\"token_type\":\"Bearer\",\"expires_in\":3600,\"refresh_token\":\"sp-rt\"}"}"#,
        ),
    );
    push_reply(
        &s.fetch,
        json(
            r#"{"status":200,"body":"{\"id\":\"sp-user\",\"display_name\":\"Ada\",\"email\":\"ada@example.com\"}"}"#,
        ),
    );
    let st = settle(s.m.complete_connect(
        "11111111-1111-4111-8111-111111111111".into(),
        ticket.clone(),
    ))
    .await
    .unwrap();
    assert_eq!(get_str(&st, "status"), "connected");
    assert_eq!(get_str(&st, "accountId"), "sp-user");
    assert!(
        last_body(&s.fetch).is_none_or(|b| b.is_empty()),
        "the last call was the GET user-info"
    );
    // Replays of the state and the ticket are refused; a completed attempt
    // is gone, so its state is as unknown as a forged one.
    let replay = settle(s.m.connect_callback(params.into()))
        .await
        .unwrap_err();
    assert_eq!(
        get_str(&describe_error(&replay), "code"),
        "CONNECT_STATE_INVALID"
    );
    let again = settle(s.m.complete_connect("11111111-1111-4111-8111-111111111111".into(), ticket))
        .await
        .unwrap_err();
    assert_eq!(
        get_str(&describe_error(&again), "code"),
        "CONNECT_STATE_INVALID"
    );
    let all = settle(s.m.status_all("11111111-1111-4111-8111-111111111111".into()))
        .await
        .unwrap();
    assert_eq!(js_sys::Array::from(&all).length(), 1);
    let d = settle(s.m.disconnect(
        "11111111-1111-4111-8111-111111111111".into(),
        "spotify".into(),
    ))
    .await
    .unwrap();
    assert_eq!(get_str(&d, "revocation"), "not_supported");
    assert_eq!(get_str(&get(&d, "status"), "status"), "disconnected");
    assert!(get(
        &stored_row(&s.store, "11111111-1111-4111-8111-111111111111", "spotify"),
        "refreshTokenSealed"
    )
    .is_null());
}

#[wasm_bindgen(module = "/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = TokenManagerError)]
    type ErrorClass;
}

#[wasm_bindgen_test]
async fn rejections_are_instances_of_the_exported_error_class() {
    let s = setup("{}", "{}");
    let e = settle(s.m.get_valid_token(
        "11111111-1111-4111-8111-111111111111".into(),
        "google".into(),
        None,
    ))
    .await
    .unwrap_err();
    assert!(
        e.is_instance_of::<ErrorClass>(),
        "instanceof TokenManagerError"
    );
    assert!(e.is_instance_of::<js_sys::Error>(), "still an Error");
    assert_eq!(get_str(&e, "name"), "TokenManagerError");
    assert_eq!(get_str(&e, "code"), "NOT_CONNECTED");
    assert_eq!(get(&e, "httpStatus").as_f64(), Some(404.0));
}

#[wasm_bindgen_test]
async fn every_call_reads_the_store_once_sync_or_async() {
    for store in [new_memory_store(), async_load_store()] {
        let fetch = scripted_fetch(json("{}"));
        let options = Object::new();
        Reflect::set(&options, &"fetch".into(), &get(&fetch, "fetch")).unwrap();
        let m = TokenManager::new(
            make_config(json("{}")),
            store.clone(),
            Some(options.unchecked_into()),
        )
        .unwrap();
        let user = "11111111-1111-4111-8111-111111111111";
        settle(m.store_tokens(
            user.into(),
            "google".into(),
            json(r#"{"accessToken":"at-fresh","refreshToken":"rt","expiresIn":3600}"#),
        ))
        .await
        .unwrap();
        let before = load_count(&store);
        let t = settle(m.get_valid_token(user.into(), "google".into(), None))
            .await
            .unwrap();
        assert_eq!(get_str(&t, "accessToken"), "at-fresh");
        assert_eq!(load_count(&store) - before, 1, "a fresh token: one read");
        // Expired: the full path takes the first read it was handed.
        settle(m.store_tokens(
            user.into(),
            "google".into(),
            json(r#"{"accessToken":"at-old","refreshToken":"rt","expiresIn":0}"#),
        ))
        .await
        .unwrap();
        let before = load_count(&store);
        let t = settle(m.get_valid_token(user.into(), "google".into(), None))
            .await
            .unwrap();
        assert_eq!(get_str(&t, "accessToken"), "at-1");
        assert_eq!(call_count(&fetch), 1);
        assert!(get(&t, "refreshed").as_bool().unwrap());
        assert_eq!(
            load_count(&store) - before,
            1,
            "an expired token: still one read before the lease"
        );
    }
}

#[wasm_bindgen_test]
async fn an_answer_past_a_megabyte_is_not_read_as_a_token() {
    let s = setup("{}", "{}");
    s.connect("google", 0, "rt-0").await;
    // A token answer padded past 1 MiB (a broken or hostile endpoint).
    let body = format!(
        r#"{{"access_token":"at-big","token_type":"Bearer","expires_in":3600}}{}"#,
        " ".repeat(1_100_000)
    );
    let reply = Object::new();
    Reflect::set(&reply, &"status".into(), &200.into()).unwrap();
    Reflect::set(&reply, &"body".into(), &body.into()).unwrap();
    push_reply(&s.fetch, reply.into());
    let e = describe_error(&s.get("google").await.unwrap_err());
    assert_eq!(get_str(&e, "code"), "BAD_PROVIDER_RESPONSE");
}
