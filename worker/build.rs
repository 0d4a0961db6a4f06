//! Rebuilds the Worker when a file of `web/` changes. `include_bytes!` already tracks each
//! file, but by absolute path (they lie outside this package), so clones sharing one target
//! directory would check one another's copies; a `rerun-if-changed` path relative to this
//! package is checked in whichever clone builds.

fn main() {
    println!("cargo::rerun-if-changed=../web");
}
