//! Band math: expressions such as `(nir - red) / (nir + red)` over named arrays.
//!
//! [`Expression::parse`] turns a string into an [`Expression`] tree with a hand-written
//! tokenizer and a precedence-climbing parser; [`Expression::eval`] builds a lazy rask plan
//! from it, so that the whole expression fuses into one kernel per block and streams from
//! the inputs to the output without materializing intermediate arrays.
//!
//! The language, from the loosest binding to the tightest:
//!
//! | syntax | meaning |
//! |---|---|
//! | `a or b`, `a \| b` | logical or |
//! | `a and b`, `a & b` | logical and |
//! | `not a`, `!a` | logical not |
//! | `a < b`, `<=`, `>`, `>=`, `==`, `!=` | comparisons (1 where true, 0 where false; not chained) |
//! | `a + b`, `a - b` | addition, subtraction |
//! | `a * b`, `a / b` | multiplication, division (IEEE: `x / 0` is ±inf or NaN) |
//! | `-a`, `+a` | negation |
//! | `a ** b`, `a ^ b` | power, right-associative (`-x ** 2` is `-(x ** 2)`) |
//! | `f(...)`, `(a)`, names, numbers | calls, grouping, inputs, constants |
//!
//! Functions: `where(cond, a, b)`, `sqrt`, `abs`, `log` (natural), `log10`, `exp`,
//! `min(a, b, ...)`, `max(a, b, ...)` (NaN if any argument is NaN, as NumPy's `minimum` and
//! `maximum`), `clip(x, lo, hi)`. Constants: numbers (`2`, `0.5`, `1e-3`), `pi`, `inf`, `nan`.
//! Conditions are true where non-zero (and where NaN, as in NumPy); comparisons with NaN are
//! false. Binary operations broadcast with NumPy's rules.
//!
//! Untrusted input is bounded: an expression longer than [`MAX_EXPRESSION_LEN`] bytes or
//! nesting deeper than [`MAX_DEPTH`] levels is an [`Error::Parse`], never a stack overflow.
//!
//! ```
//! use std::collections::HashMap;
//! use rask::prelude::*;
//! use rask::calc::Expression;
//!
//! let ndvi = Expression::parse("(nir - red) / (nir + red)")?;
//! assert_eq!(ndvi.variables(), vec!["nir", "red"]);
//! let inputs = HashMap::from([
//!     ("nir".to_string(), ChunkedArray::<f64>::full(&[4, 4], &[2, 2], 0.6)),
//!     ("red".to_string(), ChunkedArray::<f64>::full(&[4, 4], &[2, 2], 0.2)),
//! ]);
//! let v = ndvi.eval(&inputs)?.mean().compute()?;
//! assert!((v - 0.5).abs() < 1e-12);
//! # Ok::<(), rask::Error>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::array::{ChunkedArray, Operand, where_};
use crate::error::{Error, Result};
use crate::kernels::elementwise::Unary;

/// The longest expression [`Expression::parse`] accepts, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 16 * 1024;

/// The deepest nesting [`Expression::parse`] accepts (and [`Expression::eval`] evaluates):
/// parentheses, calls and operators each add a level.
pub const MAX_DEPTH: usize = 128;

/// Names that cannot be inputs: the keywords and the named constants.
pub const RESERVED: &[&str] = &["and", "or", "not", "pi", "inf", "nan"];

