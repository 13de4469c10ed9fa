//! Generates include/oauthmail.h from the FFI sources with cbindgen, and adds the version macros.
//! The header is checked in; CI regenerates it and fails if it changed.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

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
        // A build whose header could not be generated must not pass with the old header.
        Err(e) => panic!("cbindgen could not generate include/oauthmail.h: {e}"),
    }
    windows_version_resource(&root);
}

/// Windows targets only (a no-op for every other target): compiles windows/oauthmail.rc, the
/// DLL's version resource, with the target's windres and links it into oauthmail.dll.
fn windows_version_resource(root: &Path) {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    println!("cargo:rerun-if-changed=windows/oauthmail.rc");
    println!("cargo:rerun-if-env-changed=WINDRES");
    if env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu") {
        println!("cargo:warning=the version resource is only embedded for the windows-gnu targets");
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let version = |k: &str| env::var(k).expect("cargo sets the version variables");
    let prerelease = if version("CARGO_PKG_VERSION_PRE").is_empty() {
        "0"
    } else {
        "VS_FF_PRERELEASE"
    };
    let header = format!(
        "#define OAUTHMAIL_RC_MAJOR {}\n#define OAUTHMAIL_RC_MINOR {}\n#define OAUTHMAIL_RC_PATCH {}\n\
         #define OAUTHMAIL_RC_VERSION \"{}\"\n#define OAUTHMAIL_RC_FLAGS {}\n",
        version("CARGO_PKG_VERSION_MAJOR"),
        version("CARGO_PKG_VERSION_MINOR"),
        version("CARGO_PKG_VERSION_PATCH"),
        version("CARGO_PKG_VERSION"),
        prerelease,
    );
    std::fs::write(out.join("oauthmail_version.h"), header).expect("OUT_DIR is writable");
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86") => "i686".to_string(),
        Ok(a) => a.to_string(),
        Err(_) => String::new(),
    };
    let object = out.join("oauthmail_rc.o");
    let candidates = [
        env::var("WINDRES").ok(),
        Some(format!("{arch}-w64-mingw32-windres")),
        Some("windres".into()),
    ];
    for windres in candidates.into_iter().flatten() {
        let status = Command::new(&windres)
            .args(["--input-format=rc", "--output-format=coff", "-I"])
            .arg(&out)
            .arg("-i")
            .arg(root.join("windows/oauthmail.rc"))
            .arg("-o")
            .arg(&object)
            .status();
        match status {
            Ok(s) if s.success() => {
                println!("cargo:rustc-link-arg-cdylib={}", object.display());
                return;
            }
            Ok(s) => panic!("{windres} failed on windows/oauthmail.rc ({s})"),
            Err(_) => continue, // not installed under this name: try the next one
        }
    }
    println!("cargo:warning=no windres found (set WINDRES): oauthmail.dll has no version resource");
}
