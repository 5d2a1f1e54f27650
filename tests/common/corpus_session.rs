//! The typed session of the test corpus (tests/data/corpus/generate.py), shared
//! by the tests and the benchmarks that need a realistic `serde` type.
//! Included with `#[path]` from benches/, so it has no other dependency than
//! serde.

#![allow(dead_code)]

use serde::{Deserialize, Serialize};

/// The shape of the corpus sessions. `deny_unknown_fields`, and the shape
/// check in tests/corpus_round_trip.rs, make sure it mirrors every field of
/// every line (field order included, so it re-serializes byte for byte).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Session {
    pub csrf: String,
    pub locale: String,
    pub currency: String,
    pub visitor: String,
    pub created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<Vec<CartItem>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recently_viewed: Option<Vec<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<Vec<Flash>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_history: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub nickname: String,
    pub email: String,
    pub level: String,
    pub roles: Vec<String>,
    pub avatar: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CartItem {
    pub sku_id: u64,
    pub spu_id: u64,
    pub title: String,
    pub category: String,
    pub price: String,
    pub count: u32,
    pub image: String,
    pub attrs: Vec<Attr>,
    pub checked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attr {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flash {
    pub level: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub phone: String,
    pub line1: String,
    pub city: String,
    pub zip: String,
}
