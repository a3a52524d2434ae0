//! Tests of the security settings: the cookie's strength outside a development
//! node (and the text that says how to set one), the development flag, and the
//! TLS files (all three or none, each error naming the variable and the path).
//! None reads the real environment; certificates are made here with rcgen.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Config, ConfigBuilder, ConfigError};

/// A builder over four allowed CPUs and an injected environment, not a
/// development node unless `vars` says so.
fn builder(vars: &[(&str, &str)]) -> ConfigBuilder {
    let map: HashMap<String, String> = vars.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
    Config::builder().allowed_cpus([0, 1, 2, 3]).env_source(move |var| map.get(var).cloned())
}

fn message(b: ConfigBuilder) -> String {
    b.build().expect_err("config should be refused").to_string()
}

const STRONG: &str = "sixteen-bytes-ok";
const HOW: &str = "set it to at least 16 random bytes, e.g. \
                   `export COREMESH_COOKIE=$(head -c 24 /dev/urandom | base64)`, the same on every node, \
                   or set COREMESH_DEV=1 (ConfigBuilder::dev_mode(true)) for a development cluster";

#[test]
fn a_short_cookie_is_refused_saying_how_to_set_one() {
    let text = message(builder(&[("COREMESH_COOKIE", "hello")]));
    assert_eq!(text, format!("COREMESH_COOKIE is 5 bytes; {HOW}"));
    assert!(!text.contains("hello"), "the cookie never shows: {text}");
    let err = builder(&[]).cookie("fifteen-bytes!!").build().unwrap_err();
    assert_eq!(
        err,
        ConfigError::WeakCookie { var: "ConfigBuilder::cookie".into(), len: 15, is_default: false }
    );
    assert!(err.to_string().starts_with("ConfigBuilder::cookie is 15 bytes; set it"), "{err}");
}

#[test]
fn no_cookie_or_the_default_one_is_refused() {
    let text = message(builder(&[]));
    assert_eq!(text, format!("COREMESH_COOKIE is not set (the built-in default cookie is public); {HOW}"));
    let default = std::str::from_utf8(Config::DEFAULT_COOKIE).unwrap();
    let text = message(builder(&[("COREMESH_COOKIE", default)]));
    assert!(
        text.starts_with("COREMESH_COOKIE is the built-in default cookie, which is public; set it"),
        "{text}"
    );
    let text = message(builder(&[]).cookie(Config::DEFAULT_COOKIE));
    assert!(text.starts_with("ConfigBuilder::cookie is the built-in default cookie"), "{text}");
}

#[test]
fn sixteen_bytes_are_enough() {
    let config = builder(&[("COREMESH_COOKIE", STRONG)]).build().expect("16 bytes");
    assert_eq!(config.cookie(), STRONG.as_bytes());
    assert!(!config.dev_mode() && !config.cookie_is_default() && !config.tls_enabled());
}

#[test]
fn the_development_flag_allows_a_weak_cookie() {
    let config = builder(&[("COREMESH_DEV", "1")]).build().expect("dev: the default cookie");
    assert!(config.dev_mode() && config.cookie_is_default());
    let config = builder(&[("COREMESH_DEV", "1"), ("COREMESH_COOKIE", "hello")]).build().expect("dev: short");
    assert_eq!(config.cookie(), b"hello");
    let config = builder(&[]).dev_mode(true).cookie("x").build().expect("dev by the builder");
    assert!(config.dev_mode());
    // The builder wins over the variable, both ways.
    assert!(message(builder(&[("COREMESH_DEV", "1")]).dev_mode(false)).contains("is not set"));
    assert!(format!("{config:?}").contains("dev_mode: true"));
    // `0` is off; anything else is refused, naming the variable.
    assert!(message(builder(&[("COREMESH_DEV", "0")])).contains("COREMESH_COOKIE is not set"));
    let err = builder(&[("COREMESH_DEV", "maybe")]).build().unwrap_err();
    assert!(matches!(&err, ConfigError::Malformed { var, .. } if var == "COREMESH_DEV"), "{err}");
    assert_eq!(
        builder(&[("COREMESH_DEV", " ")]).build().unwrap_err(),
        ConfigError::Empty { var: "COREMESH_DEV".into() }
    );
}

