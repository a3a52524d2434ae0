//! Tests of the configuration: parsing, precedence, defaults and every refusal.
//! None reads the real environment; the CPU set is injected except where a test says.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use super::cpu_set::{self, CpuListError, CPU_NUMBER_MAX};
use super::{decode_env, Config, ConfigBuilder, ConfigError, WORKER_CPUS_MAX};

/// A builder over an injected allowed set and environment.
fn builder(allowed: &[usize], vars: &[(&str, &str)]) -> ConfigBuilder {
    let map: HashMap<String, String> = vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    Config::builder()
        .allowed_cpus(allowed.to_vec())
        .env_source(move |var| map.get(var).cloned())
        .dev_mode(true)
}

fn build(allowed: &[usize], vars: &[(&str, &str)]) -> Config {
    builder(allowed, vars).build().expect("config should build")
}

fn refused(allowed: &[usize], vars: &[(&str, &str)]) -> ConfigError {
    builder(allowed, vars).build().expect_err("config should be refused")
}

fn cores_message(allowed: &[usize], cores: &str) -> String {
    refused(allowed, &[("COREMESH_CORES", cores)]).to_string()
}

fn eight() -> Vec<usize> {
    (0..8).collect()
}

// ---- CPU lists ----

#[test]
fn lists_ranges_and_whitespace_parse_in_order() {
    let cases: &[(&str, &[usize])] = &[
        ("0", &[0]),
        ("0-3,6", &[0, 1, 2, 3, 6]),
        ("0, 2-3", &[0, 2, 3]),
        (" 0 - 2 ,\t5 ", &[0, 1, 2, 5]),
        ("3,1,2", &[3, 1, 2]),
        ("4-4", &[4]),
        ("007", &[7]),
        ("65535", &[CPU_NUMBER_MAX]),
    ];
    for &(spec, want) in cases {
        assert_eq!(cpu_set::parse_cpu_list(spec), Ok(want.to_vec()), "{spec:?}");
    }
    let config = build(&eight(), &[("COREMESH_CORES", "6, 0-2")]);
    assert_eq!(config.worker_cpus(), &[6, 0, 1, 2]);
}

#[test]
fn malformed_lists_say_why() {
    let allowed = eight();
    assert_eq!(cores_message(&allowed, "3-1"), "COREMESH_CORES=3-1: range end 1 is below its start 3");
    assert_eq!(cores_message(&allowed, "a"), "COREMESH_CORES=a: \"a\" is not a CPU number");
    assert_eq!(cores_message(&allowed, "0,,1"), "COREMESH_CORES=0,,1: item 2 is empty");
    let cases: &[(&str, &str)] = &[
        ("0,1,", "item 3 is empty"),
        (",0", "item 1 is empty"),
        ("-3", "range \"-3\" has no start"),
        ("3-", "range \"3-\" has no end"),
        ("1-2-3", "\"2-3\" is not a CPU number"),
        ("1 2", "\"1 2\" is not a CPU number"),
        ("+1", "\"+1\" is not a CPU number"),
        ("0x1", "\"0x1\" is not a CPU number"),
        ("1;2", "\"1;2\" is not a CPU number"),
    ];
    for &(spec, reason) in cases {
        assert_eq!(
            refused(&allowed, &[("COREMESH_CORES", spec)]),
            ConfigError::Malformed {
                var: "COREMESH_CORES".into(),
                value: spec.into(),
                reason: reason.into(),
            },
            "{spec:?}"
        );
    }
}

#[test]
fn huge_numbers_are_refused_without_expanding() {
    let above = format!("CPU 65536 is above the largest supported CPU number {CPU_NUMBER_MAX}");
    assert_eq!(cpu_set::parse_cpu_list("65536"), Err(CpuListError::Malformed(above)));
    for spec in [
        "0-18446744073709551615",
        "0-18446744073709551616",
        "99999999999999999999999999",
        "18446744073709551615-0",
        "0-65536",
    ] {
        let got = cpu_set::parse_cpu_list(spec);
        let above = matches!(&got, Err(CpuListError::Malformed(r)) if r.contains("above the largest"));
        assert!(above, "{spec:?}: {got:?}");
    }
    // The widest accepted range expands, then is refused for its length, not its CPUs.
    assert_eq!(
        refused(&eight(), &[("COREMESH_CORES", "0-65535")]),
        ConfigError::TooManyCpus {
            var: "COREMESH_CORES".into(),
            value: "0-65535".into(),
            count: 65_536,
            max: WORKER_CPUS_MAX,
        }
    );
}

