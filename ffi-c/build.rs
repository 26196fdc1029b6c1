//! Generates the C header into OUT_DIR with the pinned cbindgen. The committed copy lives in
//! `include/circuit.h`; `make header` copies the generated one there, and the `header_is_fresh`
//! test fails when they differ. The build never writes into the source tree.

fn main() {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = std::env::var("CARGO_PKG_VERSION_PATCH").unwrap();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    let defines = format!(
        "\n/** Version of this header; compare with circuit_version_number() at run time. */\n\
         #define CIRCUIT_VERSION_MAJOR {major}\n\
         #define CIRCUIT_VERSION_MINOR {minor}\n\
         #define CIRCUIT_VERSION_PATCH {patch}\n\
         #define CIRCUIT_VERSION_STRING \"{version}\"\n\
         /** MAJOR * 1000000 + MINOR * 1000 + PATCH */\n\
         #define CIRCUIT_VERSION_NUMBER ({major} * 1000000 + {minor} * 1000 + {patch})\n"
    );
    match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).with_after_include(defines).generate() {
        Ok(bindings) => {
            bindings.write_to_file(format!("{out_dir}/circuit.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // Before 1.0 a minor release may change the ABI, so the SONAME carries it (libcircuit.so.0.1).
    let soname = if major == "0" { format!("libcircuit.so.0.{minor}") } else { format!("libcircuit.so.{major}") };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!("cargo:rustc-env=CIRCUIT_SONAME={soname}");
}
