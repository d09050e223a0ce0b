//! Links the `keel` binary as a position-dependent executable: the CLI is started for every
//! command, and a PIE of this size applies tens of thousands of dynamic relocations at each
//! start before `main` (the cost is in the README's benchmark section).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