#[test]
fn duplicates_are_found_across_ranges() {
    assert_eq!(
        refused(&eight(), &[("COREMESH_CORES", "0-2,1")]),
        ConfigError::DuplicateCpu { var: "COREMESH_CORES".into(), value: "0-2,1".into(), cpu: 1 }
    );
    for (spec, cpu) in [("1,1", 1), ("0-3,2-5", 2), ("5,0-9", 5)] {
        assert_eq!(cpu_set::parse_cpu_list(spec), Err(CpuListError::Duplicate(cpu)));
    }
    assert_eq!(cores_message(&eight(), "0-2,1"), "COREMESH_CORES=0-2,1: CPU 1 is listed more than once");
}

#[test]
fn cpu_not_allowed_names_the_allowed_set() {
    assert_eq!(
        cores_message(&[0, 1], "5"),
        "COREMESH_CORES=5: CPU 5 is not in this process's allowed set {0,1}"
    );
    assert_eq!(
        refused(&[6, 0, 3, 1, 2], &[("COREMESH_CORES", "0,4")]),
        ConfigError::CpuNotAllowed {
            var: "COREMESH_CORES".into(),
            value: "0,4".into(),
            cpu: 4,
            allowed: vec![0, 1, 2, 3, 6],
        }
    );
    assert_eq!(
        cores_message(&[6, 0, 3, 1, 2], "4"),
        "COREMESH_CORES=4: CPU 4 is not in this process's allowed set {0-3,6}"
    );
    assert_eq!(
        refused(&[0, 1], &[("COREMESH_CONTROL_CORE", "2")]).to_string(),
        "COREMESH_CONTROL_CORE=2: CPU 2 is not in this process's allowed set {0,1}"
    );
}

#[test]
fn cpu_lists_format_compactly_in_order() {
    let cases: &[(&[usize], &str)] = &[
        (&[], ""),
        (&[0], "0"),
        (&[0, 1], "0,1"),
        (&[0, 1, 2], "0-2"),
        (&[0, 1, 2, 3, 6], "0-3,6"),
        (&[0, 1, 5, 6, 7, 9, 10], "0,1,5-7,9,10"),
        (&[3, 2, 1], "3,2,1"),
        (&[usize::MAX - 2, usize::MAX - 1, usize::MAX], "18446744073709551613-18446744073709551615"),
    ];
    for &(cpus, want) in cases {
        assert_eq!(cpu_set::format_cpu_list(cpus), want, "{cpus:?}");
    }
}

// ---- Every refusal ----

#[test]
fn empty_values_are_errors_not_unset() {
    for var in [
        "COREMESH_CORES",
        "COREMESH_CONTROL_CORE",
        "COREMESH_MAILBOX_BYTES",
        "COREMESH_RING_BYTES",
        "COREMESH_IDLE_SPIN_US",
        "COREMESH_INIT_TIMEOUT_MS",
        "COREMESH_ASK_TIMEOUT_MS",
        "COREMESH_INFLIGHT_ASKS_MAX",
    ] {
        for value in ["", "  \t"] {
            assert_eq!(
                refused(&eight(), &[(var, value)]),
                ConfigError::Empty { var: var.into() },
                "{var}={value:?}"
            );
        }
    }
}