/// A parsed band-math expression (see the [module docs](self) for the language).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Expression {
    /// A constant.
    Number(f64),
    /// A named input.
    Variable(String),
    /// A unary operation.
    Unary {
        /// The operator.
        op: UnaryOp,
        /// Its operand.
        operand: Box<Expression>,
    },
    /// A binary operation.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        lhs: Box<Expression>,
        /// The right operand.
        rhs: Box<Expression>,
    },
    /// A function call.
    Call {
        /// The function.
        function: Function,
        /// Its arguments (their number is checked by the parser).
        args: Vec<Expression>,
    },
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-a`.
    Neg,
    /// `not a`.
    Not,
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `a ** b`.
    Pow,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a and b`.
    And,
    /// `a or b`.
    Or,
}

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `where(cond, a, b)`: `a` where `cond` is non-zero, else `b`.
    Where,
    /// `sqrt(x)`.
    Sqrt,
    /// `abs(x)`.
    Abs,
    /// `log(x)`: the natural logarithm.
    Log,
    /// `log10(x)`.
    Log10,
    /// `exp(x)`.
    Exp,
    /// `min(a, b, ...)`: the elementwise minimum (NaN if any is NaN).
    Min,
    /// `max(a, b, ...)`: the elementwise maximum (NaN if any is NaN).
    Max,
    /// `clip(x, lo, hi)`: `min(max(x, lo), hi)`.
    Clip,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 9] = [
        Function::Where,
        Function::Sqrt,
        Function::Abs,
        Function::Log,
        Function::Log10,
        Function::Exp,
        Function::Min,
        Function::Max,
        Function::Clip,
    ];

    /// The name the function is called by.
    pub fn name(self) -> &'static str {
        match self {
            Function::Where => "where",
            Function::Sqrt => "sqrt",
            Function::Abs => "abs",
            Function::Log => "log",
            Function::Log10 => "log10",
            Function::Exp => "exp",
            Function::Min => "min",
            Function::Max => "max",
            Function::Clip => "clip",
        }
    }

    /// The function called `name`, if any.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The smallest and largest number of arguments.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Function::Where | Function::Clip => (3, 3),
            Function::Min | Function::Max => (2, usize::MAX),
            _ => (1, 1),
        }
    }
}

impl BinaryOp {
    fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "**",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => P_OR,
            BinaryOp::And => P_AND,
            BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::Eq
            | BinaryOp::Ne => P_CMP,
            BinaryOp::Add | BinaryOp::Sub => P_ADD,
            BinaryOp::Mul | BinaryOp::Div => P_MUL,
            BinaryOp::Pow => P_POW,
        }
    }

    /// The value of `a op b` for numbers (comparisons and logic give 1 or 0).
    fn apply(self, a: f64, b: f64) -> f64 {
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Lt => t(a < b),
            BinaryOp::Le => t(a <= b),
            BinaryOp::Gt => t(a > b),
            BinaryOp::Ge => t(a >= b),
            BinaryOp::Eq => t(a == b),
            BinaryOp::Ne => t(a != b),
            BinaryOp::And => t(truthy(a) && truthy(b)),
            BinaryOp::Or => t(truthy(a) || truthy(b)),
        }
    }
}

// Precedence levels, loosest first.
const P_OR: u8 = 1;
const P_AND: u8 = 2;
const P_NOT: u8 = 3;
const P_CMP: u8 = 4;
const P_ADD: u8 = 5;
const P_MUL: u8 = 6;
const P_NEG: u8 = 7;
const P_POW: u8 = 8;
const P_ATOM: u8 = 9;

/// Whether a number counts as true: non-zero, NaN included (NumPy's `bool(nan)`).
fn truthy(v: f64) -> bool {
    v != 0.0
}

/// NumPy's `minimum`: NaN if either is NaN.
fn minimum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        if a.is_nan() { a } else { b }
    } else if a <= b {
        a
    } else {
        b
    }
}

/// NumPy's `maximum`: NaN if either is NaN.
fn maximum(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        if a.is_nan() { a } else { b }
    } else if a >= b {
        a
    } else {
        b
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(v) => write!(f, "number {v}"),
            Tok::Name(n) => write!(f, "'{n}'"),
            Tok::Op(o) => write!(f, "'{o}'"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
            Tok::End => f.write_str("the end of the expression"),
        }
    }
}

/// A token and the 1-based character column it starts at.
#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    column: usize,
}

fn parse_error(expression: &str, column: usize, message: impl Into<String>) -> Error {
    Error::Parse {
        expression: expression.to_string(),
        column,
        message: message.into(),
    }
}

