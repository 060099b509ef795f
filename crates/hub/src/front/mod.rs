//! The front ends: thin adapters that extract a request, call one service function and
//! render its answer. No front end imports another; each uses `crate::http` for
//! bodies, negotiation, authentication and error mapping.

mod ops;
mod provider;
mod rest;
mod stream;
mod taxii;
mod web;

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
        .merge(web::routes())
}
