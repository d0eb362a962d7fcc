//! Reads module-level string assignments (`name = "..."`) from Python source, without running
//! Python, so the authors' `utils/prompts/<task>.py` templates can be replayed exactly.
//!
//! Supported values: string literals (`'…'`, `"…"`, `'''…'''`, `"""…"""`, optional `r`/`u`
//! prefix), adjacent-literal concatenation, parentheses, `+` between literals, and backslash
//! line continuation. Escapes follow Python: known ones are decoded, unknown ones kept as written.

use std::collections::BTreeMap;

/// Why the source could not be read; `line` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PythonSourceError {
    /// Line of the offending token.
    pub(super) line: usize,
    /// What is wrong.
    pub(super) message: String,
}

/// A string value assigned at module level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StringAssignment {
    /// The decoded value.
    pub(super) value: String,
    /// Line of the assignment.
    pub(super) line: usize,
}

/// What a module assigns to the requested names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ModuleStrings {
    /// Whether the source holds any statement at all (an empty or comment-only file does not).
    pub(super) has_statements: bool,
    /// The last module-level assignment to each requested name, as Python would leave it.
    pub(super) assignments: BTreeMap<String, StringAssignment>,
}

/// Reads the last module-level string assignment to each of `names`.
pub(super) fn read_string_assignments(
    source: &str,
    names: &[&str],
) -> Result<ModuleStrings, PythonSourceError> {
    // Python reads source with universal newlines; the hash must not depend on them either.
    let source = source.replace("\r\n", "\n").replace('\r', "\n");
    let tokens = Lexer::new(&source).tokens()?;
    let has_statements = tokens
        .iter()
        .any(|token| !matches!(token.kind, TokenKind::Newline));
    let mut last: BTreeMap<&str, &[Token]> = BTreeMap::new();
    for logical_line in tokens.split(|token| matches!(token.kind, TokenKind::Newline)) {
        let Some(first) = logical_line.first() else {
            continue;
        };
        // Indented statements belong to a block (`def`, `if`, ...), not to the module.
        if first.column != 0 {
            continue;
        }
        for statement in logical_line.split(|token| matches!(token.kind, TokenKind::Operator(';')))
        {
            if let [
                Token {
                    kind: TokenKind::Name(name),
                    ..
                },
                Token {
                    kind: TokenKind::Operator('='),
                    ..
                },
                ..,
            ] = statement
                && let Some(wanted) = names.iter().find(|wanted| **wanted == name.as_str())
            {
                last.insert(wanted, statement);
            }
        }
    }
    let mut assignments = BTreeMap::new();
    for (name, statement) in last {
        let line = statement.first().map_or(1, |token| token.line);
        let value = evaluate(name, &statement[2..], line)?;
        assignments.insert(name.to_owned(), StringAssignment { value, line });
    }
    Ok(ModuleStrings {
        has_statements,
        assignments,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenKind {
    Name(String),
    String(StringLiteral),
    Operator(char),
    /// Numbers, compound operators and anything else no assignment we read can contain.
    Other(String),
    /// End of a logical line (never emitted inside brackets).
    Newline,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Token {
    kind: TokenKind,
    line: usize,
    column: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct StringLiteral {
    /// The prefix letters as written (`r`, `Rb`, `f`, ...).
    prefix: String,
    /// Text between the quotes, escapes not yet decoded: decoding happens only for the values
    /// we read, so an exotic escape elsewhere in the module cannot fail the load.
    body: String,
}

impl StringLiteral {
    fn has_prefix(&self, letter: char) -> bool {
        self.prefix
            .chars()
            .any(|prefix| prefix.eq_ignore_ascii_case(&letter))
    }
}

struct Lexer {
    characters: Vec<char>,
    position: usize,
    line: usize,
    line_start: usize,
    /// Bracket nesting: line ends inside brackets do not end a statement.
    depth: usize,
}

impl Lexer {
    fn new(source: &str) -> Lexer {
        Lexer {
            characters: source.chars().collect(),
            position: 0,
            line: 1,
            line_start: 0,
            depth: 0,
        }
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.characters.get(self.position + offset).copied()
    }

    fn new_line(&mut self) {
        self.line += 1;
        self.line_start = self.position;
    }

    fn tokens(mut self) -> Result<Vec<Token>, PythonSourceError> {
        let mut tokens: Vec<Token> = Vec::new();
        while let Some(character) = self.peek(0) {
            let line = self.line;
            let column = self.position - self.line_start;
            let kind = match character {
                '#' => {
                    while self.peek(0).is_some_and(|next| next != '\n') {
                        self.position += 1;
                    }
                    continue;
                }
                '\\' if self.peek(1) == Some('\n') => {
                    self.position += 2;
                    self.new_line();
                    continue;
                }
                '\n' => {
                    self.position += 1;
                    self.new_line();
                    let ends_statement = tokens
                        .last()
                        .is_some_and(|last| !matches!(last.kind, TokenKind::Newline));
                    if self.depth == 0 && ends_statement {
                        TokenKind::Newline
                    } else {
                        continue;
                    }
                }
                ' ' | '\t' | '\x0c' => {
                    self.position += 1;
                    continue;
                }
                '"' | '\'' => TokenKind::String(self.string(String::new())?),
                letter if letter.is_alphabetic() || letter == '_' => {
                    let mut name = String::new();
                    while let Some(next) = self.peek(0).filter(|next| is_name_character(*next)) {
                        name.push(next);
                        self.position += 1;
                    }
                    if matches!(self.peek(0), Some('"' | '\'')) && is_string_prefix(&name) {
                        TokenKind::String(self.string(name)?)
                    } else {
                        TokenKind::Name(name)
                    }
                }
                digit if digit.is_ascii_digit() => {
                    let mut number = String::new();
                    while let Some(next) = self
                        .peek(0)
                        .filter(|next| is_name_character(*next) || *next == '.')
                    {
                        number.push(next);
                        self.position += 1;
                    }
                    TokenKind::Other(number)
                }
                '(' | '[' | '{' => {
                    self.position += 1;
                    self.depth += 1;
                    TokenKind::Operator(character)
                }
                ')' | ']' | '}' => {
                    self.position += 1;
                    self.depth = self.depth.saturating_sub(1);
                    TokenKind::Operator(character)
                }
                // `==`, `+=`, `!=`, ... are not the `=` of an assignment.
                '=' | '!' | '<' | '>' | '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '@'
                | ':' | '~'
                    if self.peek(1) == Some('=') =>
                {
                    self.position += 2;
                    TokenKind::Other(format!("{character}="))
                }
                other => {
                    self.position += 1;
                    TokenKind::Operator(other)
                }
            };
            tokens.push(Token { kind, line, column });
        }
        Ok(tokens)
    }

    /// Lexes a string literal whose prefix was already read; the cursor is on the opening quote.
    fn string(&mut self, prefix: String) -> Result<StringLiteral, PythonSourceError> {
        let start_line = self.line;
        let Some(quote) = self.peek(0) else {
            return Err(PythonSourceError {
                line: start_line,
                message: "expected a quote".to_owned(),
            });
        };
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.position += if triple { 3 } else { 1 };
        let mut body = String::new();
        loop {
            let Some(character) = self.peek(0) else {
                return Err(PythonSourceError {
                    line: start_line,
                    message: "string literal is never closed".to_owned(),
                });
            };
            if character == quote
                && (!triple || (self.peek(1) == Some(quote) && self.peek(2) == Some(quote)))
            {
                self.position += if triple { 3 } else { 1 };
                return Ok(StringLiteral { prefix, body });
            }
            if character == '\n' && !triple {
                return Err(PythonSourceError {
                    line: start_line,
                    message: "string literal ends at the end of the line (use a triple-quoted \
                              string or a backslash to continue it)"
                        .to_owned(),
                });
            }
            self.position += 1;
            body.push(character);
            if character == '\n' {
                self.new_line();
            }
            // A backslash protects the next character from closing the literal, raw or not.
            if character == '\\'
                && let Some(escaped) = self.peek(0)
            {
                self.position += 1;
                body.push(escaped);
                if escaped == '\n' {
                    self.new_line();
                }
            }
        }
    }
}

fn is_name_character(character: char) -> bool {
    character.is_alphanumeric() || character == '_'
}

fn is_string_prefix(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "r" | "u" | "f" | "b" | "br" | "rb" | "fr" | "rf"
    )
}

/// Evaluates the right-hand side of `name = …`: `term ('+' term)*`, where a term is one or
/// more adjacent string literals or a parenthesised expression.
fn evaluate(name: &str, tokens: &[Token], line: usize) -> Result<String, PythonSourceError> {
    let mut parser = ValueParser {
        name,
        tokens,
        position: 0,
        line,
    };
    let value = parser.expression()?;
    if let Some(extra) = parser.tokens.get(parser.position) {
        return Err(parser.not_a_literal(extra));
    }
    Ok(value)
}

struct ValueParser<'tokens> {
    name: &'tokens str,
    tokens: &'tokens [Token],
    position: usize,
    line: usize,
}

impl ValueParser<'_> {
    fn expression(&mut self) -> Result<String, PythonSourceError> {
        let mut value = self.term()?;
        while let Some(Token {
            kind: TokenKind::Operator('+'),
            ..
        }) = self.tokens.get(self.position)
        {
            self.position += 1;
            value.push_str(&self.term()?);
        }
        Ok(value)
    }

    fn term(&mut self) -> Result<String, PythonSourceError> {
        match self.tokens.get(self.position) {
            Some(Token {
                kind: TokenKind::Operator('('),
                ..
            }) => {
                self.position += 1;
                let value = self.expression()?;
                match self.tokens.get(self.position) {
                    Some(Token {
                        kind: TokenKind::Operator(')'),
                        ..
                    }) => {
                        self.position += 1;
                        Ok(value)
                    }
                    Some(other) => Err(self.not_a_literal(other)),
                    None => Err(self.unfinished()),
                }
            }
            Some(Token {
                kind: TokenKind::String(_),
                ..
            }) => {
                let mut value = String::new();
                while let Some(Token {
                    kind: TokenKind::String(literal),
                    line,
                    ..
                }) = self.tokens.get(self.position)
                {
                    value.push_str(&self.decode(literal, *line)?);
                    self.position += 1;
                }
                Ok(value)
            }
            Some(other) => Err(self.not_a_literal(other)),
            None => Err(self.unfinished()),
        }
    }

    fn decode(&self, literal: &StringLiteral, line: usize) -> Result<String, PythonSourceError> {
        if literal.has_prefix('f') {
            return Err(PythonSourceError {
                line,
                message: format!(
                    "`{}` is an f-string; only plain string literals can be read without \
                     running Python",
                    self.name
                ),
            });
        }
        if literal.has_prefix('b') {
            return Err(PythonSourceError {
                line,
                message: format!("`{}` is a bytes literal, not a string", self.name),
            });
        }
        if literal.has_prefix('r') {
            return Ok(literal.body.clone());
        }
        decode_escapes(&literal.body).map_err(|message| PythonSourceError { line, message })
    }

    fn not_a_literal(&self, token: &Token) -> PythonSourceError {
        let found = match &token.kind {
            TokenKind::Name(name) => format!("the name `{name}`"),
            TokenKind::String(_) => "a string literal".to_owned(),
            TokenKind::Operator(operator) => format!("`{operator}`"),
            TokenKind::Other(text) => format!("`{text}`"),
            TokenKind::Newline => "the end of the line".to_owned(),
        };
        PythonSourceError {
            line: token.line,
            message: format!(
                "`{}` must be a string literal (adjacent literals, parentheses and `+` are \
                 allowed), found {found}",
                self.name
            ),
        }
    }

    fn unfinished(&self) -> PythonSourceError {
        PythonSourceError {
            line: self.line,
            message: format!("the value of `{}` is incomplete", self.name),
        }
    }
}

/// Decodes the escapes of a non-raw Python string body.
fn decode_escapes(body: &str) -> Result<String, String> {
    let mut decoded = String::with_capacity(body.len());
    let mut characters = body.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '\\' {
            decoded.push(character);
            continue;
        }
        let Some(escape) = characters.next() else {
            decoded.push('\\');
            break;
        };
        match escape {
            '\n' => {}
            '\\' | '\'' | '"' => decoded.push(escape),
            'n' => decoded.push('\n'),
            't' => decoded.push('\t'),
            'r' => decoded.push('\r'),
            'a' => decoded.push('\x07'),
            'b' => decoded.push('\x08'),
            'f' => decoded.push('\x0c'),
            'v' => decoded.push('\x0b'),
            '0'..='7' => {
                let mut value = escape.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match characters.peek().and_then(|next| next.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            characters.next();
                        }
                        None => break,
                    }
                }
                decoded.push(code_point(value, &format!("\\{escape}…"))?);
            }
            'x' | 'u' | 'U' => {
                let width = match escape {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let digits: String = (0..width).filter_map(|_| characters.next()).collect();
                let value = (digits.len() == width)
                    .then(|| u32::from_str_radix(&digits, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        format!("`\\{escape}{digits}` needs exactly {width} hexadecimal digits")
                    })?;
                decoded.push(code_point(value, &format!("\\{escape}{digits}"))?);
            }
            // Decoding `\N{name}` needs the Unicode name table; refusing beats a silent mismatch.
            'N' => return Err("`\\N{…}` named escapes are not supported".to_owned()),
            // Python keeps unknown escapes such as `\d` as written.
            other => {
                decoded.push('\\');
                decoded.push(other);
            }
        }
    }
    Ok(decoded)
}

