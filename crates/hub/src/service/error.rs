//! The errors of the domain: what went wrong, in the hub's terms. Front ends map a
//! [`Kind`] to their own vocabulary (an HTTP status and error body, a CLI exit code);
//! nothing here knows about HTTP.

use hinomi_store::StoreError;

/// What kind of failure an operation ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The input is wrong; the message names the field.
    BadRequest,
    /// A filter or query parameter is wrong.
    InvalidFilter,
    /// The input is not well-formed JSON or does not have the expected shape.
    InvalidJson,
    /// The operation needs an authenticated caller, or the credentials are not valid.
    Unauthorized,
    /// The caller is known but may not do this.
    Forbidden,
    /// Nothing the caller may see has this name.
    NotFound,
    /// The state changed meanwhile, or the name is taken.
    Conflict,
    /// The input exceeds a bound of the hub.
    PayloadTooLarge,
    /// Well-formed input that the operation cannot use.
    Unprocessable,
    /// The caller is over its rate.
    TooManyRequests,
    /// A dependency (the database) is not there.
    Unavailable,
    /// A fault of the hub; the cause is logged, not shown.
    Internal,
}

/// A failed operation: its kind, the message for whoever asked, and the cause that only
/// the log gets.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub cause: Option<String>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            cause: None,
        }
    }

    /// A fault of the hub: the caller reads a fixed sentence, the log the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Error {
        Error {
            kind: Kind::Internal,
            message: "the hub could not complete the request; the cause is in its log".into(),
            cause: Some(cause.to_string()),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(c) = &self.cause {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound(what) => Error::new(Kind::NotFound, format!("{what} not found")),
            StoreError::Invalid(m) => Error::new(Kind::BadRequest, m),
            StoreError::Conflict(m) => Error::new(Kind::Conflict, m),
            StoreError::AlreadyBootstrapped(_) => Error::new(Kind::Conflict, e.to_string()),
            other => Error::internal(other),
        }
    }
}

/// The result of a domain operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
