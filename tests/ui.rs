//! Compile errors a user meets, with their text pinned (`tests/ui/*.stderr`): a
//! missing handler names the actor and the message; a handler signature that
//! cannot be one names what to write instead. Regenerate the snapshots with
//! `TRYBUILD=overwrite cargo test --test ui` after a deliberate change.

#[test]
fn compile_errors_name_the_problem() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