/// A CA and a node certificate for `cluster` signed by it, written as PEM files
/// in a fresh directory: (cert, key, ca).
fn pem_files(tag: &str, cluster: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("coremesh-config-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![cluster.to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let paths = (dir.join("node.pem"), dir.join("node.key"), dir.join("ca.pem"));
    std::fs::write(&paths.0, cert.pem()).unwrap();
    std::fs::write(&paths.1, key.serialize_pem()).unwrap();
    std::fs::write(&paths.2, ca.pem()).unwrap();
    paths
}

fn tls_vars<'a>(cert: &'a str, key: &'a str, ca: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("COREMESH_COOKIE", STRONG),
        ("COREMESH_TLS_CERT", cert),
        ("COREMESH_TLS_KEY", key),
        ("COREMESH_TLS_CA", ca),
    ]
}

#[test]
fn all_three_files_turn_tls_on_and_debug_shows_only_paths() {
    let (cert, key, ca) = pem_files("on", "coremesh");
    let (c, k, a) = (cert.to_str().unwrap(), key.to_str().unwrap(), ca.to_str().unwrap());
    let config = builder(&tls_vars(c, k, a)).build().expect("TLS on");
    assert!(config.tls_enabled());
    let shown = format!("{config:?}");
    assert!(shown.contains(k) && !shown.contains("PRIVATE KEY"), "{shown}");
    // The same by the builder.
    let config =
        builder(&[("COREMESH_COOKIE", STRONG)]).tls_cert_file(&cert).tls_key_file(&key).tls_ca_file(&ca);
    assert!(config.build().expect("TLS on by the builder").tls_enabled());
}

#[test]
fn some_but_not_all_files_name_the_missing_one() {
    let (cert, _, ca) = pem_files("some", "coremesh");
    let vars = [
        ("COREMESH_COOKIE", STRONG),
        ("COREMESH_TLS_CERT", cert.to_str().unwrap()),
        ("COREMESH_TLS_CA", ca.to_str().unwrap()),
    ];
    let err = builder(&vars).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "COREMESH_TLS_KEY is not set, but COREMESH_TLS_CERT and COREMESH_TLS_CA are: TLS needs COREMESH_TLS_CERT, \
         COREMESH_TLS_KEY and COREMESH_TLS_CA (or their builder methods) all set, or none of them for no TLS"
    );
    let err = builder(&[("COREMESH_COOKIE", STRONG)]).tls_ca_file(&ca).build().unwrap_err();
    assert!(
        err.to_string().starts_with("COREMESH_TLS_CERT is not set, but ConfigBuilder::tls_ca_file is:"),
        "{err}"
    );
}

#[test]
fn an_unreadable_or_bad_file_names_the_variable_and_the_path() {
    let (cert, key, ca) = pem_files("bad", "coremesh");
    let (c, k, a) = (cert.to_str().unwrap(), key.to_str().unwrap(), ca.to_str().unwrap());
    let text = message(builder(&tls_vars(c, k, "/nonexistent/ca.pem")));
    assert!(text.starts_with("COREMESH_TLS_CA=/nonexistent/ca.pem: cannot be read:"), "{text}");
    // A key where the certificate should be: no certificate in it.
    let text = message(builder(&tls_vars(k, k, a)));
    assert!(text.starts_with(&format!("COREMESH_TLS_CERT={k}: holds no PEM certificate")), "{text}");
    // A certificate where the key should be.
    let text = message(builder(&tls_vars(c, c, a)));
    assert!(text.starts_with(&format!("COREMESH_TLS_KEY={c}: holds no usable PEM private key")), "{text}");
    // Another node's key: it does not match the certificate.
    let (_, other_key, _) = pem_files("bad-other", "coremesh");
    let text = message(builder(&tls_vars(c, other_key.to_str().unwrap(), a)));
    assert!(text.contains("COREMESH_TLS_KEY=") && text.contains("does not match the certificate"), "{text}");
    // With TLS on, the cluster's name must be a DNS name (certificates carry it).
    let mut vars = tls_vars(c, k, a);
    vars.push(("COREMESH_CLUSTER", "-bad"));
    let text = message(builder(&vars));
    assert!(text.starts_with("COREMESH_CLUSTER=-bad: with TLS on"), "{text}");
}
