//! Integration tests of hinomi-pattern: one binary, one module per concern.

mod bulk;
mod corpus;
mod eval;
mod parse;
