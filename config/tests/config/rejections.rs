//! One test per rejection: each message names the key, shows the bad value and says how to fix it.

use crate::{fail, load, no_env};
use logmind_config::{Config, ConfigError, Overrides};

#[test]
fn unknown_duration_unit() {
    let e = fail("[indexer.retention]\nperiod = \"7x\"\n");
    assert_eq!(
        e,
        "indexer.retention.period \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w)"
    );
}

#[test]
fn duration_without_number() {
    let e = fail("[agent]\npoll_interval = \"fast\"\n");
    assert!(
        e.starts_with("agent.poll_interval \"fast\": expected a number followed by a unit"),
        "{e}"
    );
    assert!(e.contains("use ms, s, m, h, d, w"), "{e}");
}

#[test]
fn unknown_size_unit() {
    let e = fail("[indexer]\nmax_batch_bytes = \"16 parsecs\"\n");
    assert!(
        e.starts_with("indexer.max_batch_bytes \"16 parsecs\": unknown unit \"parsecs\""),
        "{e}"
    );
    assert!(e.contains("(use B, KiB, MiB"), "{e}");
}

#[test]
fn zero_batch_size() {
    let e = fail("[agent]\nbatch_max_bytes = \"0\"\n");
    assert!(
        e.contains("agent.batch_max_bytes \"0\": must be greater than zero (use e.g."),
        "{e}"
    );
    let e = fail("[indexer]\nmax_batch_bytes = 0\n");
    assert!(
        e.contains("indexer.max_batch_bytes 0: must be greater than zero"),
        "{e}"
    );
}

#[test]
fn zero_interval() {
    let e = fail("[indexer]\ncommit_interval = \"0s\"\n");
    assert!(
        e.contains("indexer.commit_interval \"0s\": must be greater than zero (use e.g. \"1s\")"),
        "{e}"
    );
}

#[test]
fn retention_shorter_than_partition() {
    let e = fail("[indexer]\npartition = \"1d\"\n[indexer.retention]\nperiod = \"12h\"\n");
    assert!(
        e.starts_with("indexer.retention.period \"12h\": shorter than indexer.partition \"1d\""),
        "{e}"
    );
    assert!(
        e.contains("raise the period or lower indexer.partition"),
        "{e}"
    );
}

#[test]
fn namespace_retention_names_full_key() {
    let e = fail("[indexer.retention]\nnamespaces = { dev = \"1x\" }\n");
    assert!(
        e.starts_with("indexer.retention.namespaces.dev \"1x\": unknown unit \"x\""),
        "{e}"
    );
}

#[test]
fn listen_address_does_not_parse() {
    let e = fail("[indexer]\nlisten = \"localhost:99999\"\n");
    assert_eq!(
        e,
        "indexer.listen \"localhost:99999\": invalid socket address (use IP:PORT like 127.0.0.1:3100)"
    );
    let e = fail("[agent]\nlisten = \"3101\"\n");
    assert!(
        e.contains(
            "agent.listen \"3101\": invalid socket address (use IP:PORT like 127.0.0.1:3101)"
        ),
        "{e}"
    );
}

#[test]
fn bad_url_scheme() {
    let e = fail("[agent]\nserver = \"htp://x\"\n");
    assert_eq!(
        e,
        "agent.server \"htp://x\": unsupported scheme \"htp\" (expected http or https)"
    );
}

#[test]
fn url_without_host() {
    let e = fail("[agent]\nserver = \"http://:3100\"\n");
    assert!(
        e.contains("agent.server \"http://:3100\": missing host (use a URL like http://"),
        "{e}"
    );
}

#[test]
fn unknown_key_names_section_and_suggests() {
    let e = fail("[indexer]\nlistn = \"127.0.0.1:3100\"\n");
    assert_eq!(
        e,
        "unknown key `indexer.listn` in section [indexer] (did you mean `indexer.listen`?)"
    );
    let e = fail("[indexer.retention]\nperiods = \"7d\"\n");
    assert!(
        e.contains("`indexer.retention.periods` in section [indexer.retention]"),
        "{e}"
    );
    assert!(e.contains("did you mean `indexer.retention.period`"), "{e}");
}

#[test]
fn unknown_section_and_top_level_key() {
    let e = fail("[retention]\nperiod = \"7d\"\n");
    assert!(
        e.contains("unknown key `retention` in the top level"),
        "{e}"
    );
    let e = fail("colour = \"blue\"\n");
    assert!(
        e.contains("unknown key `colour` in the top level (remove it; known keys there:"),
        "{e}"
    );
    assert!(e.contains("data_dir"), "{e}");
}

