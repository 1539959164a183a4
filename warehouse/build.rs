//! Lets the warehouse's binaries and tests find DuckDB's shared library at run time without
//! `LD_LIBRARY_PATH`: libduckdb-sys links against `DUCKDB_LIB_DIR` (set in
//! `.cargo/config.toml` to the library `cargo xtask setup` installs), and this embeds the same
//! folder, resolved to an absolute path, as an rpath.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR") else {
        println!(
            "cargo:warning=DUCKDB_LIB_DIR is not set: run `cargo xtask setup` and build inside \
             the workspace (its .cargo/config.toml points at the library)"
        );
        return;
    };
    let dir = PathBuf::from(dir);
    match dir.canonicalize() {
        Ok(absolute) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", absolute.display());
        }
        Err(err) => {
            // A missing path counts as changed, so this runs again until setup has run.
            println!("cargo:rerun-if-changed={}", dir.display());
            println!(
                "cargo:warning=DuckDB library folder {} is missing ({err}): run `cargo xtask setup`",
                dir.display()
            );
        }
    }
}
