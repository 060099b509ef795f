//! JSON pointers (RFC 6901) for findings.

use std::fmt;

/// Escape one reference token.
pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON pointer built while walking a document.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathBuf {
    tokens: Vec<String>,
}

impl PathBuf {
    pub(crate) fn push_key(&mut self, key: &str) {
        self.tokens.push(escape(key));
    }

    pub(crate) fn push_index(&mut self, i: usize) {
        self.tokens.push(i.to_string());
    }

    pub(crate) fn pop(&mut self) {
        self.tokens.pop();
    }
}

impl fmt::Display for PathBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tokens {
            write!(f, "/{t}")?;
        }
        Ok(())
    }
}
