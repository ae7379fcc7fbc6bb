//! Declared licenses: an SPDX license expression (SPDX 2.3 Annex D) is written as one,
//! anything else (`MIT/Apache-2.0`, `Proprietary`, a sentence) as free text, which SPDX
//! records under a `LicenseRef-` and CycloneDX as a license `name`. Both validators reject an
//! expression naming an identifier outside the SPDX License List, so the list is checked here
//! (`spdx-licenses.txt`, `spdx-exceptions.txt`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// A component's declared license, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Declared {
    /// A valid SPDX expression, identifiers in the list's spelling (matching is
    /// case-insensitive, Annex D.2), single spaces between tokens.
    Expression(String),
    /// Not an SPDX expression: kept as written.
    Text(String),
}

pub(super) fn classify(declared: &str) -> Declared {
    match canonical_expression(declared) {
        Some(expression) => Declared::Expression(expression),
        None => Declared::Text(declared.trim().to_string()),
    }
}

struct Lists {
    licenses: HashMap<String, &'static str>,
    exceptions: HashMap<String, &'static str>,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| {
        let read = |text: &'static str| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(|id| (id.to_ascii_lowercase(), id))
                .collect()
        };
        Lists {
            licenses: read(include_str!("spdx-licenses.txt")),
            exceptions: read(include_str!("spdx-exceptions.txt")),
        }
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    With,
    Word(String),
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<Token>| {
        if !word.is_empty() {
            // Operators are case-sensitive (Annex D.2): `or` is not `OR`.
            tokens.push(match word.as_str() {
                "AND" => Token::And,
                "OR" => Token::Or,
                "WITH" => Token::With,
                _ => Token::Word(word.clone()),
            });
            word.clear();
        }
    };
    for c in text.chars() {
        match c {
            '(' | ')' => {
                flush(&mut word, &mut tokens);
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// Recursive descent over the Annex D grammar (WITH binds tighter than AND, AND than OR),
/// writing the canonical form as it goes.
struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    out: Vec<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or_expression(&mut self) -> Option<()> {
        self.and_expression()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            self.out.push("OR".into());
            self.and_expression()?;
        }
        Some(())
    }

    fn and_expression(&mut self) -> Option<()> {
        self.with_expression()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            self.out.push("AND".into());
            self.with_expression()?;
        }
        Some(())
    }

    fn with_expression(&mut self) -> Option<()> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            self.out.push("(".into());
            self.or_expression()?;
            if self.peek() != Some(&Token::Close) {
                return None;
            }
            self.at += 1;
            self.out.push(")".into());
            return Some(());
        }
        let Some(Token::Word(word)) = self.peek() else {
            return None;
        };
        let (id, plus) = match word.strip_suffix('+') {
            Some(id) => (id, "+"),
            None => (word.as_str(), ""),
        };
        let id = lists().licenses.get(&id.to_ascii_lowercase())?;
        self.out.push(format!("{id}{plus}"));
        self.at += 1;
        if self.peek() == Some(&Token::With) {
            self.at += 1;
            let Some(Token::Word(exception)) = self.peek() else {
                return None;
            };
            let exception = lists().exceptions.get(&exception.to_ascii_lowercase())?;
            self.out.push("WITH".into());
            self.out.push(exception.to_string());
            self.at += 1;
        }
        Some(())
    }
}

/// The expression in canonical spelling, or `None` when `text` is not an SPDX expression
/// over the License List. `LicenseRef-`s are refused too: their text is not known here.
fn canonical_expression(text: &str) -> Option<String> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return None;
    }
    let mut parser = Parser {
        tokens: &tokens,
        at: 0,
        out: Vec::new(),
    };
    parser.or_expression()?;
    if parser.at != tokens.len() {
        return None;
    }
    let mut canonical = String::new();
    for token in parser.out {
        let glue = canonical.is_empty() || canonical.ends_with('(') || token == ")";
        if !glue {
            canonical.push(' ');
        }
        canonical.push_str(&token);
    }
    Some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> Declared {
        Declared::Expression(s.to_string())
    }

    #[test]
    fn spdx_expressions_are_recognised_and_spelled_canonically() {
        assert_eq!(classify("MIT OR Apache-2.0"), expr("MIT OR Apache-2.0"));
        assert_eq!(classify("mit OR apache-2.0"), expr("MIT OR Apache-2.0"));
        assert_eq!(
            classify("Apache-2.0 WITH LLVM-exception"),
            expr("Apache-2.0 WITH LLVM-exception")
        );
        assert_eq!(
            classify(" ( MIT OR Apache-2.0 )  AND Unicode-3.0"),
            expr("(MIT OR Apache-2.0) AND Unicode-3.0")
        );
        assert_eq!(classify("GPL-2.0+"), expr("GPL-2.0+"));
        assert_eq!(
            classify("(Apache-2.0 WITH LLVM-exception) OR Apache-2.0 OR MIT"),
            expr("(Apache-2.0 WITH LLVM-exception) OR Apache-2.0 OR MIT")
        );
    }

    #[test]
    fn anything_else_is_free_text() {
        for text in [
            "MIT/Apache-2.0",
            "Proprietary",
            "MIT or Apache-2.0",
            "MIT OR",
            "(MIT",
            "MIT)",
            "LLVM-exception",
            "MIT WITH Apache-2.0",
            "Apache-2.0 WITH",
            "LicenseRef-mine",
            "",
            "see LICENSE file",
        ] {
            assert_eq!(
                classify(text),
                Declared::Text(text.trim().to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn the_lists_hold_licenses_and_exceptions_apart() {
        let l = lists();
        assert!(l.licenses.contains_key("mit") && l.licenses.contains_key("apache-2.0"));
        assert!(l.exceptions.contains_key("llvm-exception"));
        assert!(!l.licenses.contains_key("llvm-exception"));
        assert!(l.licenses.len() > 600 && l.exceptions.len() > 50);
    }
}
