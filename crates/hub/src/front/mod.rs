//! The front ends: thin adapters that extract a request, call one service function and
//! render its answer. No front end imports another; each uses `crate::http` for
//! bodies, negotiation, authentication and error mapping.

mod ops;
mod provider;
mod rest;
mod stream;
mod taxii;

use axum::Router;

use crate::Shared;

/// Every route of the hub.
pub fn routes() -> Router<Shared> {
    Router::new()
        .merge(ops::routes())
        .merge(provider::routes())
        .merge(taxii::routes())
        .merge(rest::routes())
        .merge(stream::routes())
}

/// `s` safe inside HTML text and double-quoted attributes.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
