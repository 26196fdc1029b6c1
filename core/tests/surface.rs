//! Walks the schema (`circuit::OPTIONS`, `circuit::METRICS`) and proves that the C header, Go's
//! `Config` and `Metrics`, and the options table of docs/semantics.md list every option and field,
//! with the schema's kind and default. Adding an option to the schema without these makes it fail.
//! (Python and Node check their own signatures, stubs, `.d.ts` and docs against the schema that
//! their native module exports: bindings-python/tests/test_schema.py, bindings-node/__test__/
//! schema.test.js.)

use circuit::{METRICS, MetricKind, OPTIONS, OptionKind};

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[test]
fn every_option_has_a_typed_c_setter() {
    let header = read("include/circuit.h");
    for option in OPTIONS {
        let (suffix, ty) = match option.kind {
            OptionKind::Text => ("", "const char *"),
            OptionKind::Count => ("", "uint32_t "),
            OptionKind::Number => ("", "double "),
            OptionKind::Duration => ("_ns", "uint64_t "),
            OptionKind::Seed => ("", "uint64_t "),
        };
        let setter = format!("circuit_config_set_{}{suffix}(circuit_config *config, {ty}", option.name);
        assert!(header.contains(&setter), "include/circuit.h lacks `{setter}`");
    }
}

#[test]
fn every_metric_is_a_c_snapshot_field() {
    let header = read("include/circuit.h");
    let end = header.find("} circuit_metrics_snapshot;").expect("snapshot struct");
    let start = header[..end].rfind("typedef struct").expect("start of struct");
    let fields: Vec<String> = header[start..end]
        .lines()
        .filter_map(|l| l.trim().strip_suffix(';'))
        .filter_map(|l| l.rsplit(' ').next().map(str::to_owned))
        .collect();
    let expected: Vec<String> = METRICS
        .iter()
        .map(|m| match m.kind {
            MetricKind::Duration | MetricKind::OptionalDuration => format!("{}_ns", m.name),
            _ => m.name.to_owned(),
        })
        .collect();
    assert_eq!(fields, expected, "circuit_metrics_snapshot fields differ from the schema's METRICS");
}

#[test]
fn every_option_is_a_go_config_field_documenting_the_schema_default() {
    let go = read("bindings-go/config.go");
    let start = go.find("type Config struct {").expect("Config struct");
    let body = &go[start..start + go[start..].find("\n}\n").expect("end of Config")];
    for option in OPTIONS {
        let field = pascal(option.name);
        let ty = match option.kind {
            OptionKind::Text => "string",
            OptionKind::Count => "*int",
            OptionKind::Number => "*float64",
            OptionKind::Duration => "*time.Duration",
            OptionKind::Seed => "*uint64",
        };
        let line = format!("\t{field} {ty}\n");
        let at = body.find(&line).unwrap_or_else(|| panic!("Go Config lacks `{}`", line.trim()));
        // The field's doc comment is the block of `//` lines right above it.
        let comment: String = body[..at]
            .lines()
            .rev()
            .take_while(|l| l.trim_start().starts_with("//"))
            .map(|l| l.trim_start().trim_start_matches("//").trim())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" ");
        let default = format!("Default: {}.", option.default);
        assert!(comment.contains(&default), "Go Config.{field}'s comment must say `{default}`; it says: {comment}");
    }
}

#[test]
fn every_metric_is_a_go_metrics_field() {
    let go = read("bindings-go/circuit.go");
    let start = go.find("type Metrics struct {").expect("Metrics struct");
    let body = &go[start..start + go[start..].find("\n}\n").expect("end of Metrics")];
    let fields: Vec<&str> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut expected: Vec<String> = METRICS.iter().map(|m| pascal(m.name)).collect();
    // The one non-scalar field of the snapshot, last as in the core's struct.
    expected.push("Transitions".to_owned());
    assert_eq!(fields, expected, "Go Metrics fields differ from the schema's METRICS (plus Transitions)");
}

#[test]
fn the_semantics_options_table_is_the_schema() {
    let doc = read("docs/semantics.md");
    let start = doc.find("| option | default | valid values |").expect("options table in docs/semantics.md");
    let rows: Vec<&str> = doc[start..].lines().skip(2).take_while(|l| l.starts_with('|')).collect();
    let expected: Vec<String> =
        OPTIONS.iter().map(|o| format!("| `{}` | {} | {} |", o.name, o.default, o.bounds)).collect();
    assert_eq!(rows, expected, "docs/semantics.md's options table must list the schema's options, defaults and bounds");
}
