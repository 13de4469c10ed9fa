//! Generates include/oauthmail.h from the FFI sources with cbindgen, and adds the version macros.
//! The header is checked in; CI regenerates it and fails if it changed.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let version = |k: &str| env::var(k).expect("cargo sets the version variables");
    config.after_includes = Some(format!(
        "\n/** The version of this header; compare with oauthmail_version() at run time. */\n\
         #define OAUTHMAIL_VERSION_MAJOR {}\n#define OAUTHMAIL_VERSION_MINOR {}\n#define OAUTHMAIL_VERSION_PATCH {}\n\
         #define OAUTHMAIL_VERSION_STRING \"{}\"\n",
        version("CARGO_PKG_VERSION_MAJOR"),
        version("CARGO_PKG_VERSION_MINOR"),
        version("CARGO_PKG_VERSION_PATCH"),
        version("CARGO_PKG_VERSION"),
    ));
    // Only the ffi module is C API; parsing it alone keeps core types out of the header.
    match cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
    {
        Ok(bindings) => {
            bindings.write_to_file(root.join("include/oauthmail.h"));
        }
        // A syntax error is reported by rustc with better context; do not fail the build here.
        Err(e) => println!("cargo:warning=cbindgen could not generate include/oauthmail.h: {e}"),
    }
}
