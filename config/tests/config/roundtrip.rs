//! Property: any valid duration or size survives effective TOML → load unchanged.

use crate::no_env;
use logmind_config::{Config, Overrides};
use proptest::prelude::*;

/// Valid durations (under 20000 weeks, within the protocol's range) in every written form: `250ms`, `7d`, `1.5h`, `0.250s`, `2.125w`, a bare number of seconds.
fn duration_text() -> impl Strategy<Value = String> {
    let units = prop::sample::select(vec!["s", "m", "h", "d", "w", ""]);
    prop_oneof![
        (1u64..10_000_000_000).prop_map(|n| format!("{n}ms")),
        (1u64..20_000, units.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (0u64..20_000, 1u32..1000, units).prop_map(|(n, f, u)| format!("{n}.{f:03}{u}")),
    ]
}

/// Valid sizes: plain bytes, binary and decimal units, with or without a fraction.
fn size_text() -> impl Strategy<Value = String> {
    let units = prop::sample::select(vec![
        "", "B", "KiB", "MiB", "GiB", "TiB", "KB", "MB", "GB", "K", "M",
    ]);
    prop_oneof![
        (1u64..1_000_000, units.clone()).prop_map(|(n, u)| format!("{n}{u}")),
        (1u64..1_000_000, 0u32..100, units).prop_map(|(n, f, u)| format!("{n}.{f:02}{u}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn durations_and_sizes_round_trip(
        poll in duration_text(),
        timeout in duration_text(),
        ns_period in duration_text(),
        backoff in duration_text(),
        heap in size_text(),
        disk in size_text(),
        regex in size_text(),
    ) {
        let text = format!(
            "[agent]\npoll_interval = {poll:?}\n[query]\ntimeout = {timeout:?}\nmax_regex_bytes = {regex:?}\n\
             [indexer]\nwriter_heap_bytes = {heap:?}\n\
             [indexer.retention]\nmax_disk_bytes = {disk:?}\nnamespaces = {{ dev = {ns_period:?} }}\n"
        );
        // One value through the environment too: it must print and read back the same way.
        let env = |k: &str| (k == "LOGMIND_AGENT_RETRY_MAX_BACKOFF").then(|| backoff.clone());
        let first = Config::from_toml_str(&text, &env, &Overrides::new());
        prop_assert!(first.is_ok(), "{:?}\n{}", first.as_ref().err().map(|e| e.to_string()), text);
        let first = first.ok();
        let printed = first.as_ref().map(Config::to_effective_toml).unwrap_or_default();
        let second = Config::from_toml_str(&printed, &no_env, &Overrides::new());
        prop_assert!(second.is_ok(), "{:?}\n{}", second.as_ref().err().map(|e| e.to_string()), printed);
        prop_assert_eq!(second.ok(), first);
    }
}