#[test]
fn wrong_types_name_key_and_form() {
    let e = fail("[query]\nmax_lines = \"many\"\n");
    assert!(
        e.contains("query.max_lines \"many\": expected a non-negative integer"),
        "{e}"
    );
    let e = fail("[agent]\npoll_interval = 5\n");
    assert!(
        e.contains("agent.poll_interval 5: expected a duration string with a unit, e.g. \"30s\""),
        "{e}"
    );
    let e = fail("agent = 3\n");
    assert!(
        e.contains("agent 3: expected a table (write it as [agent])"),
        "{e}"
    );
    let e = fail("[agent.multiline]\ngo = \"yes\"\n");
    assert!(
        e.contains("agent.multiline.go \"yes\": expected true or false"),
        "{e}"
    );
}

#[test]
fn collects_all_errors_one_per_line() {
    let text = r#"
data_dir = ""
[agent]
server = "htp://x"
bogus = 1
[indexer]
listen = "nope"
[indexer.retention]
period = "7x"
[query]
max_lines = "x"
"#;
    let err = load(text).expect_err("six problems");
    let msg = err.to_string();
    assert_eq!(err.len(), 6, "{msg}");
    assert_eq!(msg.lines().count(), 6, "{msg}");
    for key in [
        "data_dir",
        "agent.server",
        "agent.bogus",
        "indexer.listen",
        "indexer.retention.period",
        "query.max_lines",
    ] {
        assert!(
            err.iter().any(|e| e.key() == Some(key)),
            "missing {key} in {msg}"
        );
    }
    // Reported in the order of the documented file, whatever phase found them.
    let keys: Vec<&str> = err.iter().filter_map(|e| e.key()).collect();
    assert_eq!(keys.first(), Some(&"data_dir"), "{msg}");
    assert_eq!(keys.last(), Some(&"query.max_lines"), "{msg}");
}

#[test]
fn relation_checked_even_when_a_sibling_fails() {
    let o = Overrides::new().with("indexer.retention.period", "12h");
    let err = Config::from_toml_str(
        "[indexer.retention]\nnamespaces = { dev = \"1x\" }\n",
        &no_env,
        &o,
    )
    .expect_err("two problems");
    let msg = err.to_string();
    assert_eq!(err.len(), 2, "{msg}");
    assert!(
        msg.contains("indexer.retention.period \"12h\": shorter than indexer.partition \"1d\""),
        "{msg}"
    );
    assert!(
        msg.contains("(set by command-line flag for indexer.retention.period)"),
        "{msg}"
    );
    assert!(
        msg.contains("indexer.retention.namespaces.dev \"1x\""),
        "{msg}"
    );
}

#[test]
fn bad_extract_pattern() {
    let e = fail("[agent.extract]\npatterns = ['req=(?P<request_id>[a-z']\n");
    assert!(e.starts_with("agent.extract.patterns[0] "), "{e}");
    assert!(
        e.contains("invalid regular expression") && e.contains("fix the pattern"),
        "{e}"
    );
}

#[test]
fn extract_pattern_without_named_group() {
    let e = fail("[agent.extract]\npatterns = ['ok', 'req=(?P<rid>\\w+)']\n");
    assert!(
        e.starts_with(
            "agent.extract.patterns[0] \"ok\": no named group request_id, user_id or trace_id"
        ),
        "{e}"
    );
    assert!(e.contains("agent.extract.patterns[1]"), "{e}");
    assert!(e.contains("(add one, e.g."), "{e}");
}

#[test]
fn bad_custom_multiline_rule() {
    let e = fail("[[agent.multiline.custom]]\nstart = '^('\ncontinue = '^\\s'\n");
    assert!(
        e.starts_with("agent.multiline.custom[0].start \"^(\": invalid regular expression"),
        "{e}"
    );
    let e = fail("[[agent.multiline.custom]]\nstart = '^x'\n");
    assert!(
        e.contains("agent.multiline.custom[0]")
            && e.contains("{ start = \"regex\", continue = \"regex\" }"),
        "{e}"
    );
}

#[test]
fn bad_enumerations() {
    let e = fail("[agent]\nread_from = \"middle\"\n");
    assert!(
        e.contains("agent.read_from \"middle\": unknown value (use one of \"beginning\", \"end\")"),
        "{e}"
    );
    let e = fail("[agent.kubernetes]\nenabled = \"maybe\"\n");
    assert!(e.contains("agent.kubernetes.enabled \"maybe\": unknown value (use one of \"auto\", \"on\", \"off\""), "{e}");
    let e = fail("log_format = \"xml\"\n");
    assert!(
        e.contains("log_format \"xml\": unknown value (use one of \"text\", \"json\")"),
        "{e}"
    );
    let e = fail("log_level = \"verbose\"\n");
    assert!(
        e.contains("log_level \"verbose\": not a log filter (use trace, debug, info"),
        "{e}"
    );
}

