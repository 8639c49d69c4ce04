//! The template basis of structured and plain lines: JSON / logfmt message fields, level words and identifier
//! pairs, so one message logged in different shapes is one template.

use logmind_indexer::template::{template_basis, MinerOptions, TemplateMiner, MAX_LINE_BYTES};

#[test]
fn json_lines_use_their_message_field() {
    let line = r#"{"ts":"2024-01-15T10:00:00.123Z","level":"error","request_id":"r-1","msg":"user 42 not found","latency_ms":12}"#;
    assert_eq!(template_basis(line), "user 42 not found");
    assert_eq!(
        template_basis(r#"{ "message" : "disk full", "n": 1 }"#),
        "disk full"
    );
    assert_eq!(
        template_basis(r#"{"level":"error","error":"boom"}"#),
        "boom"
    );
    // msg wins over error; escapes are undone.
    assert_eq!(
        template_basis(r#"{"error":"x","msg":"said \"hi\"\nand left"}"#),
        "said \"hi\""
    );
    // A key inside a string value is not a key.
    assert_eq!(
        template_basis(r#"{"payload":"{\"msg\":\"inner\"}","msg":"outer"}"#),
        "outer"
    );
    // No message key: the whole line.
    assert_eq!(template_basis(r#"{"a":1}"#), r#"{"a":1}"#);
}

#[test]
fn logfmt_lines_use_their_msg_value() {
    let line = r#"time=2024-01-15T10:00:00.123Z level=error request_id=r-1 user_id=u-9 msg="user 42 not found" duration=12ms"#;
    assert_eq!(template_basis(line), "user 42 not found");
    assert_eq!(
        template_basis("level=info msg=started port=8080"),
        "started"
    );
    assert_eq!(
        template_basis(r#"level=warn msg="quote \" inside""#),
        r#"quote " inside"#
    );
    // `submsg=` is another key.
    assert_eq!(template_basis("submsg=x code=1"), "submsg=x code=1");
}

#[test]
fn plain_lines_drop_level_words_and_identifier_pairs() {
    assert_eq!(
        template_basis(
            "ERROR request_id: req-7f3a user_id: u-123 payment failed: user 42 not found"
        ),
        "payment failed: user 42 not found"
    );
    assert_eq!(
        template_basis("[WARN] slow response request_id=abc"),
        "slow response"
    );
    assert_eq!(template_basis("INFO: started"), "started");
    // Lower-case words and unknown keys are content.
    assert_eq!(template_basis("error reading file"), "error reading file");
    assert_eq!(template_basis("order_id: 5 shipped"), "order_id: 5 shipped");
    assert_eq!(template_basis("   "), "");
}

#[test]
fn one_message_in_json_logfmt_and_text_is_one_template() {
    let m = TemplateMiner::new(MinerOptions::default());
    let ids = [
        m.assign(r#"{"ts":"2024-01-15T10:00:00.123Z","level":"error","msg":"user 4242 not found","latency_ms":7}"#),
        m.assign(r#"{"ts":"2024-01-15T10:00:01.000Z","level":"error","request_id":"r-1","user_id":"u-2","msg":"user 17 not found","latency_ms":300}"#),
        m.assign(r#"time=2024-01-15T10:00:00.123Z level=error msg="user 99 not found" duration=5ms"#),
        m.assign("ERROR request_id: req-1 user_id: u-5 user 123 not found"),
        m.assign("ERROR user 456 not found"),
        m.assign("user 789 not found"),
    ];
    assert!(ids.iter().all(|&id| id == ids[0]), "{:?}", m.templates());
    assert_eq!(m.text(ids[0]).as_deref(), Some("user <*> not found"));
    // Other messages in the same shapes stay apart.
    let other = m.assign(r#"{"level":"error","msg":"cache 5 unavailable","latency_ms":7}"#);
    assert_ne!(other, ids[0]);
}

#[test]
fn long_lines_are_bounded() {
    let json = format!(
        r#"{{"payload":"{}","msg":"late 5 key"}}"#,
        "x".repeat(200_000)
    );
    let m = TemplateMiner::new(MinerOptions::default());
    let id = m.assign(&json);
    assert_eq!(m.assign(&json), id);
    assert!(m.text(id).unwrap_or_default().len() <= MAX_LINE_BYTES);
}
