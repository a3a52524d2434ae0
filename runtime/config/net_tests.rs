//! Tests of the network settings: defaults, the environment, precedence, every refusal,
//! and the cookie never showing in a `Debug` output or an error. None reads the real
//! environment; the CPU set is injected.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;

use super::net::{self, decode_secret, parse_env_seeds, parse_socket_addr};
use super::{Config, ConfigBuilder, ConfigError};

const COOKIE: &str = "s3cret-Cookie-Value";

/// A builder over four allowed CPUs and an injected environment.
fn builder(vars: &[(&str, &str)]) -> ConfigBuilder {
    let map: HashMap<String, String> = vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    // A development node: these tests are about the cookie's grammar, not its
    // strength (`tls_tests.rs`).
    Config::builder().allowed_cpus([0, 1, 2, 3]).env_source(move |var| map.get(var).cloned()).dev_mode(true)
}

fn build(vars: &[(&str, &str)]) -> Config {
    builder(vars).build().expect("config should build")
}

fn refused(vars: &[(&str, &str)]) -> ConfigError {
    builder(vars).build().expect_err("config should be refused")
}

fn message(vars: &[(&str, &str)]) -> String {
    refused(vars).to_string()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("a socket address")
}

fn malformed(var: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Malformed { var: var.into(), value: value.into(), reason: reason.into() }
}

// ---- Defaults, environment, precedence ----

#[test]
fn defaults() {
    let config = build(&[]);
    assert_eq!(config.listen(), addr("127.0.0.1:0"));
    assert_eq!(config.cluster(), "coremesh");
    assert_eq!(config.cookie(), b"coremesh-insecure-default-cookie");
    assert_eq!(config.cookie(), Config::DEFAULT_COOKIE);
    assert!(config.cookie_is_default());
    assert_eq!(config.max_frame_bytes(), 4_194_304);
    assert_eq!(config.heartbeat_interval_ms(), 500);
    assert_eq!(config.connection_timeout_ms(), 3000);
    assert!(config.seeds().is_empty());
}

const ENV: &[(&str, &str)] = &[
    ("COREMESH_LISTEN", " 0.0.0.0:7000 "),
    ("COREMESH_CLUSTER", " prod-eu.1_a\n"),
    ("COREMESH_COOKIE", COOKIE),
    ("COREMESH_MAX_FRAME", "8192"),
    ("COREMESH_HEARTBEAT_MS", "100"),
    ("COREMESH_CONNECTION_TIMEOUT_MS", "101"),
    ("COREMESH_SEEDS", " 10.0.0.1:7000 ,[::1]:7001,\t10.0.0.2:7000"),
];

#[test]
fn every_setting_from_the_environment() {
    let config = build(ENV);
    assert_eq!(config.listen(), addr("0.0.0.0:7000"));
    assert_eq!(config.cluster(), "prod-eu.1_a");
    assert_eq!(config.cookie(), COOKIE.as_bytes());
    assert!(!config.cookie_is_default());
    assert_eq!(config.max_frame_bytes(), 8192);
    assert_eq!(config.heartbeat_interval_ms(), 100);
    assert_eq!(config.connection_timeout_ms(), 101);
    assert_eq!(config.seeds(), &[addr("10.0.0.1:7000"), addr("[::1]:7001"), addr("10.0.0.2:7000")]);
    assert_eq!(build(&[("COREMESH_LISTEN", "[::]:0")]).listen(), addr("[::]:0"));
}

#[test]
fn builder_wins_over_the_environment() {
    let config = builder(ENV)
        .listen(addr("[::1]:9000"))
        .cluster("other")
        .cookie(vec![0u8, 255, 1])
        .max_frame_bytes(1 << 30)
        .heartbeat_interval_ms(10)
        .connection_timeout_ms(600_000)
        .seeds([addr("192.168.1.1:1")])
        .build()
        .expect("builder values are valid");
    assert_eq!(config.listen(), addr("[::1]:9000"));
    assert_eq!(config.cluster(), "other");
    assert_eq!(config.cookie(), &[0, 255, 1]);
    assert_eq!(config.max_frame_bytes(), 1 << 30);
    assert!(u32::try_from(config.max_frame_bytes()).is_ok());
    assert_eq!(config.heartbeat_interval_ms(), 10);
    assert_eq!(config.connection_timeout_ms(), 600_000);
    assert_eq!(config.seeds(), &[addr("192.168.1.1:1")]);
    // An empty builder list overrides the variable too.
    assert!(builder(ENV).seeds([]).build().expect("valid").seeds().is_empty());
}

