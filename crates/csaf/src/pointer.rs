//! JSON pointers (RFC 6901) for findings.

use std::fmt;

/// Escape one reference token.
pub(crate) fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[derive(Debug, Clone, Copy)]
enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

/// A JSON pointer built while walking a document. Tokens borrow the keys of
/// the document and are only escaped and joined when the pointer is
/// formatted (on a failure), so walking allocates nothing per step.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathBuf<'a> {
    tokens: Vec<Token<'a>>,
}

impl<'a> PathBuf<'a> {
    pub(crate) fn push_key(&mut self, key: &'a str) {
        self.tokens.push(Token::Key(key));
    }

    pub(crate) fn push_index(&mut self, i: usize) {
        self.tokens.push(Token::Index(i));
    }

    pub(crate) fn pop(&mut self) {
        self.tokens.pop();
    }
}

impl fmt::Display for PathBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tokens {
            match t {
                Token::Key(k) if k.contains(['~', '/']) => write!(f, "/{}", escape(k))?,
                Token::Key(k) => write!(f, "/{k}")?,
                Token::Index(i) => write!(f, "/{i}")?,
            }
        }
        Ok(())
    }
}