#[test]
fn numbers_out_of_range_are_refused() {
    let (gib, day, huge) = (1u64 << 30, 86_400_000, "99999999999999999999999999");
    let cases: &[(&str, &str, u64, u64)] = &[
        ("COREMESH_MAILBOX_BYTES", "4095", 4096, gib),
        ("COREMESH_MAILBOX_BYTES", "1073741825", 4096, gib),
        ("COREMESH_RING_BYTES", "2048", 4096, gib),
        ("COREMESH_RING_BYTES", "2147483648", 4096, gib),
        ("COREMESH_IDLE_SPIN_US", "1000001", 0, 1_000_000),
        ("COREMESH_INIT_TIMEOUT_MS", "0", 1, day),
        ("COREMESH_ASK_TIMEOUT_MS", "0", 1, day),
        ("COREMESH_ASK_TIMEOUT_MS", "18446744073709551616", 1, day),
        ("COREMESH_MAILBOX_BYTES", huge, 4096, gib),
        ("COREMESH_INFLIGHT_ASKS_MAX", "0", 1, 1 << 24),
        ("COREMESH_INFLIGHT_ASKS_MAX", "16777217", 1, 1 << 24),
    ];
    for &(var, value, min, max) in cases {
        assert_eq!(
            refused(&eight(), &[(var, value)]),
            ConfigError::OutOfRange { var: var.into(), value: value.into(), min, max },
            "{var}={value}"
        );
    }
    assert_eq!(
        refused(&eight(), &[("COREMESH_RING_BYTES", "1024")]).to_string(),
        "COREMESH_RING_BYTES=1024: must be between 4096 and 1073741824"
    );
    assert_eq!(
        refused(&eight(), &[("COREMESH_INFLIGHT_ASKS_MAX", "0")]).to_string(),
        "COREMESH_INFLIGHT_ASKS_MAX=0: must be between 1 and 16777216"
    );
    let edges = [("COREMESH_INFLIGHT_ASKS_MAX", "16777216")];
    assert_eq!(build(&eight(), &edges).inflight_asks_max(), 1 << 24);
}

#[test]
fn malformed_numbers_are_refused() {
    for value in ["abc", "-1", "+5", "1.5", "1e6", "0x1000", "4 096", "٣"] {
        assert_eq!(
            refused(&eight(), &[("COREMESH_MAILBOX_BYTES", value)]),
            ConfigError::Malformed {
                var: "COREMESH_MAILBOX_BYTES".into(),
                value: value.into(),
                reason: format!("{:?} is not a whole number", value.trim()),
            }
        );
    }
    assert_eq!(
        refused(&eight(), &[("COREMESH_CONTROL_CORE", "1,2")]),
        ConfigError::Malformed {
            var: "COREMESH_CONTROL_CORE".into(),
            value: "1,2".into(),
            reason: "\"1,2\" is not a CPU number".into(),
        }
    );
    // Whitespace around a number is tolerated.
    let config = build(&eight(), &[("COREMESH_IDLE_SPIN_US", " 7 "), ("COREMESH_CONTROL_CORE", " 3\n")]);
    assert_eq!((config.idle_spin_us(), config.control_cpu()), (7, 3));
}

#[test]
fn ring_bytes_must_be_a_power_of_two() {
    assert_eq!(
        refused(&eight(), &[("COREMESH_RING_BYTES", "5000")]),
        ConfigError::NotPowerOfTwo { var: "COREMESH_RING_BYTES".into(), value: "5000".into() }
    );
    // Mailboxes need not be.
    assert_eq!(build(&eight(), &[("COREMESH_MAILBOX_BYTES", "5000")]).mailbox_bytes_max(), 5000);
    let edges = [("COREMESH_RING_BYTES", "4096")];
    assert_eq!(build(&eight(), &edges).ring_bytes(), 4096);
    assert_eq!(builder(&eight(), &[]).ring_bytes(1 << 30).build().map(|c| c.ring_bytes()), Ok(1 << 30));
}

#[test]
fn too_many_workers_are_refused() {
    let allowed: Vec<usize> = (0..5000).collect();
    assert_eq!(
        refused(&allowed, &[("COREMESH_CORES", "0-4096")]),
        ConfigError::TooManyCpus {
            var: "COREMESH_CORES".into(),
            value: "0-4096".into(),
            count: 4097,
            max: WORKER_CPUS_MAX,
        }
    );
    assert_eq!(build(&allowed, &[("COREMESH_CORES", "0-4095")]).worker_cpus().len(), 4096);
    // A default never exceeds the cap: it keeps the first 4096 workers.
    let config = build(&allowed, &[]);
    assert_eq!(config.worker_cpus(), (0..4096).collect::<Vec<_>>());
    assert_eq!(config.control_cpu(), 4999);
}

