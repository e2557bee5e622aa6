//! Brings third-party browser code in from its versioned npm package (pinned in
//! package.json / package-lock.json, integrity-checked by `npm ci`) and hands it to
//! the compiler for embedding. Nothing third-party is committed to the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

const ASSETS: &[(&str, &str)] = &[("node_modules/htmx.org/dist/htmx.min.js", "htmx.min.js")];

fn main() {
    println!("cargo:rerun-if-changed=package.json");
    println!("cargo:rerun-if-changed=package-lock.json");
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    if ASSETS.iter().any(|(src, _)| !root.join(src).exists()) {
        install(&root);
    }
    for (src, name) in ASSETS {
        let from = root.join(src);
        println!("cargo:rerun-if-changed={}", from.display());
        if let Err(err) = std::fs::copy(&from, out.join(name)) {
            panic!("copying {} failed: {err}. Run `npm ci` in {}.", from.display(), root.display());
        }
    }
}

fn install(root: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(root)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("`npm ci` failed ({s}); browser assets (htmx) come from the npm registry"),
        Err(err) => {
            panic!("could not run npm ({err}); install Node.js and npm to build Centralita")
        }
    }
}
