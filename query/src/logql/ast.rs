//! LogQL abstract syntax tree.

/// A whole query: a log query (returns streams) or a metric query (returns vectors/matrices).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `{…} | …`
    Log(LogExpr),
    /// `rate(…[5m])`, `sum by (app) (…)`, `1 + 1`, …
    Metric(MetricExpr),
}

/// A stream selector followed by a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// Label matchers of the selector (`{namespace="x", app=~"a|b"}`).
    pub selector: Vec<Matcher>,
    /// Pipeline stages in order.
    pub pipeline: Vec<Stage>,
}

/// `name op "value"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Operator.
    pub op: MatchOp,
    /// Value (a regex for `=~`/`!~`).
    pub value: String,
}

/// Label match operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
}

/// Line filter operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|= "text"`
    Contains,
    /// `!= "text"`
    NotContains,
    /// `|~ "regex"`
    Regex,
    /// `!~ "regex"`
    NotRegex,
    /// `|> "pattern"`
    Pattern,
    /// `!> "pattern"`
    NotPattern,
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Line filter; several values are alternatives (`|= "a" or "b"`).
    LineFilter {
        /// Operator.
        op: LineOp,
        /// Alternatives (at least one).
        values: Vec<String>,
    },
    /// `| json` with optional `label="path"` extractions.
    Json(Vec<(String, String)>),
    /// `| logfmt` with flags and optional extractions.
    Logfmt {
        /// `--strict`
        strict: bool,
        /// `--keep-empty`
        keep_empty: bool,
        /// `label="key"` extractions.
        params: Vec<(String, String)>,
    },
    /// `| pattern "<ip> - <_>"`
    Pattern(String),
    /// `| regexp "(?P<name>…)"`
    Regexp(String),
    /// `| unpack`
    Unpack,
    /// `| decolorize`
    Decolorize,
    /// `| label filter expression`
    LabelFilter(LabelFilter),
    /// `| line_format "{{.label}}"`
    LineFormat(String),
    /// `| label_format a=b, c="{{.d}}"`
    LabelFormat(Vec<LabelFmt>),
    /// `| drop a, b="v"`
    Drop(Vec<DropKeep>),
    /// `| keep a, b="v"`
    Keep(Vec<DropKeep>),
    /// `| unwrap label` (only inside a range aggregation).
    Unwrap(Unwrap),
}

/// A label for `drop`/`keep`, optionally only when it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct DropKeep {
    /// Label name.
    pub name: String,
    /// Optional condition.
    pub matcher: Option<Matcher>,
}

/// One `label_format` assignment.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFmt {
    /// `dst=src`: rename.
    Rename {
        /// New name.
        dst: String,
        /// Old name.
        src: String,
    },
    /// `dst="{{template}}"`.
    Template {
        /// New name.
        dst: String,
        /// Template text.
        template: String,
    },
}

/// `| unwrap [duration|bytes](label)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// Label whose value becomes the sample.
    pub label: String,
    /// Conversion.
    pub conv: UnwrapConv,
    /// Post-unwrap label filters (`| unwrap x | __error__=""`).
    pub filters: Vec<LabelFilter>,
}

/// How an unwrapped value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConv {
    /// Plain float.
    None,
    /// `duration(x)` / `duration_seconds(x)`: Go duration → seconds.
    Duration,
    /// `bytes(x)`: humanized bytes → bytes.
    Bytes,
}

/// Comparison operators of numeric label filters and binary expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` (or `=` in label filters)
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// `a and b` (also `a, b` and `a | b` chains).
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// `a or b`
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// `name="v"`, `name=~"re"`, …
    String(Matcher),
    /// `name > 10`
    Number {
        /// Label.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side.
        value: f64,
    },
    /// `name > 10ms` (compared in seconds).
    Duration {
        /// Label.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side, in nanoseconds.
        value_ns: i64,
    },
    /// `name > 10KB` (compared in bytes).
    Bytes {
        /// Label.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand side, in bytes.
        value: f64,
    },
}