#[test]
fn inconsistent_limits() {
    let e = fail("[query]\nmax_lines = 10\ndefault_limit = 100\n");
    assert!(
        e.contains("query.default_limit 100: larger than query.max_lines 10 (lower it or raise"),
        "{e}"
    );
    let e = fail("[indexer]\nmax_batch_bytes = \"32MiB\"\nmax_decompressed_bytes = \"16MiB\"\n");
    assert!(
        e.contains(
            "indexer.max_decompressed_bytes \"16MiB\": smaller than indexer.max_batch_bytes"
        ),
        "{e}"
    );
    let e = fail("[indexer]\nmax_pending_bytes = \"1MiB\"\n");
    assert!(
        e.contains(
            "indexer.max_pending_bytes \"1MiB\": smaller than indexer.max_decompressed_bytes"
        ),
        "{e}"
    );
    let e = fail("[agent]\nmax_event_bytes = \"2MiB\"\n");
    assert!(
        e.contains("agent.max_event_bytes \"2MiB\": larger than agent.batch_max_bytes \"1MiB\""),
        "{e}"
    );
    let e = fail("[query]\nmax_lines = 0\n");
    assert!(e.contains("query.max_lines 0: must be at least 1"), "{e}");
}

#[test]
fn empty_values() {
    let e = fail("data_dir = \"\"\n");
    assert!(
        e.contains("data_dir \"\": must not be empty (use e.g. \"./data\")"),
        "{e}"
    );
    let e = fail("[agent]\ninclude = []\n");
    assert!(
        e.contains("agent.include []: no file would be tailed (list at least one glob"),
        "{e}"
    );
    let e = fail("[agent]\nid = \"has space\"\n");
    assert!(
        e.contains("agent.id \"has space\": must be non-empty and use only letters"),
        "{e}"
    );
}

#[test]
fn toml_syntax_error_has_position() {
    let e = fail("[indexer]\nlisten = \n");
    assert!(e.starts_with("<config>:2:"), "{e}");
    assert!(e.contains("invalid TOML"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn missing_file() {
    let path = std::path::Path::new("/nonexistent/logmind.toml");
    let err = Config::load(Some(path), &no_env, &Overrides::new()).expect_err("missing");
    let e = err.to_string();
    assert!(
        e.starts_with("cannot read config file /nonexistent/logmind.toml:"),
        "{e}"
    );
    assert!(e.contains("check the path"), "{e}");
}

#[test]
fn bad_env_value_says_which_variable() {
    let env = |k: &str| (k == "LOGMIND_INDEXER_LISTEN").then(|| "localhost:99999".to_string());
    let err = Config::from_toml_str("", &env, &Overrides::new()).expect_err("bad env");
    assert_eq!(
        err.to_string(),
        "indexer.listen \"localhost:99999\": invalid socket address (use IP:PORT like 127.0.0.1:3100) (set by LOGMIND_INDEXER_LISTEN)"
    );
    let env = |k: &str| (k == "LOGMIND_QUERY_MAX_LINES").then(|| "lots".to_string());
    let e = Config::from_toml_str("", &env, &Overrides::new())
        .expect_err("bad int")
        .to_string();
    assert!(
        e.contains("query.max_lines \"lots\": expected a non-negative integer")
            && e.contains("LOGMIND_QUERY_MAX_LINES"),
        "{e}"
    );
}

#[test]
fn bad_flag_value_and_unknown_flag_key() {
    let o = Overrides::new()
        .with("indexer.retention.period", "7x")
        .with("indexer.lisen", "127.0.0.1:1");
    let err = Config::from_toml_str("", &no_env, &o).expect_err("bad flags");
    let e = err.to_string();
    assert_eq!(err.len(), 2, "{e}");
    assert!(e.contains("indexer.retention.period \"7x\": unknown unit \"x\" (use ms, s, m, h, d, w) (set by command-line flag"), "{e}");
    assert!(
        e.contains(
            "unknown key `indexer.lisen` in section [indexer] (did you mean `indexer.listen`?)"
        ),
        "{e}"
    );
    let o = Overrides::new().with("agent.multiline.custom", "x");
    let e = Config::from_toml_str("", &no_env, &o)
        .expect_err("file only")
        .to_string();
    assert!(
        e.contains("agent.multiline.custom") && e.contains("can only be set in the config file"),
        "{e}"
    );
}

#[test]
fn error_keys_are_exposed() {
    let err = load("[indexer]\nlisten = \"x\"\n").expect_err("bad");
    let first = err.iter().next().expect("one error");
    assert_eq!(first.key(), Some("indexer.listen"));
    assert!(matches!(first, ConfigError::Invalid { .. }));
}
