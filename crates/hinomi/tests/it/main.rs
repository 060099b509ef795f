//! Integration tests of the `hinomi` binary.

mod audit_cli;
mod csaf_cli;
mod import_cli;
mod pattern_cli;
mod publish_cli;
