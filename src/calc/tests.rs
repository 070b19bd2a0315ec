use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn, Zip};
use proptest::prelude::*;

use super::*;

fn p(s: &str) -> Expression {
    Expression::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn column_of(s: &str) -> (usize, String) {
    match Expression::parse(s) {
        Err(Error::Parse {
            column, message, ..
        }) => (column, message),
        other => panic!("{s}: expected a parse error, got {other:?}"),
    }
}

#[test]
fn precedence_and_associativity() {
    let cases = [
        ("a + b * c", "a + b * c"),
        ("(a + b) * c", "(a + b) * c"),
        ("a - b - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("a / b / c", "a / b / c"),
        ("a ** b ** c", "a ** b ** c"),
        ("(a ** b) ** c", "(a ** b) ** c"),
        ("-a ** 2", "-a ** 2.0"),
        ("(-a) ** 2", "(-a) ** 2.0"),
        ("a ^ -b", "a ** -b"),
        ("a < b and b < c or not c", "a < b and b < c or not c"),
        ("a & b | c", "a and b or c"),
        ("!(a > 1)", "not a > 1.0"),
        ("--a", "--a"),
        ("+a", "a"),
        ("where(a>0,sqrt(a),-1)", "where(a > 0.0, sqrt(a), -1.0)"),
        ("max(a, b, 3)", "max(a, b, 3.0)"),
        ("1e3 + .5 + 2.5E-1", "1000.0 + 0.5 + 0.25"),
    ];
    for (src, printed) in cases {
        let e = p(src);
        assert_eq!(e.to_string(), printed, "{src}");
        assert_eq!(p(&e.to_string()), e, "{src} does not round-trip");
    }
    // The tree, not just the text.
    assert_eq!(
        p("-a ** 2"),
        Expression::Unary {
            op: UnaryOp::Neg,
            operand: Box::new(Expression::Binary {
                op: BinaryOp::Pow,
                lhs: Box::new(Expression::Variable("a".into())),
                rhs: Box::new(Expression::Number(2.0)),
            }),
        }
    );
    assert!(matches!(p("pi"), Expression::Number(v) if v == std::f64::consts::PI));
    assert!(matches!(p("nan"), Expression::Number(v) if v.is_nan()));
    // A variable may share a function's name when it is not called.
    assert_eq!(p("max + 1").variables(), vec!["max"]);
}

#[test]
fn parse_errors_point_at_the_column() {
    let cases: [(&str, usize, &str); 14] = [
        ("(nir - red) / (nir + red", 25, "expected ')'"),
        ("(a + b))", 8, "unmatched ')'"),
        ("a + * b", 5, "expected a value, found '*'"),
        ("a + ", 5, "unexpected end"),
        ("a b", 3, "operator is missing"),
        ("a $ b", 3, "unexpected character '$'"),
        ("a = b", 3, "use '=='"),
        ("foo(a)", 1, "unknown function 'foo'"),
        ("sqrt(a, b)", 1, "sqrt() takes 1 argument, found 2"),
        ("where(a, b)", 1, "where() takes 3 arguments, found 2"),
        ("min(a)", 1, "min() takes at least 2 arguments, found 1"),
        ("a < b < c", 7, "cannot be chained"),
        ("1.5e+ * a", 6, "exponent"),
        ("", 1, "empty"),
    ];
    for (src, col, msg) in cases {
        let (c, m) = column_of(src);
        assert_eq!(c, col, "{src}: {m}");
        assert!(m.contains(msg), "{src}: {m}");
    }
    // Columns count characters, not bytes.
    assert_eq!(column_of("é + $").0, 1);
    assert_eq!(column_of("a + é").0, 5);
    // The message shows the expression with a caret under the column.
    let e = Expression::parse("(a + b))").unwrap_err().to_string();
    assert_eq!(
        e,
        "cannot parse the expression: unmatched ')' (column 8)\n  (a + b))\n         ^"
    );
}

#[test]
fn hostile_input_is_an_error_not_a_crash() {
    // Deep parentheses, unary chains, right-associative powers, left-assoc chains, calls.
    let n = 100_000;
    let inputs = [
        format!("{}a{}", "(".repeat(n), ")".repeat(n)),
        format!("{}a", "-".repeat(n)),
        format!("{}a", "not ".repeat(n / 4)),
        vec!["a"; n / 2].join("**"),
        vec!["a"; 5000].join("+"),
        format!("{}a{}", "sqrt(".repeat(n / 5), ")".repeat(n / 5)),
        "(".repeat(MAX_EXPRESSION_LEN),
    ];
    for s in &inputs {
        let e = Expression::parse(s).expect_err("must be refused");
        assert!(matches!(e, Error::Parse { .. }), "{e}");
    }
    // Over the length limit: refused before tokenizing, the message is short.
    let long = "a".repeat(MAX_EXPRESSION_LEN + 1);
    let e = Expression::parse(&long).unwrap_err();
    assert!(e.to_string().contains("bytes long"), "{e}");
    assert!(e.to_string().len() < 400);
    // Just under the depth limit still parses.
    let ok = format!(
        "{}a{}",
        "(".repeat(MAX_DEPTH / 2 - 2),
        ")".repeat(MAX_DEPTH / 2 - 2)
    );
    p(&ok);
    // A tree built by hand deeper than the limit is refused by eval, not evaluated.
    let mut deep = Expression::Variable("a".into());
    for _ in 0..(MAX_DEPTH + 1) {
        deep = Expression::Unary {
            op: UnaryOp::Neg,
            operand: Box::new(deep),
        };
    }
    let a = ChunkedArray::<f64>::ones(&[2], &[2]);
    assert!(deep.eval(&HashMap::from([("a".into(), a)])).is_err());
}

fn arrays() -> HashMap<String, ChunkedArray<f64>> {
    let a = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| (i[0] as f64) - 2.0 + i[1] as f64 * 0.5);
    let b = ArrayD::from_shape_fn(IxDyn(&[6, 5]), |i| (i[0] * 5 + i[1]) as f64 * 0.1);
    HashMap::from([
        ("a".into(), ChunkedArray::from_ndarray(a.view(), &[4, 2])),
        ("b".into(), ChunkedArray::from_ndarray(b.view(), &[3, 5])),
    ])
}

#[test]
fn eval_ndvi_and_friends() {
    let inputs = arrays();
    let a = inputs["a"].compute().unwrap();
    let b = inputs["b"].compute().unwrap();
    let ndvi = p("(b - a) / (b + a)")
        .eval(&inputs)
        .unwrap()
        .compute()
        .unwrap();
    let want = Zip::from(&a)
        .and(&b)
        .map_collect(|&a, &b| (b - a) / (b + a));
    assert!(same(&ndvi, &want));
    let w = p("where(a > 0 and b < 2, a ** 2, -b)")
        .eval(&inputs)
        .unwrap()
        .compute()
        .unwrap();
    let want = Zip::from(&a).and(&b).map_collect(
        |&a, &b| {
            if a > 0.0 && b < 2.0 { a.powf(2.0) } else { -b }
        },
    );
    assert!(same(&w, &want));
    // Comparisons are 1 and 0; constants alone are a 0-d array.
    let c = p("a >= 0").eval(&inputs).unwrap().sum().compute().unwrap();
    assert_eq!(c, a.iter().filter(|&&v| v >= 0.0).count() as f64);
    let k = p("2 ** 10 - max(1, 2, 3)").eval(&HashMap::new()).unwrap();
    assert_eq!(k.shape(), &[] as &[usize]);
    assert_eq!(k.compute().unwrap().sum(), 1021.0);
}

#[test]
fn eval_errors_name_the_problem() {
    let inputs = arrays();
    let e = p("a + nir").eval(&inputs).unwrap_err().to_string();
    assert!(e.contains("'nir'") && e.contains("inputs: a, b"), "{e}");
    let mut odd = inputs.clone();
    odd.insert("c".into(), ChunkedArray::<f64>::ones(&[4], &[4]));
    let e = p("a * c").eval(&odd).unwrap_err().to_string();
    assert!(e.contains("[6, 5]") && e.contains("[4]"), "{e}");
}

#[test]
fn eval_fuses_into_one_stage() {
    // Two inputs with the same chunks: the whole expression and the sum are one stage
    // (plus the combine of the sum's partials), with no block written in between.
    let a = ChunkedArray::<f64>::random_seeded(&[40, 30], &[10, 30], 1);
    let b = ChunkedArray::<f64>::random_seeded(&[40, 30], &[10, 30], 2);
    let inputs = HashMap::from([("a".to_string(), a), ("b".to_string(), b)]);
    let y = p("sqrt(abs(a * 2 - b)) + clip(a, 0.1, 0.9) + where(b > 0.5, 1, 0) - log(a + 1)")
        .eval(&inputs)
        .unwrap();
    let plan = y.sum().explain();
    let lines: Vec<&str> = plan.lines().collect();
    // Stage #0 reads both generators and runs every operation and the first step of the sum.
    assert!(
        lines[1].contains("#0") && lines[1].contains("reduce"),
        "{plan}"
    );
    for op in [
        "random(seed=1)",
        "random(seed=2)",
        "sqrt",
        "where",
        "ln",
        "minimum(0.9)",
    ] {
        assert!(lines[2].contains(op), "{op} is not fused: {plan}");
    }
    assert!(!plan.contains("#4"), "{plan}");
}

/// An eager evaluator over ndarray arrays, written independently of the lazy one.
fn eager(e: &Expression, vars: &HashMap<String, ArrayD<f64>>, shape: &[usize]) -> ArrayD<f64> {
    let full = |v: f64| ArrayD::from_elem(IxDyn(shape), v);
    let b2f = |c: bool| if c { 1.0 } else { 0.0 };
    let nanmin = |x: f64, y: f64| {
        if x.is_nan() || y.is_nan() {
            f64::NAN
        } else {
            x.min(y)
        }
    };
    let nanmax = |x: f64, y: f64| {
        if x.is_nan() || y.is_nan() {
            f64::NAN
        } else {
            x.max(y)
        }
    };
    match e {
        Expression::Number(v) => full(*v),
        Expression::Variable(n) => vars[n].clone(),
        Expression::Unary { op, operand } => {
            let x = eager(operand, vars, shape);
            match op {
                UnaryOp::Neg => x.mapv(|v| -v),
                UnaryOp::Not => x.mapv(|v| b2f(v == 0.0)),
            }
        }
        Expression::Binary { op, lhs, rhs } => {
            let x = eager(lhs, vars, shape);
            let y = eager(rhs, vars, shape);
            let f = |a: f64, b: f64| match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                BinaryOp::Pow => a.powf(b),
                BinaryOp::Lt => b2f(a < b),
                BinaryOp::Le => b2f(a <= b),
                BinaryOp::Gt => b2f(a > b),
                BinaryOp::Ge => b2f(a >= b),
                BinaryOp::Eq => b2f(a == b),
                BinaryOp::Ne => b2f(a != b),
                BinaryOp::And => b2f(a != 0.0 && b != 0.0),
                BinaryOp::Or => b2f(a != 0.0 || b != 0.0),
            };
            Zip::from(&x).and(&y).map_collect(|&a, &b| f(a, b))
        }
        Expression::Call { function, args } => {
            let a: Vec<ArrayD<f64>> = args.iter().map(|x| eager(x, vars, shape)).collect();
            let n = a[0].len();
            let flat: Vec<Vec<f64>> = a.iter().map(|x| x.iter().copied().collect()).collect();
            let out: Vec<f64> = (0..n)
                .map(|i| {
                    let v = |k: usize| flat[k][i];
                    match function {
                        Function::Where => {
                            if v(0) != 0.0 {
                                v(1)
                            } else {
                                v(2)
                            }
                        }
                        Function::Sqrt => v(0).sqrt(),
                        Function::Abs => v(0).abs(),
                        Function::Log => v(0).ln(),
                        Function::Log10 => v(0).log10(),
                        Function::Exp => v(0).exp(),
                        Function::Min => (1..flat.len()).fold(v(0), |m, k| nanmin(m, v(k))),
                        Function::Max => (1..flat.len()).fold(v(0), |m, k| nanmax(m, v(k))),
                        Function::Clip => nanmin(nanmax(v(0), v(1)), v(2)),
                    }
                })
                .collect();
            ArrayD::from_shape_vec(IxDyn(shape), out).unwrap()
        }
    }
}

