//! actix-web: a sealed cookie session in a small JSON API. Sign in, add to
//! the cart, show, sign out; the session lives only in the cookie.
//!
//! ```text
//! cargo run --example actix -- --insecure --listen 127.0.0.1:8081
//! curl -c jar -b jar -d username=ana http://127.0.0.1:8081/sign-in
//! curl -c jar -b jar -d item=teapot http://127.0.0.1:8081/cart
//! curl -c jar -b jar http://127.0.0.1:8081/
//! curl -c jar -b jar -X POST http://127.0.0.1:8081/sign-out
//! ```
//!
//! Keys come from `SEALED_SESSION_KEYS` (see `KeyRing::from_env`); without
//! it the example uses an ephemeral development key and says so.
//! `--insecure` drops the Secure attribute, for plain HTTP on your own
//! machine only; `--domain NAME` shares the cookie with NAME's subdomains.

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use sealed_session::{Codec, KeyRing, Opened};
use serde::{Deserialize, Serialize};

/// The session: who is signed in and what is in the cart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartSession {
    /// Signed-in user name, if any.
    pub user: Option<String>,
    /// Items, in the order they were added.
    pub cart: Vec<String>,
}

/// Shared by the handlers (actix clones the `web::Data` pointer per worker).
pub struct AppState {
    codec: Codec,
}

/// Wraps a configured codec for the app.
pub fn app_state(codec: Codec) -> web::Data<AppState> {
    web::Data::new(AppState { codec })
}

/// The routes, for `App::configure`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(show))
        .route("/sign-in", web::post().to(sign_in))
        .route("/cart", web::post().to(add_to_cart))
        .route("/sign-out", web::post().to(sign_out));
}

/// The session as the request brought it, and as the handler leaves it.
struct Exchange {
    opened: Option<Opened<CartSession>>,
    session: Option<CartSession>,
}

impl Exchange {
    fn read(state: &AppState, request: &HttpRequest) -> Self {
        // Every Cookie header field, as bytes: a non-ASCII cookie of
        // another application is skipped, the others are kept. Invalid
        // (tampered, expired, unknown key): no session. The codec logs why
        // at debug level.
        let opened = state
            .codec
            .session_fields::<CartSession>(request.headers().get_all(header::COOKIE));
        let session = opened.as_ref().map(|o| o.session.clone());
        Exchange { opened, session }
    }

    /// A JSON response with Set-Cookie only when the session changed or the
    /// codec asks for a re-seal (rotated key, sliding refresh).
    fn respond(&self, state: &AppState) -> HttpResponse {
        let before = self.opened.as_ref().map(|o| &o.session);
        let reseal = self.opened.as_ref().is_some_and(|o| o.needs_reseal());
        let cookies: Vec<String> = match &self.session {
            None if before.is_some() => state.codec.removal().into_iter().collect(),
            Some(session) if reseal || Some(session) != before => {
                match state.codec.encode(session) {
                    Ok(cookies) => cookies.into_iter().collect(),
                    Err(err) => {
                        log::warn!("session not saved: {err}");
                        return HttpResponse::PayloadTooLarge()
                            .body("the cart is full: remove something first\n");
                    }
                }
            }
            _ => Vec::new(),
        };
        let mut response = HttpResponse::Ok();
        for cookie in cookies {
            response.append_header((header::SET_COOKIE, cookie));
        }
        let session = self.session.clone().unwrap_or_default();
        response.json(serde_json::json!({ "user": session.user, "cart": session.cart }))
    }
}

#[derive(Deserialize)]
struct SignInForm {
    username: String,
}

#[derive(Deserialize)]
struct ItemForm {
    item: String,
}

fn clean(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && text.len() <= 64).then(|| text.to_owned())
}

async fn show(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    Exchange::read(&state, &request).respond(&state)
}

async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let Some(user) = clean(&form.username) else {
        return HttpResponse::BadRequest().body("a user name has 1 to 64 characters\n");
    };
    let mut exchange = Exchange::read(&state, &request);
    exchange
        .session
        .get_or_insert_with(CartSession::default)
        .user = Some(user);
    exchange.respond(&state)
}

async fn add_to_cart(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<ItemForm>,
) -> HttpResponse {
    let Some(item) = clean(&form.item) else {
        return HttpResponse::BadRequest().body("an item has 1 to 64 characters\n");
    };
    let mut exchange = Exchange::read(&state, &request);
    exchange
        .session
        .get_or_insert_with(CartSession::default)
        .cart
        .push(item);
    exchange.respond(&state)
}

async fn sign_out(state: web::Data<AppState>) -> HttpResponse {
    // Expire the cookie even if this server could not open it; the removal
    // repeats Domain and Path so the browser really drops it.
    let mut response = HttpResponse::Ok();
    for cookie in state.codec.removal() {
        response.append_header((header::SET_COOKIE, cookie));
    }
    response.json(serde_json::json!({ "user": null, "cart": [] }))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:8081".to_owned();
    let mut secure = true;
    let mut domain = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--insecure" => secure = false,
            "--listen" | "--domain" => {
                let Some(value) = args.next() else {
                    eprintln!("actix: {arg} needs a value");
                    std::process::exit(2);
                };
                if arg == "--listen" {
                    listen = value;
                } else {
                    domain = Some(value);
                }
            }
            _ => {
                eprintln!("usage: actix [--listen ADDR] [--domain NAME] [--insecure]");
                std::process::exit(2);
            }
        }
    }
    let ring = if std::env::var_os("SEALED_SESSION_KEYS").is_some() {
        KeyRing::from_env("SEALED_SESSION_KEYS")
    } else {
        eprintln!(
            "!!! DEVELOPMENT KEY: SEALED_SESSION_KEYS is not set, using an ephemeral key; \
             every session ends when this process stops. !!!"
        );
        Ok(KeyRing::ephemeral_for_development())
    };
    let name = if secure { "__Secure-cart" } else { "cart" };
    let mut builder = Codec::builder(name).secure(secure);
    if let Some(domain) = &domain {
        builder = builder.domain(domain);
    }
    let codec = match ring.and_then(|ring| builder.key_ring(ring).build()) {
        Ok(codec) => codec,
        Err(err) => {
            eprintln!("actix: {err}");
            std::process::exit(2);
        }
    };
    let state = app_state(codec);
    let server = HttpServer::new(move || App::new().app_data(state.clone()).configure(configure))
        .bind(&listen)?;
    for address in server.addrs() {
        println!("actix example listening on http://{address}");
    }
    server.run().await
}
