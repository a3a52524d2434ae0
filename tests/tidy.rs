//! House rules as a test (after TigerBeetle's tidy): walks the workspace's source trees and
//! fails, naming `file:line` and the fix, on an oversized file, an `unsafe` block or impl
//! without a `// SAFETY:` comment above it, `Instant::now` outside the clock module,
//! atomics in `runtime/` outside `runtime/sync/`, `dbg!`, and a runtime or wire module
//! that does not open with a `//!` doc.
//!
//! Must never: pass silently. The checks work on source text with comments and string
//! literals blanked out, so mentions in docs do not trigger them; the `self_test` module
//! proves every rule fires on a small snippet.

use std::fs;
use std::path::{Path, PathBuf};

/// The source trees checked, relative to the workspace root.
const ROOTS: &[&str] = &["runtime", "wire/src", "wire/tests", "bench", "tests", "examples"];

/// This file: it necessarily spells out every pattern it looks for.
const SELF: &str = "tests/tidy.rs";

const MAX_LINES: usize = 600;

/// The std atomic types; any of them in `runtime/` outside `runtime/sync/` is a violation.
const ATOMIC_TYPES: &[&str] = &[
    "AtomicBool",
    "AtomicI8",
    "AtomicI16",
    "AtomicI32",
    "AtomicI64",
    "AtomicIsize",
    "AtomicPtr",
    "AtomicU8",
    "AtomicU16",
    "AtomicU32",
    "AtomicU64",
    "AtomicUsize",
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: [{}] {}", self.file, self.line, self.rule, self.message)
    }
}

