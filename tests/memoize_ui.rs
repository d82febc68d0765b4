//! Compile-fail tests: every signature `#[memoize]` rejects fails with a
//! message that says what to do.
#![cfg(all(not(shardcache_loom), feature = "macros"))]

#[test]
fn rejected_signatures() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