/// Asserts that `builder` is refused with `ConfigBuilder::` and then `want`.
fn says(builder: ConfigBuilder, want: &str) {
    let got = builder.build().map_err(|e| e.to_string());
    assert_eq!(got, Err(format!("ConfigBuilder::{want}")));
}

#[test]
fn builder_values_are_validated_and_named() {
    let b = || builder(&eight(), &[]);
    let not_allowed = "is not in this process's allowed set {0-7}";
    let bytes = "must be between 4096 and 1073741824";
    let empty = "is set but empty; leave it unset for the default";
    says(b().cores([]), &format!("cores {empty}"));
    says(b().cores([1, 9]), &format!("cores=1,9: CPU 9 {not_allowed}"));
    says(b().cores([2, 3, 2]), "cores=2,3,2: CPU 2 is listed more than once");
    says(b().control_core(8), &format!("control_core=8: CPU 8 {not_allowed}"));
    says(b().mailbox_bytes_max(1 << 31), &format!("mailbox_bytes_max=2147483648: {bytes}"));
    says(b().mailbox_bytes_max(usize::MAX), &format!("mailbox_bytes_max={}: {bytes}", usize::MAX));
    says(b().ring_bytes(2048), &format!("ring_bytes=2048: {bytes}"));
    says(b().ring_bytes(5000), "ring_bytes=5000: must be a power of two");
    says(b().idle_spin_us(1_000_001), "idle_spin_us=1000001: must be between 0 and 1000000");
    says(b().init_timeout_ms(0), "init_timeout_ms=0: must be between 1 and 86400000");
    says(b().ask_timeout_ms(86_400_001), "ask_timeout_ms=86400001: must be between 1 and 86400000");
    says(b().inflight_asks_max(0), "inflight_asks_max=0: must be between 1 and 16777216");
    says(Config::builder().allowed_cpus([]), &format!("allowed_cpus {empty}"));
    let many = builder(&(0..5000).collect::<Vec<_>>(), &[]).cores(0..4097);
    says(many, "cores=0-4096: 4097 CPUs listed, at most 4096 are supported");
    let err = b().ring_bytes(5000).build().map(|_| ());
    let (var, value) = ("ConfigBuilder::ring_bytes".into(), "5000".into());
    assert_eq!(err, Err(ConfigError::NotPowerOfTwo { var, value }));
}

#[test]
fn non_utf8_values_are_refused() {
    assert_eq!(decode_env("COREMESH_CORES", None), Ok(None));
    assert_eq!(decode_env("COREMESH_CORES", Some(OsString::from("0-1"))), Ok(Some("0-1".into())));
    assert_eq!(
        decode_env("COREMESH_CORES", Some(OsString::from_vec(b"0-\xff".to_vec()))),
        Err(ConfigError::Malformed {
            var: "COREMESH_CORES".into(),
            value: "0-\u{fffd}".into(),
            reason: "not valid UTF-8".into(),
        })
    );
}

// ---- Precedence ----