#[test]
fn a_bad_variable_overridden_by_the_builder_is_not_read() {
    let bad = [
        ("COREMESH_LISTEN", "localhost:1"),
        ("COREMESH_CLUSTER", "a b"),
        ("COREMESH_COOKIE", ""),
        ("COREMESH_MAX_FRAME", "1"),
        ("COREMESH_HEARTBEAT_MS", "x"),
        ("COREMESH_CONNECTION_TIMEOUT_MS", "0"),
        ("COREMESH_SEEDS", "1.2.3.4:5,1.2.3.4:5"),
    ];
    let config = builder(&bad)
        .listen(addr("127.0.0.1:1"))
        .cluster("c")
        .cookie("k")
        .max_frame_bytes(4096)
        .heartbeat_interval_ms(10)
        .connection_timeout_ms(20)
        .seeds([])
        .build()
        .expect("overridden variables are not read");
    assert_eq!((config.cluster(), config.cookie()), ("c", &b"k"[..]));
}

#[test]
fn the_default_cookie_is_default_however_it_is_given() {
    let default = std::str::from_utf8(Config::DEFAULT_COOKIE).expect("ASCII");
    assert!(build(&[("COREMESH_COOKIE", default)]).cookie_is_default());
    assert!(builder(&[]).cookie(Config::DEFAULT_COOKIE).build().expect("valid").cookie_is_default());
    assert!(!builder(&[]).cookie("x").build().expect("valid").cookie_is_default());
    // Taken byte for byte: whitespace around a cookie is part of it.
    assert_eq!(build(&[("COREMESH_COOKIE", " k ")]).cookie(), b" k ");
}

// ---- Refusals ----

#[test]
fn empty_values_are_errors_except_seeds() {
    let vars = [
        "COREMESH_LISTEN",
        "COREMESH_CLUSTER",
        "COREMESH_COOKIE",
        "COREMESH_MAX_FRAME",
        "COREMESH_HEARTBEAT_MS",
        "COREMESH_CONNECTION_TIMEOUT_MS",
    ];
    for var in vars {
        for value in ["", "  \t"] {
            assert_eq!(refused(&[(var, value)]), ConfigError::Empty { var: var.into() }, "{var}={value:?}");
        }
    }
    for value in ["", " \t\n"] {
        assert!(build(&[("COREMESH_SEEDS", value)]).seeds().is_empty(), "{value:?}");
    }
    let empty = |b: ConfigBuilder, var: &str| {
        assert_eq!(b.build().map(|_| ()), Err(ConfigError::Empty { var: var.into() }));
    };
    empty(builder(&[]).cluster(""), "ConfigBuilder::cluster");
    empty(builder(&[]).cookie(""), "ConfigBuilder::cookie");
    empty(builder(&[]).cookie(" \n"), "ConfigBuilder::cookie");
}