fn tokenize(src: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                } else {
                    return Err(parse_error(
                        src,
                        j + 1,
                        "expected the digits of an exponent",
                    ));
                }
            }
            let text: String = chars[start..i].iter().collect();
            let v: f64 = text
                .parse()
                .map_err(|_| parse_error(src, column, format!("invalid number '{text}'")))?;
            if i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                return Err(parse_error(
                    src,
                    i + 1,
                    format!("unexpected '{}' after the number {text}", chars[i]),
                ));
            }
            out.push(Token {
                tok: Tok::Num(v),
                column,
            });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let tok = match name.as_str() {
                "and" => Tok::Op("and"),
                "or" => Tok::Op("or"),
                "not" => Tok::Op("not"),
                _ => Tok::Name(name),
            };
            out.push(Token { tok, column });
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('*', Some('*')) => (Tok::Op("**"), 2),
            ('<', Some('=')) => (Tok::Op("<="), 2),
            ('>', Some('=')) => (Tok::Op(">="), 2),
            ('=', Some('=')) => (Tok::Op("=="), 2),
            ('!', Some('=')) => (Tok::Op("!="), 2),
            ('&', Some('&')) => (Tok::Op("and"), 2),
            ('|', Some('|')) => (Tok::Op("or"), 2),
            ('+', _) => (Tok::Op("+"), 1),
            ('-', _) => (Tok::Op("-"), 1),
            ('*', _) => (Tok::Op("*"), 1),
            ('/', _) => (Tok::Op("/"), 1),
            ('^', _) => (Tok::Op("**"), 1),
            ('<', _) => (Tok::Op("<"), 1),
            ('>', _) => (Tok::Op(">"), 1),
            ('&', _) => (Tok::Op("and"), 1),
            ('|', _) => (Tok::Op("or"), 1),
            ('!', _) | ('~', _) => (Tok::Op("not"), 1),
            ('(', _) => (Tok::LParen, 1),
            (')', _) => (Tok::RParen, 1),
            (',', _) => (Tok::Comma, 1),
            ('=', _) => {
                return Err(parse_error(
                    src,
                    column,
                    "unexpected '=' (use '==' to compare)",
                ));
            }
            _ => {
                return Err(parse_error(
                    src,
                    column,
                    format!("unexpected character '{}'", c.escape_default()),
                ));
            }
        };
        out.push(Token { tok, column });
        i += len;
    }
    out.push(Token {
        tok: Tok::End,
        column: chars.len() + 1,
    });
    Ok(out)
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn error(&self, column: usize, message: impl Into<String>) -> Error {
        parse_error(self.src, column, message)
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                self.peek().column,
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek().tok, Tok::Op(o) if o == op)
    }

    /// A binary operation, checking the depth of the tree it makes.
    fn binary(
        &self,
        op: BinaryOp,
        lhs: Expression,
        rhs: Expression,
        column: usize,
    ) -> Result<Expression> {
        let e = Expression::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        self.check_tree(&e, column)?;
        Ok(e)
    }

    fn check_tree(&self, e: &Expression, column: usize) -> Result<()> {
        // Left-assoc chains (a + a + ... + a) are parsed by loops, so the recursion depth
        // does not bound the tree's depth; bound it here, where each node is made.
        if e.depth() > MAX_DEPTH {
            return Err(self.error(
                column,
                format!("the expression nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Parses the loosest level: `or`.
    fn expr(&mut self) -> Result<Expression> {
        self.enter()?;
        let mut lhs = self.and()?;
        while self.is_op("or") {
            let column = self.next().column;
            let rhs = self.and()?;
            lhs = self.binary(BinaryOp::Or, lhs, rhs, column)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expression> {
        let mut lhs = self.not()?;
        while self.is_op("and") {
            let column = self.next().column;
            let rhs = self.not()?;
            lhs = self.binary(BinaryOp::And, lhs, rhs, column)?;
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expression> {
        if self.is_op("not") {
            self.enter()?;
            let column = self.next().column;
            let operand = self.not()?;
            self.depth -= 1;
            let e = Expression::Unary {
                op: UnaryOp::Not,
                operand: Box::new(operand),
            };
            self.check_tree(&e, column)?;
            return Ok(e);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expression> {
        let lhs = self.additive()?;
        let op = match self.peek().tok {
            Tok::Op("<") => BinaryOp::Lt,
            Tok::Op("<=") => BinaryOp::Le,
            Tok::Op(">") => BinaryOp::Gt,
            Tok::Op(">=") => BinaryOp::Ge,
            Tok::Op("==") => BinaryOp::Eq,
            Tok::Op("!=") => BinaryOp::Ne,
            _ => return Ok(lhs),
        };
        let column = self.next().column;
        let rhs = self.additive()?;
        if let Tok::Op(o @ ("<" | "<=" | ">" | ">=" | "==" | "!=")) = self.peek().tok {
            return Err(self.error(
                self.peek().column,
                format!(
                    "comparisons cannot be chained: '{o}' follows another comparison; \
                     write (a < b) and (b < c)"
                ),
            ));
        }
        self.binary(op, lhs, rhs, column)
    }

    fn additive(&mut self) -> Result<Expression> {
        let mut lhs = self.multiplicative()?;
        loop {
            let op = match self.peek().tok {
                Tok::Op("+") => BinaryOp::Add,
                Tok::Op("-") => BinaryOp::Sub,
                _ => return Ok(lhs),
            };
            let column = self.next().column;
            let rhs = self.multiplicative()?;
            lhs = self.binary(op, lhs, rhs, column)?;
        }
    }

    fn multiplicative(&mut self) -> Result<Expression> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Op("*") => BinaryOp::Mul,
                Tok::Op("/") => BinaryOp::Div,
                _ => return Ok(lhs),
            };
            let column = self.next().column;
            let rhs = self.unary()?;
            lhs = self.binary(op, lhs, rhs, column)?;
        }
    }

    fn unary(&mut self) -> Result<Expression> {
        if self.is_op("-") || self.is_op("+") {
            self.enter()?;
            let t = self.next();
            let operand = self.unary()?;
            self.depth -= 1;
            if t.tok == Tok::Op("+") {
                return Ok(operand);
            }
            let e = Expression::Unary {
                op: UnaryOp::Neg,
                operand: Box::new(operand),
            };
            self.check_tree(&e, t.column)?;
            return Ok(e);
        }
        self.power()
    }

    fn power(&mut self) -> Result<Expression> {
        let base = self.atom()?;
        if self.is_op("**") {
            self.enter()?;
            let column = self.next().column;
            // Right-associative, and the exponent may be negated: 2 ** -x ** 2.
            let exponent = self.unary()?;
            self.depth -= 1;
            return self.binary(BinaryOp::Pow, base, exponent, column);
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Expression> {
        let t = self.next();
        match t.tok {
            Tok::Num(v) => Ok(Expression::Number(v)),
            Tok::Name(name) => {
                if self.peek().tok == Tok::LParen {
                    let Some(function) = Function::from_name(&name) else {
                        return Err(self.error(
                            t.column,
                            format!(
                                "unknown function '{name}' (functions: {})",
                                Function::ALL.map(Function::name).join(", ")
                            ),
                        ));
                    };
                    self.call(function, t.column)
                } else {
                    Ok(match name.as_str() {
                        "pi" => Expression::Number(std::f64::consts::PI),
                        "inf" => Expression::Number(f64::INFINITY),
                        "nan" => Expression::Number(f64::NAN),
                        _ => Expression::Variable(name),
                    })
                }
            }
            Tok::LParen => {
                self.enter()?;
                let e = self.expr()?;
                self.depth -= 1;
                let close = self.next();
                if close.tok != Tok::RParen {
                    return Err(self.error(
                        close.column,
                        format!(
                            "expected ')' to close the '(' at column {}, found {}",
                            t.column, close.tok
                        ),
                    ));
                }
                Ok(e)
            }
            Tok::End => Err(self.error(t.column, "unexpected end of the expression")),
            other => Err(self.error(t.column, format!("expected a value, found {other}"))),
        }
    }

    fn call(&mut self, function: Function, column: usize) -> Result<Expression> {
        self.enter()?;
        self.next(); // '('
        let mut args = Vec::new();
        if self.peek().tok != Tok::RParen {
            loop {
                args.push(self.expr()?);
                let t = self.next();
                match t.tok {
                    Tok::Comma => continue,
                    Tok::RParen => break,
                    other => {
                        return Err(self.error(
                            t.column,
                            format!(
                                "expected ',' or ')' in the arguments of {}(), found {other}",
                                function.name()
                            ),
                        ));
                    }
                }
            }
        } else {
            self.next();
        }
        self.depth -= 1;
        let (lo, hi) = function.arity();
        if args.len() < lo || args.len() > hi {
            let wanted = if lo == hi {
                format!("{lo}")
            } else if hi == usize::MAX {
                format!("at least {lo}")
            } else {
                format!("{lo} to {hi}")
            };
            return Err(self.error(
                column,
                format!(
                    "{}() takes {wanted} argument{}, found {}",
                    function.name(),
                    if wanted == "1" { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        let e = Expression::Call { function, args };
        self.check_tree(&e, column)?;
        Ok(e)
    }
}

// ---------------------------------------------------------------- the tree

impl Expression {
    /// Parses `src` (see the [module docs](self) for the language). Errors are
    /// [`Error::Parse`], whose message shows the expression with a caret under the column of
    /// the problem.
    ///
    /// ```
    /// use rask::calc::Expression;
    /// let e = Expression::parse("where(b1 > 0.3, sqrt(b1), -1)")?;
    /// assert_eq!(e.variables(), vec!["b1"]);
    /// let err = Expression::parse("(a + b))").unwrap_err();
    /// assert!(matches!(err, rask::Error::Parse { column: 8, .. }), "{err}");
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn parse(src: &str) -> Result<Expression> {
        if src.len() > MAX_EXPRESSION_LEN {
            return Err(parse_error(
                &src[..src.floor_char_boundary(80)],
                1,
                format!(
                    "the expression is {} bytes long, more than the limit of {MAX_EXPRESSION_LEN}",
                    src.len()
                ),
            ));
        }
        let tokens = tokenize(src)?;
        let mut p = Parser {
            src,
            tokens,
            pos: 0,
            depth: 0,
        };
        if p.peek().tok == Tok::End {
            return Err(p.error(1, "the expression is empty"));
        }
        let e = p.expr()?;
        let t = p.peek().clone();
        if t.tok != Tok::End {
            let hint = match t.tok {
                Tok::RParen => "unmatched ')'".to_string(),
                Tok::Name(_) | Tok::Num(_) | Tok::LParen => {
                    format!("unexpected {} (an operator is missing?)", t.tok)
                }
                _ => format!("unexpected {}", t.tok),
            };
            return Err(p.error(t.column, hint));
        }
        Ok(e)
    }

    /// The names of the inputs the expression reads, sorted, each once.
    ///
    /// ```
    /// use rask::calc::Expression;
    /// let e = Expression::parse("b2 * 2 + where(b1 > 0, b1, b3) - b2")?;
    /// assert_eq!(e.variables(), vec!["b1", "b2", "b3"]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn variables(&self) -> Vec<&str> {
        let mut names = BTreeSet::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expression::Number(_) => {}
                Expression::Variable(n) => {
                    names.insert(n.as_str());
                }
                Expression::Unary { operand, .. } => stack.push(operand),
                Expression::Binary { lhs, rhs, .. } => {
                    stack.push(lhs);
                    stack.push(rhs);
                }
                Expression::Call { args, .. } => stack.extend(args.iter()),
            }
        }
        names.into_iter().collect()
    }

    /// The depth of the tree (a constant or a name is 1). Iterative: any tree may be asked.
    ///
    /// ```
    /// use rask::calc::Expression;
    /// assert_eq!(Expression::parse("a + b * c")?.depth(), 3);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            max = max.max(d);
            match e {
                Expression::Number(_) | Expression::Variable(_) => {}
                Expression::Unary { operand, .. } => stack.push((operand, d + 1)),
                Expression::Binary { lhs, rhs, .. } => {
                    stack.push((lhs, d + 1));
                    stack.push((rhs, d + 1));
                }
                Expression::Call { args, .. } => stack.extend(args.iter().map(|a| (a, d + 1))),
            }
        }
        max
    }

    fn precedence(&self) -> u8 {
        match self {
            Expression::Number(v) if v.is_sign_negative() && !v.is_nan() => P_NEG,
            Expression::Number(_) | Expression::Variable(_) | Expression::Call { .. } => P_ATOM,
            Expression::Unary {
                op: UnaryOp::Neg, ..
            } => P_NEG,
            Expression::Unary {
                op: UnaryOp::Not, ..
            } => P_NOT,
            Expression::Binary { op, .. } => op.precedence(),
        }
    }

    /// Builds the lazy array of the expression over `inputs` (each variable must be one of
    /// them). Nothing is computed: the result is a plan in which the whole expression is
    /// one fused elementwise kernel, so computing it, or writing it with `to_zarr`, streams
    /// block by block. Constants stay scalars; operands broadcast with NumPy's rules.
    ///
    /// Comparisons and logic give 1.0 and 0.0. An expression without variables gives a 0-d
    /// array. Errors: a variable missing from `inputs` (naming it and the inputs there are),
    /// shapes that do not broadcast, a tree deeper than [`MAX_DEPTH`].
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use rask::prelude::*;
    /// use rask::calc::Expression;
    /// let x = ChunkedArray::<f64>::arange(10, 4).cast::<f64>();
    /// let e = Expression::parse("where(x >= 5, x ** 2, 0)")?;
    /// let y = e.eval(&HashMap::from([("x".to_string(), x)]))?;
    /// assert_eq!(y.sum().compute()?, 25.0 + 36.0 + 49.0 + 64.0 + 81.0);
    /// assert!(e.eval(&HashMap::new()).unwrap_err().to_string().contains("'x'"));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn eval(&self, inputs: &HashMap<String, ChunkedArray<f64>>) -> Result<ChunkedArray<f64>> {
        let depth = self.depth();
        if depth > MAX_DEPTH {
            return Err(Error::arg(
                "calc",
                format!("the expression is {depth} levels deep, more than {MAX_DEPTH}"),
            ));
        }
        let v = eval_node(self, inputs)?;
        let out = match v {
            Value::Const(c) => ChunkedArray::full(&[], &[], c),
            Value::Num(a) => a,
            Value::Bool(b) => b.cast::<f64>(),
        };
        out.check()?;
        Ok(out)
    }

    /// Evaluates the expression on one value per variable (a scalar version of
    /// [`eval`](Self::eval) with the same rules), e.g. for checking a formula.
    ///
    /// ```
    /// use rask::calc::Expression;
    /// let e = Expression::parse("clip(a * 2, 0, 1)")?;
    /// assert_eq!(e.eval_scalar(&|name| (name == "a").then_some(0.3))?, 0.6);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn eval_scalar(&self, value_of: &dyn Fn(&str) -> Option<f64>) -> Result<f64> {
        let depth = self.depth();
        if depth > MAX_DEPTH {
            return Err(Error::arg(
                "calc",
                format!("the expression is {depth} levels deep, more than {MAX_DEPTH}"),
            ));
        }
        scalar_node(self, value_of)
    }
}

fn scalar_node(e: &Expression, value_of: &dyn Fn(&str) -> Option<f64>) -> Result<f64> {
    Ok(match e {
        Expression::Number(v) => *v,
        Expression::Variable(n) => value_of(n)
            .ok_or_else(|| Error::arg("calc", format!("no value for the input '{n}'")))?,
        Expression::Unary { op, operand } => {
            let v = scalar_node(operand, value_of)?;
            match op {
                UnaryOp::Neg => -v,
                UnaryOp::Not => {
                    if truthy(v) {
                        0.0
                    } else {
                        1.0
                    }
                }
            }
        }
        Expression::Binary { op, lhs, rhs } => {
            op.apply(scalar_node(lhs, value_of)?, scalar_node(rhs, value_of)?)
        }
        Expression::Call { function, args } => {
            let a = args
                .iter()
                .map(|a| scalar_node(a, value_of))
                .collect::<Result<Vec<_>>>()?;
            apply_function(*function, &a)
        }
    })
}

fn apply_function(f: Function, a: &[f64]) -> f64 {
    match f {
        Function::Where => {
            if truthy(a[0]) {
                a[1]
            } else {
                a[2]
            }
        }
        Function::Sqrt => a[0].sqrt(),
        Function::Abs => a[0].abs(),
        Function::Log => a[0].ln(),
        Function::Log10 => a[0].log10(),
        Function::Exp => a[0].exp(),
        Function::Min => a[1..].iter().fold(a[0], |m, &v| minimum(m, v)),
        Function::Max => a[1..].iter().fold(a[0], |m, &v| maximum(m, v)),
        Function::Clip => minimum(maximum(a[0], a[1]), a[2]),
    }
}

/// A value while building the plan: constants stay scalars so that `x * 2` is a scalar
/// operation; comparisons stay boolean arrays until arithmetic needs numbers.
enum Value {
    Const(f64),
    Num(ChunkedArray<f64>),
    Bool(ChunkedArray<bool>),
}

impl Value {
    fn num(self) -> ChunkedArray<f64> {
        match self {
            Value::Const(c) => ChunkedArray::full(&[], &[], c),
            Value::Num(a) => a,
            Value::Bool(b) => b.cast::<f64>(),
        }
    }

    fn boolean(self) -> ChunkedArray<bool> {
        match self {
            Value::Const(c) => ChunkedArray::full(&[], &[], truthy(c)),
            Value::Num(a) => a.ne_elem(0.0),
            Value::Bool(b) => b,
        }
    }

    fn operand(self) -> Operand<f64> {
        match self {
            Value::Const(c) => Operand::Scalar(c),
            v => Operand::Array(v.num()),
        }
    }
}

fn eval_node(e: &Expression, inputs: &HashMap<String, ChunkedArray<f64>>) -> Result<Value> {
    Ok(match e {
        Expression::Number(v) => Value::Const(*v),
        Expression::Variable(name) => match inputs.get(name) {
            Some(a) => Value::Num(a.clone()),
            None => {
                let mut known: Vec<&str> = inputs.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(Error::arg(
                    "calc",
                    format!(
                        "the expression reads '{name}', which is not an input (inputs: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        },
        Expression::Unary { op, operand } => {
            let v = eval_node(operand, inputs)?;
            match (op, v) {
                (UnaryOp::Neg, Value::Const(c)) => Value::Const(-c),
                (UnaryOp::Neg, v) => Value::Num(-v.num()),
                (UnaryOp::Not, Value::Const(c)) => Value::Const(if truthy(c) { 0.0 } else { 1.0 }),
                (UnaryOp::Not, v) => Value::Bool(v.boolean().not()),
            }
        }
        Expression::Binary { op, lhs, rhs } => {
            let a = eval_node(lhs, inputs)?;
            let b = eval_node(rhs, inputs)?;
            binary(*op, a, b)
        }
        Expression::Call { function, args } => {
            let mut vals = args
                .iter()
                .map(|a| eval_node(a, inputs))
                .collect::<Result<Vec<_>>>()?;
            if vals.iter().all(|v| matches!(v, Value::Const(_))) {
                let c: Vec<f64> = vals
                    .iter()
                    .map(|v| match v {
                        Value::Const(c) => *c,
                        _ => unreachable!("all constants"),
                    })
                    .collect();
                return Ok(Value::Const(apply_function(*function, &c)));
            }
            match function {
                Function::Where => {
                    let b = vals.pop().expect("3 arguments");
                    let a = vals.pop().expect("3 arguments");
                    let cond = vals.pop().expect("3 arguments").boolean();
                    Value::Num(where_(&cond, a.operand(), b.operand()))
                }
                Function::Sqrt => Value::Num(vals.remove(0).num().sqrt()),
                Function::Abs => Value::Num(vals.remove(0).num().abs()),
                Function::Log => Value::Num(vals.remove(0).num().ln()),
                Function::Log10 => {
                    let k = Unary::kernel("log10", "log10<float64>", f64::log10);
                    Value::Num(vals.remove(0).num().unary_kernel(k))
                }
                Function::Exp => Value::Num(vals.remove(0).num().exp()),
                Function::Min | Function::Max => {
                    let mut it = vals.into_iter();
                    let mut acc = it.next().expect("2 or more arguments");
                    for v in it {
                        acc = binary_fn(*function, acc, v);
                    }
                    acc
                }
                Function::Clip => {
                    let hi = vals.pop().expect("3 arguments");
                    let lo = vals.pop().expect("3 arguments");
                    let x = vals.pop().expect("3 arguments");
                    let m = binary_fn(Function::Max, x, lo);
                    binary_fn(Function::Min, m, hi)
                }
            }
        }
    })
}

/// `min` or `max` of two values.
fn binary_fn(f: Function, a: Value, b: Value) -> Value {
    let g = if f == Function::Min { minimum } else { maximum };
    match (a, b) {
        (Value::Const(x), Value::Const(y)) => Value::Const(g(x, y)),
        // Both are symmetric, so a constant goes on the right, as a scalar.
        (Value::Const(c), v) | (v, Value::Const(c)) => {
            let x = v.num();
            Value::Num(if f == Function::Min {
                x.minimum(c)
            } else {
                x.maximum(c)
            })
        }
        (a, b) => {
            let (x, y) = (a.num(), b.num());
            Value::Num(if f == Function::Min {
                x.minimum(&y)
            } else {
                x.maximum(&y)
            })
        }
    }
}

fn binary(op: BinaryOp, a: Value, b: Value) -> Value {
    use BinaryOp::*;
    if let (Value::Const(x), Value::Const(y)) = (&a, &b) {
        return Value::Const(op.apply(*x, *y));
    }
    match op {
        And => Value::Bool(a.boolean().and(b.boolean())),
        Or => Value::Bool(a.boolean().or(b.boolean())),
        Lt | Le | Gt | Ge | Eq | Ne => {
            // A constant on the left is moved to the right with the mirrored operator.
            let (op, x, rhs) = match (a, b) {
                (Value::Const(c), v) => {
                    let mirrored = match op {
                        Lt => Gt,
                        Le => Ge,
                        Gt => Lt,
                        Ge => Le,
                        other => other,
                    };
                    (mirrored, v.num(), Operand::Scalar(c))
                }
                (v, w) => (op, v.num(), w.operand()),
            };
            Value::Bool(match op {
                Lt => x.lt(rhs),
                Le => x.le(rhs),
                Gt => x.gt(rhs),
                Ge => x.ge(rhs),
                Eq => x.eq_elem(rhs),
                _ => x.ne_elem(rhs),
            })
        }
        Add | Sub | Mul | Div | Pow => {
            let f = move |x: f64, y: f64| op.apply(x, y);
            let name = match op {
                Add => "add",
                Sub => "sub",
                Mul => "mul",
                Div => "div",
                _ => "pow",
            };
            Value::Num(match (a, b) {
                (Value::Const(c), v) => v.num().scalar_lhs_op(name, c, f),
                (v, w) => match (op, w.operand()) {
                    (Add, r) => v.num().binary_op("add", r, |x, y| x + y),
                    (Sub, r) => v.num().binary_op("sub", r, |x, y| x - y),
                    (Mul, r) => v.num().binary_op("mul", r, |x, y| x * y),
                    (Div, r) => v.num().binary_op("div", r, |x, y| x / y),
                    (_, r) => v.num().binary_op("pow", r, f64::powf),
                },
            })
        }
    }
}

// ---------------------------------------------------------------- printing

impl fmt::Display for Expression {
    /// Prints the expression in the syntax [`Expression::parse`] reads, with the parentheses
    /// the precedence needs: `parse(e.to_string())` gives `e` back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expression::Number(v) => {
                if v.is_nan() {
                    f.write_str("nan")
                } else if v.is_infinite() {
                    f.write_str(if *v > 0.0 { "inf" } else { "-inf" })
                } else {
                    write!(f, "{v:?}")
                }
            }
            Expression::Variable(n) => f.write_str(n),
            Expression::Unary { op, operand } => {
                let (text, level) = match op {
                    UnaryOp::Neg => ("-", P_NEG),
                    UnaryOp::Not => ("not ", P_NOT),
                };
                f.write_str(text)?;
                write_child(f, operand, operand.precedence() < level)
            }
            Expression::Binary { op, lhs, rhs } => {
                let p = op.precedence();
                let (left_paren, right_paren) = match op {
                    // Right-associative; the base binds tighter than a unary minus, the
                    // exponent may be one.
                    BinaryOp::Pow => (lhs.precedence() <= p, rhs.precedence() < P_NEG),
                    // Comparisons do not chain.
                    BinaryOp::Lt
                    | BinaryOp::Le
                    | BinaryOp::Gt
                    | BinaryOp::Ge
                    | BinaryOp::Eq
                    | BinaryOp::Ne => (lhs.precedence() <= p, rhs.precedence() <= p),
                    _ => (lhs.precedence() < p, rhs.precedence() <= p),
                };
                write_child(f, lhs, left_paren)?;
                write!(f, " {} ", op.symbol())?;
                write_child(f, rhs, right_paren)
            }
            Expression::Call { function, args } => {
                write!(f, "{}(", function.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_child(f: &mut fmt::Formatter<'_>, e: &Expression, paren: bool) -> fmt::Result {
    if paren {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

/// The text of an [`Error::Parse`]: the message, then the expression with a caret under
/// `column`.
pub(crate) fn parse_error_text(expression: &str, column: usize, message: &str) -> String {
    // Control characters would shift the caret; show them as spaces.
    let shown: String = expression
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "cannot parse the expression: {message} (column {column})\n  {shown}\n  {}^",
        " ".repeat(column.saturating_sub(1))
    )
}

#[cfg(test)]
mod tests;