/// One source line split into its code (string literal contents blanked) and the text of
/// any comment on it.
#[derive(Debug, Default, Clone)]
struct Line {
    code: String,
    comment: String,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.code.trim().is_empty() && self.comment.trim().is_empty()
    }

    fn is_comment_only(&self) -> bool {
        self.code.trim().is_empty() && !self.comment.trim().is_empty()
    }

    fn is_attribute(&self) -> bool {
        let code = self.code.trim_start();
        code.starts_with("#[") || code.starts_with("#![")
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `text` into lines of code and comment, blanking the contents of string and
/// char literals. Handles nested block comments, raw strings and lifetimes.
fn lex(text: &str) -> Vec<Line> {
    let chars: Vec<char> = text.chars().collect();
    let mut lines = vec![Line::default()];
    let mut i = 0;
    let n = chars.len();
    // Appends one char to the current line's code or comment; a newline starts a line.
    fn put(lines: &mut Vec<Line>, c: char, comment: bool) {
        if c == '\n' {
            lines.push(Line::default());
        } else if comment {
            lines.last_mut().expect("never empty").comment.push(c);
        } else {
            lines.last_mut().expect("never empty").code.push(c);
        }
    }
    // Blanks a literal's content, keeping line breaks.
    fn blank(lines: &mut Vec<Line>, c: char) {
        put(lines, if c == '\n' { '\n' } else { ' ' }, false);
    }
    while i < n {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < n && chars[i] != '\n' {
                put(&mut lines, chars[i], true);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < n {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    put(&mut lines, '/', true);
                    put(&mut lines, '*', true);
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    put(&mut lines, '*', true);
                    put(&mut lines, '/', true);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    put(&mut lines, chars[i], true);
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&chars, i, prev_ident) {
            while i < end {
                blank(&mut lines, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            put(&mut lines, '"', false);
            i += 1;
            while i < n && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < n {
                    blank(&mut lines, chars[i]);
                    i += 1;
                }
                blank(&mut lines, chars[i]);
                i += 1;
            }
            if i < n {
                put(&mut lines, '"', false);
                i += 1;
            }
        } else if c == '\'' && next == Some('\\') {
            // An escaped char literal: '\n', '\'', '\u{..}'.
            put(&mut lines, '\'', false);
            i += 3;
            while i < n && chars[i] != '\'' && chars[i] != '\n' {
                i += 1;
            }
            put(&mut lines, ' ', false);
            put(&mut lines, '\'', false);
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            put(&mut lines, '\'', false);
            put(&mut lines, ' ', false);
            put(&mut lines, '\'', false);
            i += 3;
        } else {
            // Code, including a lifetime or label's quote.
            put(&mut lines, c, false);
            i += 1;
        }
    }
    if text.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// If a raw (byte/C) string literal starts at `i`, the index just past its end.
fn raw_string_end(chars: &[char], i: usize, prev_ident: bool) -> Option<usize> {
    if prev_ident {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('b') | Some('c')) {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}

/// Byte offsets in `code` where `word` occurs with no identifier char right before it
/// (and, if `whole`, none right after it).
fn find_word(code: &str, word: &str, whole: bool) -> Vec<usize> {
    code.match_indices(word)
        .filter(|(at, _)| {
            let before = code[..*at].chars().next_back();
            let after = code[at + word.len()..].chars().next();
            let ident_before = before.is_some_and(is_ident);
            let ident_after = whole && after.is_some_and(is_ident);
            !ident_before && !ident_after
        })
        .map(|(at, _)| at)
        .collect()
}

/// What follows `unsafe` at `line`/`col`: the first code token, possibly on a later line.
fn token_after(lines: &[Line], line: usize, col: usize) -> String {
    let mut rest = lines[line].code[col..].trim_start().to_owned();
    let mut l = line + 1;
    while rest.is_empty() && l < lines.len() {
        rest = lines[l].code.trim_start().to_owned();
        l += 1;
    }
    rest
}

/// Whether the `unsafe` at `line` has a `SAFETY:` comment above it: in the comment block
/// directly above (attributes may sit between), or on an earlier line of the same
/// statement (a `let x =` line ending without `;`, `{` or `}`), or in the comment block
/// above that statement.
fn has_safety_comment(lines: &[Line], line: usize) -> bool {
    let mut l = line;
    while l > 0 {
        l -= 1;
        let above = &lines[l];
        if above.comment.contains("SAFETY:") {
            return true;
        }
        if above.is_blank() {
            return false;
        }
        if above.is_comment_only() || above.is_attribute() {
            continue;
        }
        let code = above.code.trim_end();
        if code.ends_with(';') || code.ends_with('{') || code.ends_with('}') {
            return false;
        }
    }
    false
}

/// Every violation of the house rules in one file. `rel` is the path relative to the
/// workspace root with `/` separators; it decides which rules apply.
fn check_file(rel: &str, text: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut push = |line: usize, rule: &'static str, message: String| {
        out.push(Violation { file: rel.to_owned(), line, rule, message });
    };

    let count = text.lines().count();
    if count > MAX_LINES {
        push(
            count,
            "file-length",
            format!(
                "{count} lines, over the limit of {MAX_LINES}: split it by responsibility; \
                 tests go in a sibling file"
            ),
        );
    }

    let in_runtime = rel.starts_with("runtime/");
    if in_runtime || rel.starts_with("wire/src/") {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.trim_start().starts_with("//!") {
            let line = text.lines().position(|l| !l.trim().is_empty()).map_or(1, |p| p + 1);
            push(
                line,
                "module-doc",
                "the file does not open with a `//!` module doc: open the module with //! saying \
                 what it owns and what it must never do"
                    .to_owned(),
            );
        }
    }

    if rel == SELF {
        return out;
    }

    let instant_allowed = rel == "runtime/clock.rs"
        || rel.starts_with("tests/")
        || rel.starts_with("bench/")
        || rel.starts_with("examples/");
    let atomics_banned = in_runtime && !rel.starts_with("runtime/sync/");

    let lines = lex(text);
    for (idx, line) in lines.iter().enumerate() {
        let code = &line.code;
        let no = idx + 1;

        for at in find_word(code, "unsafe", true) {
            let after = token_after(&lines, idx, at + "unsafe".len());
            let what = if after.starts_with('{') {
                "block"
            } else if find_word(&after, "impl", true).first() == Some(&0) {
                "impl"
            } else {
                continue;
            };
            if !has_safety_comment(&lines, idx) {
                push(
                    no,
                    "unsafe-safety",
                    format!(
                        "`unsafe` {what} without a `// SAFETY:` comment directly above it: add \
                         `// SAFETY:` explaining which invariants make it sound"
                    ),
                );
            }
        }

        if !instant_allowed && !find_word(code, "Instant::now", true).is_empty() {
            push(
                no,
                "instant-now",
                "`Instant::now` outside runtime/clock.rs: use crate::clock::now()".to_owned(),
            );
        }

        if atomics_banned {
            let mut found: Vec<&str> = Vec::new();
            if code.contains("sync::atomic") {
                found.push("sync::atomic");
            }
            for ty in ATOMIC_TYPES {
                if !find_word(code, ty, true).is_empty() {
                    found.push(ty);
                }
            }
            for f in ["fence", "compiler_fence"] {
                if find_word(code, f, true)
                    .iter()
                    .any(|&at| code[at + f.len()..].trim_start().starts_with('('))
                {
                    found.push(f);
                }
            }
            if !found.is_empty() {
                push(
                    no,
                    "atomics",
                    format!(
                        "atomics (`{}`) in runtime/ outside runtime/sync/: put atomics in runtime/sync/",
                        found.join("`, `")
                    ),
                );
            }
        }

        if find_word(code, "dbg!", false).iter().any(|&at| code[at + 4..].trim_start().starts_with('(')) {
            push(no, "dbg", "`dbg!` left in: remove it (use `tracing` for diagnostics that stay)".to_owned());
        }
    }
    out
}

/// Every `.rs` file under `dir`, skipping `target` and hidden directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn house_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for sub in ROOTS {
        let dir = root.join(sub);
        assert!(dir.is_dir(), "tidy: source tree {} is missing; update ROOTS in {SELF}", dir.display());
        rust_files(&dir, &mut files);
    }
    assert!(files.len() > 10, "tidy: found only {} .rs files; is the walk broken?", files.len());

    let mut violations = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(root).expect("walked from root");
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("tidy: reading {rel}: {e}"));
        violations.extend(check_file(&rel, &text));
    }

    let report: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        violations.is_empty(),
        "tidy: {} house rule violation(s) (see /work/shared/STYLE.md):\n{}\n",
        violations.len(),
        report.join("\n")
    );
}

