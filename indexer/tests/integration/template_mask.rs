//! Masking of variable tokens: one test per variable kind, plus properties (never panics, idempotent).

use logmind_indexer::template::{first_line, mask};
use proptest::prelude::*;

#[test]
fn numbers_are_masked() {
    assert_eq!(mask("user 123 not found"), "user <*> not found");
    assert_eq!(
        mask("took -42 and 3.14 and 1,024"),
        "took <*> and <*> and <*>,<*>"
    );
    assert_eq!(mask("state 6"), "state <*>");
}

#[test]
fn hex_is_masked() {
    assert_eq!(
        mask("at 0x7f3a9c21 with sha 9f86d081884c7d65"),
        "at <*> with sha <*>"
    );
    assert_eq!(mask("object deadbeefcafe freed"), "object <*> freed");
    assert_eq!(mask("java.lang.Object@1b6d3586"), "java.lang.Object@<*>");
    // Short all-hex English words stay.
    assert_eq!(mask("a bad face"), "a bad face");
}

#[test]
fn uuids_are_masked() {
    assert_eq!(
        mask("request 550e8400-e29b-41d4-a716-446655440000 done"),
        "request <*> done"
    );
    assert_eq!(mask("id=abcdefab-cdef-abcd-efab-cdefabcdefab."), "id=<*>.");
}

#[test]
fn ips_are_masked() {
    assert_eq!(mask("from 10.250.18.114:50010"), "from <*>:<*>");
    assert_eq!(
        mask("peer /10.10.34.11:45307 closed"),
        "peer /<*>:<*> closed"
    );
    assert_eq!(mask("bind fe80::1ff:fe23:4567:890a ok"), "bind <*> ok");
    assert_eq!(mask("mac 00:1a:2b:3c:4d:5e up"), "mac <*> up");
}

#[test]
fn quoted_strings_are_masked_but_json_keys_kept() {
    assert_eq!(
        mask(r#"unknown field "colour name" in config"#),
        r#"unknown field "<*>" in config"#
    );
    assert_eq!(
        mask("Added global filter 'safety' now"),
        "Added global filter '<*>' now"
    );
    assert_eq!(mask(r#"say "a \"quoted\" word""#), r#"say "<*>""#);
    assert_eq!(
        mask(r#"{"user":"alice","n":3}"#),
        r#"{"user":"<*>","n":<*>}"#
    );
    // Apostrophes inside words are not quotes.
    assert_eq!(
        mask("Can't find child 4 in 'scoreboard'"),
        "Can't find child <*> in '<*>'"
    );
}

#[test]
fn ids_inside_paths_are_masked() {
    assert_eq!(
        mask("GET /api/v1/users/12345/orders"),
        "GET /api/<*>/users/<*>/orders"
    );
    assert_eq!(
        mask("deleting /data/blk_-6952295868487656571 now"),
        "deleting /data/blk_<*> now"
    );
    assert_eq!(mask("open /var/log/app.log"), "open /var/log/app.log");
}

#[test]
fn prefixed_ids_keep_their_prefix() {
    assert_eq!(
        mask("attempt_1445144423722_0020_m_000000_0 started"),
        "attempt_<*> started"
    );
    assert_eq!(mask("host MININT-FNANLI5.fareast.corp"), "host MININT-<*>");
    assert_eq!(
        mask("class org.apache.hadoop.mapreduce.v2.app.MRAppMaster"),
        "class org.apache.hadoop.mapreduce.<*>"
    );
}

#[test]
fn emails_are_masked() {
    assert_eq!(
        mask("sent to alice.smith+tag@example.co.uk."),
        "sent to <*>."
    );
    assert_eq!(mask("from <bob@mail.example.com>"), "from <<*>>");
}

#[test]
fn durations_are_masked() {
    assert_eq!(
        mask("request took 250ms (timeout 1.5s, budget 3m20s)"),
        "request took <*> (timeout <*>, budget <*>)"
    );
    assert_eq!(
        mask("timeout of 10000ms exceeded"),
        "timeout of <*> exceeded"
    );
}

#[test]
fn timestamps_and_key_values_with_digits_are_masked() {
    assert_eq!(
        mask("at 12:30:45.123 retries=3 level=info"),
        "at <*> retries=<*> level=info"
    );
    assert_eq!(mask("date 2024-01-15T10:00:00Z"), "date <*>:<*>:<*>");
}

#[test]
fn whitespace_is_collapsed_and_trimmed() {
    assert_eq!(mask("  a \t b\n c  "), "a b c");
    assert_eq!(mask(""), "");
    assert_eq!(mask("   "), "");
}

#[test]
fn wildcards_survive_masking() {
    assert_eq!(mask("user <*> not found"), "user <*> not found");
    assert_eq!(mask("blk_<*> to /<*>:<*>"), "blk_<*> to /<*>:<*>");
}

#[test]
fn first_line_takes_the_exception_header() {
    let trace = "java.lang.NullPointerException: boom\n\tat com.x.Y.z(Y.java:10)\n\tat com.x.Main.main(Main.java:3)";
    assert_eq!(first_line(trace), "java.lang.NullPointerException: boom");
    assert_eq!(first_line("one line\r\n"), "one line");
    assert_eq!(first_line(""), "");
}

#[test]
fn non_ascii_text_is_kept_and_never_split_inside_a_char() {
    assert_eq!(
        mask("utilisateur «élodie» introuvable 7"),
        "utilisateur «élodie» introuvable <*>"
    );
    assert_eq!(mask("ユーザー123が見つかりません"), "<*>");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn masking_arbitrary_strings_never_panics_and_is_idempotent(s in any::<String>()) {
        let once = mask(&s);
        prop_assert_eq!(mask(&once), once);
    }

    #[test]
    fn masking_log_like_strings_is_idempotent(
        s in r#"([a-zA-Z_./:=,@'"<>*()\[\]{}#-]{0,8}[0-9a-f]{0,6}[ \t\n]?){0,12}"#
    ) {
        let once = mask(&s);
        prop_assert!(!once.contains("  "));
        prop_assert_eq!(mask(&once), once);
    }

    #[test]
    fn masking_quote_and_escape_soup_is_idempotent(s in r#"[\\'"<*>0a .:_@/x\-]{0,24}"#) {
        let once = mask(&s);
        prop_assert_eq!(mask(&once), once);
    }
}
