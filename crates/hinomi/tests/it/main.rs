//! Integration tests of the `hinomi` binary.

mod csaf_cli;
mod import_cli;
mod pattern_cli;
mod publish_cli;
