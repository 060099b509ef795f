//! Error mapping for the HTTP front ends: one table from error code to HTTP status and
//! a stable machine-readable string; the same codes render as a TAXII error resource or
//! as a REST error object. Domain errors ([`crate::service::Error`]) map onto it here.
//! The message shown to the client is separate from the cause, which is only logged.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use hinomi_store::StoreError;

use crate::service::{Error, Kind};
use crate::TAXII_MEDIA_TYPE;

macro_rules! error_codes {
    ($($variant:ident => $status:ident, $code:literal, $title:literal;)*) => {
        /// Every error a client can receive.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[non_exhaustive]
        pub enum Code { $($variant),* }

        impl Code {
            /// The HTTP status of the code.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status),* }
            }
            /// The stable string clients match on.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }
            /// A short title (TAXII `title`).
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),* }
            }
        }
    };
}

error_codes! {
    BadRequest => BAD_REQUEST, "bad_request", "Bad request";
    InvalidFilter => BAD_REQUEST, "invalid_filter", "Invalid filter";
    InvalidJson => BAD_REQUEST, "invalid_json", "Invalid JSON";
    Unauthorized => UNAUTHORIZED, "unauthorized", "Authentication required";
    Forbidden => FORBIDDEN, "forbidden", "Not allowed";
    NotFound => NOT_FOUND, "not_found", "Not found";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed";
    NotAcceptable => NOT_ACCEPTABLE, "not_acceptable", "Not acceptable";
    Conflict => CONFLICT, "conflict", "Conflict";
    RequestTimeout => REQUEST_TIMEOUT, "request_timeout", "Request timeout";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "Request too large";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type";
    Unprocessable => UNPROCESSABLE_ENTITY, "unprocessable", "Unprocessable content";
    TooManyRequests => TOO_MANY_REQUESTS, "too_many_requests", "Too many requests";
    Internal => INTERNAL_SERVER_ERROR, "internal", "Internal error";
    Unavailable => SERVICE_UNAVAILABLE, "unavailable", "Service unavailable";
}

/// Which kind of error body to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Taxii,
    Rest,
}

/// An error for a client.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    /// What the client reads.
    pub message: String,
    /// What the log gets (never a secret).
    pub cause: Option<String>,
    pub flavor: Flavor,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            cause: None,
            flavor: Flavor::Rest,
        }
    }

    pub fn taxii(mut self) -> ApiError {
        self.flavor = Flavor::Taxii;
        self
    }

    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError {
            code: Code::Internal,
            message: "the hub could not complete the request; the cause is in its log".into(),
            cause: Some(cause.to_string()),
            flavor: Flavor::Rest,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let code = match e.kind {
            Kind::BadRequest => Code::BadRequest,
            Kind::InvalidFilter => Code::InvalidFilter,
            Kind::InvalidJson => Code::InvalidJson,
            Kind::Unauthorized => Code::Unauthorized,
            Kind::Forbidden => Code::Forbidden,
            Kind::NotFound => Code::NotFound,
            Kind::Conflict => Code::Conflict,
            Kind::PayloadTooLarge => Code::PayloadTooLarge,
            Kind::Unprocessable => Code::Unprocessable,
            Kind::TooManyRequests => Code::TooManyRequests,
            Kind::Unavailable => Code::Unavailable,
            Kind::Internal => Code::Internal,
        };
        ApiError {
            code,
            message: e.message,
            cause: e.cause,
            flavor: Flavor::Rest,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::from(Error::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            tracing::error!(code = self.code.as_str(), cause = ?self.cause, "request failed");
        } else {
            tracing::debug!(code = self.code.as_str(), message = %self.message, "request refused");
        }
        let (body, ctype) = match self.flavor {
            Flavor::Taxii => (
                json!({
                    "title": self.code.title(),
                    "description": self.message,
                    "error_code": self.code.as_str(),
                    "http_status": status.as_u16().to_string(),
                }),
                TAXII_MEDIA_TYPE,
            ),
            Flavor::Rest => (
                json!({"error": {"code": self.code.as_str(), "message": self.message}}),
                "application/json",
            ),
        };
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
        if self.code == Code::TooManyRequests || self.code == Code::Unavailable {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.code == Code::Unauthorized {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hinomi\", Basic realm=\"hinomi\""),
            );
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