fn code_point(value: u32, escape: &str) -> Result<char, String> {
    char::from_u32(value).ok_or_else(|| format!("`{escape}` is not a Unicode scalar value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["first", "second", "third"];

    fn read(source: &str) -> Result<ModuleStrings, PythonSourceError> {
        read_string_assignments(source, &NAMES)
    }

    fn value(strings: &ModuleStrings, name: &str) -> String {
        strings
            .assignments
            .get(name)
            .map(|assignment| assignment.value.clone())
            .unwrap_or_else(|| panic!("`{name}` not read"))
    }

    #[test]
    fn literals_concatenation_and_escapes_decode_like_python() {
        let source = concat!(
            "import os  # first = 'not this'\n",
            "first = \"a\\tb\\\\c\\'d\\\"e\\qf\\x41\\u00e9\\101\\\n",
            "g\"\n",
            "second = ('x' \"y\"\n",
            "          r'\\n' + \"\"\"z\"\"\")\n",
            "third = \\\n",
            "    u'''q'''\n",
        );
        let strings = read(source).expect("valid module");
        assert_eq!(value(&strings, "first"), "a\tb\\c'd\"e\\qfAéAg");
        assert_eq!(value(&strings, "second"), "xy\\nz");
        assert_eq!(value(&strings, "third"), "q");
        assert_eq!(strings.assignments["second"].line, 4);
        assert!(strings.has_statements);
    }

    #[test]
    fn only_the_last_module_level_assignment_counts() {
        let source = "first = 'one'\ndef f():\n    first = 'inner'\nfirst = 'two'\nfirst == 'x'\n";
        let strings = read(source).expect("valid module");
        assert_eq!(value(&strings, "first"), "two");
        assert_eq!(strings.assignments["first"].line, 4);
    }

    #[test]
    fn unsupported_values_name_their_line() {
        let error = read("x = 1\n\nfirst = f'{x}'\n").expect_err("f-string");
        assert_eq!(error.line, 3);
        assert!(error.message.contains("f-string"), "{}", error.message);

        let error = read("first = 'a' + other\n").expect_err("a name");
        assert_eq!(error.line, 1);
        assert!(error.message.contains("`other`"), "{}", error.message);

        let error = read("\nfirst = 'never closed\n").expect_err("unterminated");
        assert_eq!(error.line, 2);

        let error = read("first = '\\N{BULLET}'\n").expect_err("named escape");
        assert!(error.message.contains("\\N"), "{}", error.message);
    }

    #[test]
    fn comments_and_blank_lines_are_no_statements() {
        let strings = read("# nothing yet\n\n   \n").expect("valid module");
        assert!(!strings.has_statements);
        assert!(strings.assignments.is_empty());
        assert!(!read("").expect("empty module").has_statements);
    }
}