#[test]
fn listen_must_be_an_ip_address_and_port() {
    let var = "COREMESH_LISTEN";
    assert_eq!(
        message(&[(var, "localhost:7000")]),
        "COREMESH_LISTEN=localhost:7000: \"localhost:7000\" is not an IP address and port \
         (such as 10.0.0.1:7000 or [::1]:7000; host names are not resolved)"
    );
    assert_eq!(
        refused(&[(var, " 10.0.0.1 ")]),
        malformed(var, " 10.0.0.1 ", "\"10.0.0.1\" is not an IP address and port (the port is missing)")
    );
    // `::1:7000` is itself an IPv6 address; `fe80::1:zz` is not, but its head is.
    assert_eq!(
        message(&[(var, "::1:7000")]),
        "COREMESH_LISTEN=::1:7000: \"::1:7000\" is not an IP address and port \
         (the port is missing; write IPv6 in brackets, such as [::1]:7000)"
    );
    assert_eq!(
        message(&[(var, "2001:db8::1:99999")]),
        "COREMESH_LISTEN=2001:db8::1:99999: \"2001:db8::1:99999\" is not an IP address and port \
         (write IPv6 in brackets, such as [::1]:7000)"
    );
    for value in [
        "example.com:80",
        "10.0.0.1:",
        "10.0.0.1:65536",
        "10.0.0.1:-1",
        "10.0.0.1:7000x",
        "1.2.3:4",
        "256.0.0.1:1",
        "[::1]",
        "[::1]:",
        "::1",
        ":7000",
        "7000",
        "10.0.0.1 :7000",
        "tcp://10.0.0.1:7000",
        "10.0.0.1:7000,10.0.0.2:7000",
    ] {
        let err = message(&[(var, value)]);
        let want = format!("COREMESH_LISTEN={value}: ");
        assert!(err.starts_with(&want) && err.contains("is not an IP address and port"), "{value:?}: {err}");
    }
}

#[test]
fn cluster_names_are_short_and_plain() {
    let var = "COREMESH_CLUSTER";
    let longest = "a".repeat(64);
    assert_eq!(build(&[(var, &longest)]).cluster(), longest);
    let long = "a".repeat(65);
    assert_eq!(refused(&[(var, &long)]), malformed(var, &long, "65 bytes, at most 64"));
    let allowed = "use A-Z, a-z, 0-9, '.', '_' and '-'";
    assert_eq!(
        message(&[(var, "a b")]),
        format!("COREMESH_CLUSTER=a b: ' ' at byte 1 is not allowed; {allowed}")
    );
    assert_eq!(
        refused(&[(var, "ok/no")]),
        malformed(var, "ok/no", &format!("'/' at byte 2 is not allowed; {allowed}"))
    );
    assert_eq!(
        message(&[(var, "café")]),
        format!("COREMESH_CLUSTER=café: 'é' at byte 3 is not allowed; {allowed}")
    );
    // Multibyte characters count in bytes: 33 two-byte characters are 66 bytes.
    let wide = "é".repeat(33);
    assert_eq!(refused(&[(var, &wide)]), malformed(var, &wide, "66 bytes, at most 64"));
    let says = |name: &str, want: &str| {
        let got = builder(&[]).cluster(name).build().map_err(|e| e.to_string());
        assert_eq!(got, Err(format!("ConfigBuilder::cluster={name}: {want}")));
    };
    says(" a", &format!("' ' at byte 0 is not allowed; {allowed}"));
    says(&long, "65 bytes, at most 64");
}

#[test]
fn cookies_are_bounded_and_never_shown() {
    let long = "c".repeat(2000);
    assert_eq!(message(&[("COREMESH_COOKIE", &long)]), "COREMESH_COOKIE: 2000 bytes, at most 1024");
    assert_eq!(
        refused(&[("COREMESH_COOKIE", &long)]),
        ConfigError::CookieTooLong { var: "COREMESH_COOKIE".into(), len: 2000, max: 1024 }
    );
    let got = builder(&[]).cookie(vec![b'c'; 1025]).build().map_err(|e| e.to_string());
    assert_eq!(got, Err("ConfigBuilder::cookie: 1025 bytes, at most 1024".to_owned()));
    let edge = "k".repeat(1024);
    assert_eq!(build(&[("COREMESH_COOKIE", &edge)]).cookie(), edge.as_bytes());
    assert_eq!(builder(&[]).cookie(vec![7u8; 1]).build().map(|c| c.cookie().to_vec()), Ok(vec![7]));
}

#[test]
fn a_non_utf8_cookie_is_refused_without_showing_it() {
    let raw = OsString::from_vec(b"sec\xffret".to_vec());
    let err = decode_secret("COREMESH_COOKIE", Some(raw)).expect_err("not UTF-8");
    assert_eq!(err, malformed("COREMESH_COOKIE", "<redacted>", "not valid UTF-8"));
    assert!(!format!("{err} {err:?}").contains("sec"), "{err:?}");
    assert_eq!(decode_secret("COREMESH_COOKIE", None), Ok(None));
    assert_eq!(decode_secret("COREMESH_COOKIE", Some(OsString::from("k"))), Ok(Some("k".into())));
}