/// Range aggregation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunc {
    /// `count_over_time`
    CountOverTime,
    /// `rate`
    Rate,
    /// `bytes_over_time`
    BytesOverTime,
    /// `bytes_rate`
    BytesRate,
    /// `absent_over_time`
    AbsentOverTime,
    /// `sum_over_time` (unwrap)
    SumOverTime,
    /// `avg_over_time` (unwrap)
    AvgOverTime,
    /// `min_over_time` (unwrap)
    MinOverTime,
    /// `max_over_time` (unwrap)
    MaxOverTime,
    /// `stddev_over_time` (unwrap)
    StddevOverTime,
    /// `stdvar_over_time` (unwrap)
    StdvarOverTime,
    /// `quantile_over_time` (unwrap, parameter)
    QuantileOverTime,
    /// `first_over_time` (unwrap)
    FirstOverTime,
    /// `last_over_time` (unwrap)
    LastOverTime,
    /// `rate_counter` (unwrap)
    RateCounter,
}

impl RangeFunc {
    /// Looks a function up by name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "count_over_time" => Self::CountOverTime,
            "rate" => Self::Rate,
            "bytes_over_time" => Self::BytesOverTime,
            "bytes_rate" => Self::BytesRate,
            "absent_over_time" => Self::AbsentOverTime,
            "sum_over_time" => Self::SumOverTime,
            "avg_over_time" => Self::AvgOverTime,
            "min_over_time" => Self::MinOverTime,
            "max_over_time" => Self::MaxOverTime,
            "stddev_over_time" => Self::StddevOverTime,
            "stdvar_over_time" => Self::StdvarOverTime,
            "quantile_over_time" => Self::QuantileOverTime,
            "first_over_time" => Self::FirstOverTime,
            "last_over_time" => Self::LastOverTime,
            "rate_counter" => Self::RateCounter,
            _ => return None,
        })
    }

    /// True for the functions that need `| unwrap`.
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            Self::CountOverTime
                | Self::Rate
                | Self::BytesOverTime
                | Self::BytesRate
                | Self::AbsentOverTime
        )
    }
}

/// Vector aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VecOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk` (parameter k)
    Topk,
    /// `bottomk` (parameter k)
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
}

impl VecOp {
    /// Looks an operator up by name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "sum" => Self::Sum,
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "count" => Self::Count,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::Topk,
            "bottomk" => Self::Bottomk,
            "sort" => Self::Sort,
            "sort_desc" => Self::SortDesc,
            _ => return None,
        })
    }
}

/// `by (…)` / `without (…)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Grouping {
    /// `without` instead of `by`.
    pub without: bool,
    /// Label names.
    pub labels: Vec<String>,
}

/// Binary operators, by precedence groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// A comparison.
    Cmp(CmpOp),
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

/// `on(…)` / `ignoring(…)` and `group_left/right` of a binary operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorMatching {
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// Labels.
    pub labels: Vec<String>,
}

/// A metric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `func(log-expr [range]) [offset d] [by (…)]`
    Range {
        /// Function.
        func: RangeFunc,
        /// Parameter (`quantile_over_time(0.99, …)`).
        param: Option<f64>,
        /// The log query (its pipeline may end in `Stage::Unwrap`).
        log: LogExpr,
        /// Window, in nanoseconds.
        range_ns: i64,
        /// `offset`, in nanoseconds.
        offset_ns: i64,
        /// Grouping for unwrapped range aggregations.
        grouping: Option<Grouping>,
    },
    /// `op [by (…)] ([param,] expr)`
    Vector {
        /// Operator.
        op: VecOp,
        /// `k` of topk/bottomk.
        param: Option<f64>,
        /// Grouping.
        grouping: Option<Grouping>,
        /// Inner expression.
        expr: Box<MetricExpr>,
    },
    /// `lhs op [bool] [on|ignoring (…)] rhs`
    Binary {
        /// Operator.
        op: BinOp,
        /// `bool` modifier on comparisons.
        return_bool: bool,
        /// Vector matching.
        matching: Option<VectorMatching>,
        /// Left side.
        lhs: Box<MetricExpr>,
        /// Right side.
        rhs: Box<MetricExpr>,
    },
    /// A number.
    Literal(f64),
    /// `vector(x)`
    VectorLit(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`
    LabelReplace {
        /// Inner expression.
        expr: Box<MetricExpr>,
        /// Destination label.
        dst: String,
        /// Replacement (with `$1`).
        replacement: String,
        /// Source label.
        src: String,
        /// Regex (anchored).
        regex: String,
    },
}