#[test]
fn builder_wins_over_env_and_env_over_default() {
    let vars = [
        ("COREMESH_CORES", "0-1"),
        ("COREMESH_CONTROL_CORE", "7"),
        ("COREMESH_MAILBOX_BYTES", "8192"),
        ("COREMESH_RING_BYTES", "8192"),
        ("COREMESH_IDLE_SPIN_US", "0"),
        ("COREMESH_INIT_TIMEOUT_MS", "10"),
        ("COREMESH_ASK_TIMEOUT_MS", "20"),
        ("COREMESH_INFLIGHT_ASKS_MAX", "30"),
    ];
    let from_env = build(&eight(), &vars);
    assert_eq!(from_env.worker_cpus(), &[0, 1]);
    assert_eq!(from_env.control_cpu(), 7);
    assert_eq!(from_env.mailbox_bytes_max(), 8192);
    assert_eq!(from_env.ring_bytes(), 8192);
    assert_eq!(from_env.idle_spin_us(), 0);
    assert_eq!(from_env.init_timeout_ms(), 10);
    assert_eq!(from_env.ask_timeout_ms(), 20);
    assert_eq!(from_env.inflight_asks_max(), 30);

    let from_builder = builder(&eight(), &vars)
        .cores([4, 5])
        .control_core(6)
        .mailbox_bytes_max(4096)
        .ring_bytes(1 << 20)
        .idle_spin_us(100)
        .init_timeout_ms(1)
        .ask_timeout_ms(2)
        .inflight_asks_max(3)
        .build()
        .expect("builder values are valid");
    assert_eq!(from_builder.worker_cpus(), &[4, 5]);
    assert_eq!(from_builder.control_cpu(), 6);
    assert_eq!(from_builder.mailbox_bytes_max(), 4096);
    assert_eq!(from_builder.ring_bytes(), 1 << 20);
    assert_eq!(from_builder.idle_spin_us(), 100);
    assert_eq!(from_builder.init_timeout_ms(), 1);
    assert_eq!(from_builder.ask_timeout_ms(), 2);
    assert_eq!(from_builder.inflight_asks_max(), 3);

    let defaults = build(&eight(), &[]);
    assert_eq!(defaults.mailbox_bytes_max(), 64 << 10);
    assert_eq!(defaults.ring_bytes(), 256 << 10);
    assert_eq!(defaults.idle_spin_us(), 50);
    assert_eq!(defaults.init_timeout_ms(), 5000);
    assert_eq!(defaults.ask_timeout_ms(), 5000);
    assert_eq!(defaults.inflight_asks_max(), 65_536);
}

#[test]
fn a_bad_variable_overridden_by_the_builder_is_not_read() {
    let vars = [("COREMESH_CORES", "bad"), ("COREMESH_RING_BYTES", "5000")];
    let config = builder(&eight(), &vars)
        .cores([0])
        .ring_bytes(4096)
        .build()
        .expect("overridden variables are not read");
    assert_eq!((config.worker_cpus(), config.ring_bytes()), (&[0][..], 4096));
}

// ---- CPU defaults ----

/// (workers, control, shared) of a config.
fn cpus(config: &Config) -> (Vec<usize>, usize, bool) {
    let workers = config.worker_cpus().to_vec();
    (workers, config.control_cpu(), config.control_shares_worker_cpu())
}

#[test]
fn defaults_on_one_cpu_share_it() {
    assert_eq!(cpus(&build(&[3], &[])), (vec![3], 3, true));
}

#[test]
fn defaults_on_two_cpus_share_the_last() {
    assert_eq!(cpus(&build(&[1, 0], &[])), (vec![0, 1], 1, true));
}

#[test]
fn defaults_on_eight_cpus_give_control_the_last() {
    assert_eq!(cpus(&build(&eight(), &[])), ((0..7).collect(), 7, false));
    // Sparse sets work the same way.
    assert_eq!(cpus(&build(&[9, 2, 5, 2], &[])), (vec![2, 5], 9, false));
}

#[test]
fn workers_without_control_take_a_free_cpu_else_share() {
    let free = build(&eight(), &[("COREMESH_CORES", "0-3")]);
    assert_eq!(cpus(&free), (vec![0, 1, 2, 3], 4, false));
    let full = build(&[0, 1, 2], &[("COREMESH_CORES", "2,0,1")]);
    assert_eq!(cpus(&full), (vec![2, 0, 1], 1, true));
}

#[test]
fn control_without_workers_takes_the_rest() {
    let config = build(&eight(), &[("COREMESH_CONTROL_CORE", "0")]);
    assert_eq!(cpus(&config), ((1..8).collect(), 0, false));
    let small = builder(&[0, 1], &[]).control_core(0).build();
    assert_eq!(small.as_ref().map(cpus), Ok((vec![0, 1], 0, true)));
    let both = [("COREMESH_CORES", "0-3"), ("COREMESH_CONTROL_CORE", "3")];
    assert_eq!(cpus(&build(&eight(), &both)), (vec![0, 1, 2, 3], 3, true));
}