mod self_test {
    use super::*;

    fn rules(rel: &str, text: &str) -> Vec<&'static str> {
        check_file(rel, text).into_iter().map(|v| v.rule).collect()
    }

    const DOC: &str = "//! A module.\n";

    #[test]
    fn file_length() {
        let long = format!("{DOC}{}", "fn f() {}\n".repeat(MAX_LINES));
        assert_eq!(rules("runtime/x.rs", &long), ["file-length"]);
        let ok = format!("{DOC}{}", "fn f() {}\n".repeat(MAX_LINES - 1));
        assert!(rules("runtime/x.rs", &ok).is_empty());
    }

    #[test]
    fn unsafe_block_needs_safety() {
        let bad = format!("{DOC}fn f() {{\n    let x = 1;\n    unsafe {{ g() }};\n}}\n");
        let v = check_file("runtime/x.rs", &bad);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].rule, v[0].line), ("unsafe-safety", 4));

        let good =
            format!("{DOC}fn f() {{\n    // SAFETY: g has no preconditions.\n    unsafe {{ g() }};\n}}\n");
        assert!(rules("runtime/x.rs", &good).is_empty());

        // A comment that is not SAFETY does not count, nor does one above the previous
        // statement.
        let other = format!("{DOC}fn f() {{\n    // just a note\n    unsafe {{ g() }};\n}}\n");
        assert_eq!(rules("runtime/x.rs", &other), ["unsafe-safety"]);
        let prev = format!("{DOC}// SAFETY: for a.\nunsafe {{ a() }};\nunsafe {{ b() }};\n");
        assert_eq!(rules("runtime/x.rs", &prev), ["unsafe-safety"]);
        let gap = format!("{DOC}// SAFETY: far away.\n\nunsafe {{ a() }};\n");
        assert_eq!(rules("runtime/x.rs", &gap), ["unsafe-safety"]);
    }

    #[test]
    fn unsafe_safety_patterns_in_use() {
        // A multi-line SAFETY block with a preceding plain comment (runtime/node/mod.rs).
        let block = format!(
            "{DOC}fn f() {{\n    // a note first\n    // SAFETY:\n    // - one\n    // - two\n    \
             let n = unsafe {{ g() }};\n}}\n"
        );
        assert!(rules("runtime/x.rs", &block).is_empty());
        // Expression position: `Ok(unsafe { .. })`, `return Some(unsafe { .. })`.
        let expr = format!("{DOC}fn f() {{\n    // SAFETY: fine.\n    Ok(unsafe {{ g() }})\n}}\n");
        assert!(rules("runtime/x.rs", &expr).is_empty());
        // Above an attribute.
        let attr = format!("{DOC}// SAFETY: fine.\n#[allow(clippy::x)]\nunsafe impl Send for S {{}}\n");
        assert!(rules("runtime/x.rs", &attr).is_empty());
        // On the statement line before the block, within the same statement.
        let stmt =
            format!("{DOC}fn f() {{\n    // SAFETY: fine.\n    let x =\n        unsafe {{ g() }};\n}}\n");
        assert!(rules("runtime/x.rs", &stmt).is_empty());
        let trailing =
            format!("{DOC}fn f() {{\n    let x = // SAFETY: fine.\n        unsafe {{ g() }};\n}}\n");
        assert!(rules("runtime/x.rs", &trailing).is_empty());
        // The block brace on the next line.
        let split = format!("{DOC}fn f() {{\n    let x = 1;\n    unsafe\n    {{ g() }};\n}}\n");
        assert_eq!(rules("runtime/x.rs", &split), ["unsafe-safety"]);
    }

    #[test]
    fn unsafe_impl_needs_safety() {
        let bad = format!("{DOC}struct S;\nunsafe impl Send for S {{}}\n");
        assert_eq!(rules("runtime/sync/x.rs", &bad), ["unsafe-safety"]);
        let good = format!("{DOC}struct S;\n// SAFETY: S has no fields.\nunsafe impl Send for S {{}}\n");
        assert!(rules("runtime/sync/x.rs", &good).is_empty());
    }

    #[test]
    fn unsafe_non_blocks_are_ignored() {
        let text = format!(
            "{DOC}#![deny(unsafe_op_in_unsafe_fn)]\n#![forbid(unsafe_code)]\n\
             /// # Safety\n/// None.\npub unsafe fn f() {{}}\nunsafe trait T {{}}\n\
             // an unsafe {{ block in a comment\n/* unsafe impl X */\n\
             const S: &str = \"unsafe {{ }}\";\nconst R: &str = r#\"unsafe impl \"# ;\n\
             fn g<'a>(x: &'a u8) -> char {{ let _ = x; '\"' }}\n"
        );
        assert!(rules("runtime/x.rs", &text).is_empty(), "{:?}", check_file("runtime/x.rs", &text));
    }

    #[test]
    fn instant_now_only_in_clock() {
        let text = format!("{DOC}fn f() {{ let t = std::time::Instant::now(); }}\n");
        assert_eq!(rules("runtime/x.rs", &text), ["instant-now"]);
        assert_eq!(rules("wire/src/x.rs", &text), ["instant-now"]);
        for ok in ["runtime/clock.rs", "tests/x.rs", "bench/src/main.rs", "examples/x.rs"] {
            assert!(rules(ok, &text).is_empty(), "{ok}");
        }
        let mention = format!("{DOC}// never call Instant::now here\nconst S: &str = \"Instant::now\";\n");
        assert!(rules("runtime/x.rs", &mention).is_empty());
    }

    #[test]
    fn atomics_only_in_sync() {
        for snippet in [
            "use std::sync::atomic::Ordering;",
            "static X: AtomicU64 = AtomicU64::new(0);",
            "static X: AtomicBool = AtomicBool::new(false);",
            "static X: AtomicUsize = AtomicUsize::new(0);",
            "fn f() { fence(Ordering::SeqCst); }",
        ] {
            let text = format!("{DOC}{snippet}\n");
            assert_eq!(rules("runtime/x.rs", &text), ["atomics"], "{snippet}");
            assert_eq!(rules("runtime/core/x.rs", &text), ["atomics"], "{snippet}");
            assert!(rules("runtime/sync/x.rs", &text).is_empty(), "{snippet}");
            assert!(rules("tests/x.rs", &text).is_empty(), "{snippet}");
        }
        let fine =
            format!("{DOC}// AtomicU64 lives in sync\nstruct MyAtomicU64Wrapper;\nfn fence_off() {{}}\n");
        assert!(rules("runtime/x.rs", &fine).is_empty());
    }

    #[test]
    fn dbg_anywhere() {
        let text = format!("{DOC}fn f() {{ dbg!(1); }}\n");
        for rel in ["runtime/x.rs", "runtime/sync/x.rs", "tests/x.rs", "bench/src/main.rs", "wire/tests/x.rs"]
        {
            assert_eq!(rules(rel, &text), ["dbg"], "{rel}");
        }
        let mention = format!("{DOC}// no dbg!(x) here\nconst S: &str = \"dbg!(x)\";\n");
        assert!(rules("runtime/x.rs", &mention).is_empty());
    }

    #[test]
    fn module_doc_first() {
        assert_eq!(rules("runtime/x.rs", "use std::fmt;\n"), ["module-doc"]);
        assert_eq!(rules("wire/src/x.rs", "\n// plain comment\n//! doc\n"), ["module-doc"]);
        assert_eq!(rules("runtime/x.rs", "/// item doc\nfn f() {}\n"), ["module-doc"]);
        assert!(rules("runtime/x.rs", "\n//! Owns x; must never y.\nuse std::fmt;\n").is_empty());
        // Not required outside runtime/ and wire/src/.
        assert!(rules("tests/x.rs", "use std::fmt;\n").is_empty());
        assert!(rules("wire/tests/x.rs", "use std::fmt;\n").is_empty());
    }

    #[test]
    fn this_file_is_skipped_for_patterns_only() {
        let text = "fn f() { dbg!(1); unsafe { g() }; }\n";
        assert!(rules(SELF, text).is_empty());
        let long = "fn f() {}\n".repeat(MAX_LINES + 1);
        assert_eq!(rules(SELF, &long), ["file-length"]);
    }

    #[test]
    fn violations_name_file_line_and_fix() {
        let v = check_file("runtime/x.rs", &format!("{DOC}fn f() {{ dbg!(1); }}\n"));
        let s = v[0].to_string();
        assert!(s.starts_with("runtime/x.rs:2: [dbg]"), "{s}");
        assert!(s.contains("remove it"), "{s}");
    }
}