fn same(x: &ArrayD<f64>, y: &ArrayD<f64>) -> bool {
    x.shape() == y.shape()
        && x.iter()
            .zip(y.iter())
            .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()))
}

fn arb_expression() -> impl Strategy<Value = Expression> {
    let leaf = prop_oneof![
        prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.25, 1e-3, 1e300, 7e-310, 42.0])
            .prop_map(Expression::Number),
        prop::sample::select(vec!["a", "b", "c"]).prop_map(|n| Expression::Variable(n.into())),
    ];
    leaf.prop_recursive(5, 48, 3, |inner| {
        let binops = vec![
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Pow,
            BinaryOp::Lt,
            BinaryOp::Le,
            BinaryOp::Gt,
            BinaryOp::Ge,
            BinaryOp::Eq,
            BinaryOp::Ne,
            BinaryOp::And,
            BinaryOp::Or,
        ];
        prop_oneof![
            (
                prop::sample::select(vec![UnaryOp::Neg, UnaryOp::Not]),
                inner.clone()
            )
                .prop_map(|(op, e)| Expression::Unary {
                    op,
                    operand: Box::new(e)
                }),
            (prop::sample::select(binops), inner.clone(), inner.clone()).prop_map(|(op, l, r)| {
                Expression::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }
            }),
            (
                prop::sample::select(Function::ALL.to_vec()),
                prop::collection::vec(inner, 3..=4)
            )
                .prop_map(|(function, mut args)| {
                    let (lo, hi) = function.arity();
                    args.truncate(hi.min(args.len()).max(lo));
                    Expression::Call { function, args }
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printed_expressions_parse_back(e in arb_expression()) {
        let text = e.to_string();
        let back = Expression::parse(&text);
        prop_assert!(back.is_ok(), "{text}: {:?}", back);
        prop_assert_eq!(back.unwrap(), e, "{}", text);
    }

    #[test]
    fn lazy_eval_matches_eager(
        e in arb_expression(),
        values in prop::collection::vec(
            prop::sample::select(vec![-2.5, -1.0, 0.0, 0.0, 0.5, 1.0, 2.0, 3.0, f64::NAN]),
            3 * 20,
        ),
    ) {
        let shape = [4usize, 5];
        let mut eager_vars = HashMap::new();
        let mut lazy_vars = HashMap::new();
        for (k, name) in ["a", "b", "c"].iter().enumerate() {
            let arr = ArrayD::from_shape_vec(IxDyn(&shape), values[k * 20..(k + 1) * 20].to_vec()).unwrap();
            lazy_vars.insert(name.to_string(), ChunkedArray::from_ndarray(arr.view(), &[3, 2 + k]));
            eager_vars.insert(name.to_string(), arr);
        }
        let want = eager(&e, &eager_vars, &shape);
        let got = e.eval(&lazy_vars).unwrap();
        // An expression without variables is 0-d; broadcast it for the comparison.
        let got = got.broadcast_to(&shape).compute().unwrap();
        prop_assert!(same(&got, &want), "{}\n got {:?}\nwant {:?}", e, got, want);
    }

    #[test]
    fn parser_never_panics(s in "[a-c0-9 ()+*/<>=!&|,.^e-]{0,40}|(where|min|sqrt|not|and)[(a, 1)]{0,12}") {
        let _ = Expression::parse(&s);
    }
}
