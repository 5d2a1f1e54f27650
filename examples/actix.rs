//! actix-web: a sealed cookie session in a small JSON API. Sign in, add to
//! the cart, show, sign out; the session lives only in the cookie.
//!
//! ```text
//! cargo run --example actix --features actix -- --insecure --listen 127.0.0.1:8081
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

use actix_web::{web, App, HttpResponse, HttpServer};
use sealed_session::actix::{SealedSession, SealedSessionMiddleware};
use sealed_session::{Codec, KeyRing};
use serde::{Deserialize, Serialize};

/// The session: who is signed in and what is in the cart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartSession {
    /// Signed-in user name, if any.
    pub user: Option<String>,
    /// Items, in the order they were added.
    pub cart: Vec<String>,
}

/// The session middleware, for `App::wrap`. It opens the cookie when a
/// handler first asks (an invalid one is no session), and writes it only
/// when the session changed or needs a re-seal (rotated key, sliding
/// refresh). A cart too large for the cookie is answered 413.
pub fn session_middleware(codec: Codec) -> SealedSessionMiddleware<CartSession> {
    SealedSessionMiddleware::new(codec).on_unsealable(|_, _| {
        HttpResponse::PayloadTooLarge().body("the cart is full: remove something first\n")
    })
}

/// The routes, for `App::configure`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(show))
        .route("/sign-in", web::post().to(sign_in))
        .route("/cart", web::post().to(add_to_cart))
        .route("/sign-out", web::post().to(sign_out));
}

/// The session as JSON.
fn respond(session: &SealedSession<CartSession>) -> HttpResponse {
    let session = session.get().unwrap_or_default();
    HttpResponse::Ok().json(serde_json::json!({ "user": session.user, "cart": session.cart }))
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

async fn show(session: SealedSession<CartSession>) -> HttpResponse {
    respond(&session)
}

async fn sign_in(session: SealedSession<CartSession>, form: web::Form<SignInForm>) -> HttpResponse {
    let Some(user) = clean(&form.username) else {
        return HttpResponse::BadRequest().body("a user name has 1 to 64 characters\n");
    };
    // A fresh seal on sign-in, changed or not.
    session.renew();
    session.update(|s| s.user = Some(user));
    respond(&session)
}

async fn add_to_cart(
    session: SealedSession<CartSession>,
    form: web::Form<ItemForm>,
) -> HttpResponse {
    let Some(item) = clean(&form.item) else {
        return HttpResponse::BadRequest().body("an item has 1 to 64 characters\n");
    };
    session.update(|s| s.cart.push(item));
    respond(&session)
}

async fn sign_out(session: SealedSession<CartSession>) -> HttpResponse {
    // Expires the cookie (and any chunks, with the same Domain and Path)
    // even if this server could not open it.
    session.purge();
    respond(&session)
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
    let middleware = session_middleware(codec);
    let server = HttpServer::new(move || App::new().wrap(middleware.clone()).configure(configure))
        .bind(&listen)?;
    for address in server.addrs() {
        println!("actix example listening on http://{address}");
    }
    server.run().await
}