#[test]
fn the_cookie_is_never_in_debug_output_or_errors() {
    let config = build(&[("COREMESH_COOKIE", COOKIE)]);
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains(COOKIE), "{debug}");
    assert!(debug.contains("cookie: \"<redacted>\""), "{debug}");
    assert!(debug.contains("cookie_is_default: false"), "{debug}");
    assert!(debug.contains("listen: 127.0.0.1:0") && debug.contains("cluster: \"coremesh\""), "{debug}");
    let default_debug = format!("{:?}", build(&[]));
    assert!(!default_debug.contains("coremesh-insecure-default-cookie"), "{default_debug}");
    let given = builder(&[]).cookie(COOKIE);
    let builder_debug = format!("{given:?}");
    assert!(!builder_debug.contains(COOKIE), "{builder_debug}");
    assert!(builder_debug.contains("cookie: Some(\"<redacted>\")"), "{builder_debug}");
    // Every other setting's refusal, with the cookie set both ways: never in the error.
    let bad = [
        ("COREMESH_LISTEN", "x"),
        ("COREMESH_CLUSTER", "a b"),
        ("COREMESH_MAX_FRAME", "1"),
        ("COREMESH_HEARTBEAT_MS", "5"),
        ("COREMESH_CONNECTION_TIMEOUT_MS", "500"),
        ("COREMESH_SEEDS", "1.2.3.4:0"),
        ("COREMESH_CORES", "99"),
    ];
    for &(var, value) in &bad {
        for err in [
            refused(&[("COREMESH_COOKIE", COOKIE), (var, value)]),
            builder(&[(var, value)]).cookie(COOKIE).build().expect_err("refused"),
        ] {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(COOKIE), "{var}: {shown}");
        }
    }
    let long = format!("{COOKIE}{}", "x".repeat(1024));
    for err in [
        refused(&[("COREMESH_COOKIE", &long)]),
        builder(&[]).cookie(long.clone()).build().expect_err("too long"),
    ] {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(COOKIE), "{shown}");
    }
}

#[test]
fn max_frame_is_bounded() {
    let var = "COREMESH_MAX_FRAME";
    let (min, max) = (4096, 1 << 30);
    for value in ["4095", "1073741825", "0", "99999999999999999999999"] {
        assert_eq!(
            refused(&[(var, value)]),
            ConfigError::OutOfRange { var: var.into(), value: value.into(), min, max },
            "{value}"
        );
    }
    assert_eq!(message(&[(var, "4095")]), "COREMESH_MAX_FRAME=4095: must be between 4096 and 1073741824");
    assert_eq!(refused(&[(var, "4 MiB")]), malformed(var, "4 MiB", "\"4 MiB\" is not a whole number"));
    assert_eq!(build(&[(var, "4096")]).max_frame_bytes(), 4096);
    assert_eq!(build(&[(var, "1073741824")]).max_frame_bytes(), 1 << 30);
    let got = builder(&[]).max_frame_bytes(usize::MAX).build().map_err(|e| e.to_string());
    let want = format!("ConfigBuilder::max_frame_bytes={}: must be between 4096 and 1073741824", usize::MAX);
    assert_eq!(got, Err(want));
}