#[test]
fn this_machine_builds_with_its_own_cpus() {
    let allowed = cpu_set::allowed_cpus().expect("sched_getaffinity works here");
    assert!(!allowed.is_empty());
    assert!(allowed.windows(2).all(|w| w[0] < w[1]), "{allowed:?}");
    let config =
        Config::builder().env_source(|_| None).dev_mode(true).build().expect("defaults fit any machine");
    assert!(config.worker_cpus().iter().all(|cpu| allowed.contains(cpu)));
    assert!(allowed.contains(&config.control_cpu()));
    assert_eq!(config.control_shares_worker_cpu(), allowed.len() < 3);
    assert!(format!("{config:?} {:?}", Config::builder()).contains("process environment"));
}

// ---- No panics on weird input ----

#[test]
fn weird_strings_never_panic() {
    // Separated by '|', which none of them contains.
    let fixed = "| |,|-|--|,,|0-|-0|0--1|0-1-|\0|0\0|１|٣|🦀|0-🦀|\u{feff}0|0,\n1|0 - - 1|  ,  |\
                 18446744073709551616|-18446744073709551615|0-65535,0|65535-0|4294967296";
    let mut weird: Vec<String> = fixed.split('|').map(str::to_owned).collect();
    // A seeded xorshift over the list grammar's characters and a few others.
    let alphabet: Vec<char> = "0123456789-, \t9x+😀".chars().collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..5000 {
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let len = (next() % 14) as usize;
        let s: String = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        weird.push(s);
    }
    for s in &weird {
        if let Ok(cpus) = cpu_set::parse_cpu_list(s) {
            assert!(!cpus.is_empty() && cpus.iter().all(|&c| c <= CPU_NUMBER_MAX), "{s:?}");
            let mut sorted = cpus.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), cpus.len(), "{s:?}");
        }
        for var in ["COREMESH_CORES", "COREMESH_CONTROL_CORE", "COREMESH_RING_BYTES"] {
            // Ok or a refusal whose message names the variable; never a panic.
            if let Err(err) = builder(&eight(), &[(var, s)]).build() {
                assert!(err.to_string().starts_with(var), "{var}={s:?}: {err}");
            }
        }
    }
}

// ---- Bounds on unauthenticated connections (`limits.rs`) ----

#[test]
fn handshake_bounds_default_read_the_env_and_are_refused_out_of_range() {
    let config = build(&eight(), &[]);
    let got = (config.handshake_timeout_ms(), config.handshakes_max(), config.handshakes_per_source_max());
    assert_eq!(got, (3000, 256, 32));
    let vars = [
        ("COREMESH_HANDSHAKE_TIMEOUT_MS", "250"),
        ("COREMESH_HANDSHAKES_MAX", "8"),
        ("COREMESH_HANDSHAKES_PER_SOURCE_MAX", "2"),
    ];
    let config = build(&eight(), &vars);
    let got = (config.handshake_timeout_ms(), config.handshakes_max(), config.handshakes_per_source_max());
    assert_eq!(got, (250, 8, 2));
    // The builder wins over the variable.
    let config = builder(&eight(), &vars).handshake_timeout_ms(40).handshakes_max(3).build().unwrap();
    assert_eq!((config.handshake_timeout_ms(), config.handshakes_max()), (40, 3));
    let text = |vars: &[(&str, &str)]| refused(&eight(), vars).to_string();
    assert_eq!(
        text(&[("COREMESH_HANDSHAKE_TIMEOUT_MS", "9")]),
        "COREMESH_HANDSHAKE_TIMEOUT_MS=9: must be between 10 and 600000"
    );
    assert_eq!(
        text(&[("COREMESH_HANDSHAKES_MAX", "0")]),
        "COREMESH_HANDSHAKES_MAX=0: must be between 1 and 1048576"
    );
    assert_eq!(
        text(&[("COREMESH_HANDSHAKES_PER_SOURCE_MAX", "lots")]),
        "COREMESH_HANDSHAKES_PER_SOURCE_MAX=lots: \"lots\" is not a whole number"
    );
    let b = || builder(&eight(), &[]);
    says(b().handshake_timeout_ms(600_001), "handshake_timeout_ms=600001: must be between 10 and 600000");
    says(b().handshakes_per_source_max(0), "handshakes_per_source_max=0: must be between 1 and 1048576");
    let debug = format!("{:?}", build(&eight(), &[]));
    assert!(debug.contains("handshake_timeout_ms: 3000") && debug.contains("handshakes_max: 256"), "{debug}");
}