#[test]
fn heartbeat_timing_is_bounded() {
    let cases: &[(&str, &str, u64, u64)] = &[
        ("COREMESH_HEARTBEAT_MS", "9", 10, 60_000),
        ("COREMESH_HEARTBEAT_MS", "60001", 10, 60_000),
        ("COREMESH_CONNECTION_TIMEOUT_MS", "19", 20, 600_000),
        ("COREMESH_CONNECTION_TIMEOUT_MS", "600001", 20, 600_000),
    ];
    for &(var, value, min, max) in cases {
        assert_eq!(
            refused(&[(var, value)]),
            ConfigError::OutOfRange { var: var.into(), value: value.into(), min, max },
            "{var}={value}"
        );
    }
    assert_eq!(
        message(&[("COREMESH_HEARTBEAT_MS", "1.5")]),
        "COREMESH_HEARTBEAT_MS=1.5: \"1.5\" is not a whole number"
    );
    let got = builder(&[]).heartbeat_interval_ms(0).build().map_err(|e| e.to_string());
    assert_eq!(got, Err("ConfigBuilder::heartbeat_interval_ms=0: must be between 10 and 60000".into()));
    let got = builder(&[]).connection_timeout_ms(600_001).build().map_err(|e| e.to_string());
    assert_eq!(got, Err("ConfigBuilder::connection_timeout_ms=600001: must be between 20 and 600000".into()));
    let edges = [("COREMESH_HEARTBEAT_MS", "60000"), ("COREMESH_CONNECTION_TIMEOUT_MS", "600000")];
    let config = build(&edges);
    assert_eq!((config.heartbeat_interval_ms(), config.connection_timeout_ms()), (60_000, 600_000));
}

#[test]
fn the_timeout_must_be_above_the_interval() {
    let both = [("COREMESH_CONNECTION_TIMEOUT_MS", "500"), ("COREMESH_HEARTBEAT_MS", "500")];
    assert_eq!(
        message(&both),
        "COREMESH_CONNECTION_TIMEOUT_MS=500 must be larger than COREMESH_HEARTBEAT_MS=500"
    );
    assert_eq!(
        refused(&both),
        ConfigError::TimeoutNotAboveInterval {
            timeout_var: "COREMESH_CONNECTION_TIMEOUT_MS".into(),
            timeout_ms: 500,
            interval_var: "COREMESH_HEARTBEAT_MS".into(),
            interval_ms: 500,
        }
    );
    // A default on one side is named by its variable.
    assert_eq!(
        message(&[("COREMESH_HEARTBEAT_MS", "5000")]),
        "COREMESH_CONNECTION_TIMEOUT_MS=3000 must be larger than COREMESH_HEARTBEAT_MS=5000"
    );
    assert_eq!(
        message(&[("COREMESH_CONNECTION_TIMEOUT_MS", "499")]),
        "COREMESH_CONNECTION_TIMEOUT_MS=499 must be larger than COREMESH_HEARTBEAT_MS=500"
    );
    // A builder value is named by its method.
    let got = builder(&[("COREMESH_HEARTBEAT_MS", "100")]).connection_timeout_ms(50).build();
    assert_eq!(
        got.map_err(|e| e.to_string()),
        Err("ConfigBuilder::connection_timeout_ms=50 must be larger than COREMESH_HEARTBEAT_MS=100".into())
    );
    let got = builder(&[]).heartbeat_interval_ms(3000).build().map_err(|e| e.to_string());
    let want =
        "COREMESH_CONNECTION_TIMEOUT_MS=3000 must be larger than ConfigBuilder::heartbeat_interval_ms=3000";
    assert_eq!(got, Err(want.into()));
    let just_above = builder(&[]).heartbeat_interval_ms(2999).build().expect("valid");
    assert_eq!(just_above.heartbeat_interval_ms(), 2999);
}

#[test]
fn seeds_are_addresses_listed_once() {
    let var = "COREMESH_SEEDS";
    assert_eq!(
        message(&[(var, "10.0.0.1:7000, 10.0.0.2:7000,10.0.0.1:7000")]),
        "COREMESH_SEEDS=10.0.0.1:7000, 10.0.0.2:7000,10.0.0.1:7000: seed 10.0.0.1:7000 is listed more than once"
    );
    assert_eq!(
        refused(&[(var, "[::1]:1,[0:0::1]:1")]),
        ConfigError::DuplicateSeed {
            var: var.into(),
            value: "[::1]:1,[0:0::1]:1".into(),
            seed: addr("[::1]:1")
        }
    );
    let cases: &[(&str, &str)] = &[
        ("10.0.0.1:7000,", "item 2 is empty"),
        (",10.0.0.1:7000", "item 1 is empty"),
        ("10.0.0.1:1,,10.0.0.2:1", "item 2 is empty"),
        (
            "10.0.0.1:1,db:7000",
            "item 2: \"db:7000\" is not an IP address and port \
             (such as 10.0.0.1:7000 or [::1]:7000; host names are not resolved)",
        ),
        ("10.0.0.1", "item 1: \"10.0.0.1\" is not an IP address and port (the port is missing)"),
        (
            "10.0.0.1:1;10.0.0.2:1",
            "item 1: \"10.0.0.1:1;10.0.0.2:1\" is not an IP address and port \
              (such as 10.0.0.1:7000 or [::1]:7000; host names are not resolved)",
        ),
        ("10.0.0.1:1, 10.0.0.2:0", "item 2: 10.0.0.2:0 has port 0, which cannot be dialled"),
    ];
    for &(value, reason) in cases {
        assert_eq!(refused(&[(var, value)]), malformed(var, value, reason), "{value:?}");
    }
    let says = |seeds: &[&str], want: &str| {
        let got = builder(&[]).seeds(seeds.iter().map(|s| addr(s))).build().map_err(|e| e.to_string());
        assert_eq!(got, Err(format!("ConfigBuilder::seeds={}: {want}", seeds.join(","))));
    };
    says(&["10.0.0.1:1", "[::1]:2", "10.0.0.1:1"], "seed 10.0.0.1:1 is listed more than once");
    says(&["[::1]:0"], "item 1: [::1]:0 has port 0, which cannot be dialled");
    assert_eq!(parse_env_seeds(" 1.2.3.4:5 "), Ok(vec![addr("1.2.3.4:5")]));
}

// ---- No panics on weird input ----

#[test]
fn weird_strings_never_panic() {
    // Separated by '|', which none of them contains.
    let fixed = "| |,|:|::|[|]|[]:1|[::]|[::1]:|[::1]:65536|0.0.0.0:0|\0|１.2.3.4:5|🦀:1|\u{feff}1.2.3.4:5|\
                 1.2.3.4:5,,|,|  ,  |[fe80::1%eth0]:1|[::ffff:1.2.3.4]:5|999999999999999999999|\
                 1.2.3.4:99999999999999999999|-1|a.b.c.d:1|.|..|_-.|é";
    let mut weird: Vec<String> = fixed.split('|').map(str::to_owned).collect();
    weird.push("a".repeat(100_000));
    weird.push("1.2.3.4:5,".repeat(10_000));
    // A seeded xorshift over the address and list grammars' characters and a few others.
    let alphabet: Vec<char> = "0123456789.:[]abf,, \t-_%😀é".chars().collect();
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..5000 {
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let len = (next() % 24) as usize;
        weird.push((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect());
    }
    let vars = [
        "COREMESH_LISTEN",
        "COREMESH_SEEDS",
        "COREMESH_CLUSTER",
        "COREMESH_COOKIE",
        "COREMESH_MAX_FRAME",
        "COREMESH_HEARTBEAT_MS",
        "COREMESH_CONNECTION_TIMEOUT_MS",
    ];
    for s in &weird {
        if let Ok(a) = parse_socket_addr(s) {
            assert_eq!(parse_socket_addr(&a.to_string()), Ok(a), "{s:?}");
        }
        if let Ok(seeds) = parse_env_seeds(s) {
            assert!(seeds.iter().all(|seed| seed.port() != 0), "{s:?}");
        }
        if let Ok(name) = net::check_cluster("v", s, s) {
            assert!(!name.is_empty() && name.len() <= 64, "{s:?}");
        }
        if let Ok(cookie) = net::check_cookie("v", s.clone().into_bytes()) {
            assert!(!cookie.is_empty() && cookie.len() <= 1024, "{s:?}");
        }
        for var in vars {
            // Ok or a refusal whose message names the variable; never a panic.
            match builder(&[(var, s)]).build() {
                Ok(config) => assert!(config.connection_timeout_ms() > config.heartbeat_interval_ms()),
                Err(err) => {
                    let shown = err.to_string();
                    let named = shown.starts_with(var) || shown.contains(&format!(" {var}="));
                    assert!(named, "{var}={s:?}: {err}");
                    if var == "COREMESH_COOKIE" && s.len() > 3 {
                        assert!(!shown.contains(s.as_str()), "{var}={s:?}: {err}");
                    }
                }
            }
        }
    }
}
