//! One version: `[workspace.package] version` in the root Cargo.toml is the single source, and
//! every other manifest that states a version of this project must say the same. Changing it in one
//! place only (a release bump that forgets the Python or Node package, the C header not regenerated)
//! fails here. Manifests that inherit it (`version.workspace = true`) or derive it at build time
//! (the pkg-config and CMake files written by scripts/install, the soname of scripts/stage-lib,
//! which read the root Cargo.toml) are checked to keep doing so.

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The lines of TOML `table` (`[name]` up to the next header), without comments.
fn toml_table<'a>(text: &'a str, table: &str) -> Vec<&'a str> {
    let header = format!("[{table}]");
    let mut lines = text.lines().map(|l| l.split('#').next().unwrap_or("").trim());
    let mut inside = Vec::new();
    if lines.by_ref().any(|l| l == header) {
        inside.extend(lines.take_while(|l| !l.starts_with('[')));
    }
    inside
}

/// The quoted string value of `key = "..."` among `lines`.
fn toml_string(lines: &[&str], key: &str) -> Option<String> {
    lines.iter().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The workspace version, checked to be `MAJOR.MINOR.PATCH` (an optional pre-release allowed).
fn workspace_version() -> String {
    let root = read("Cargo.toml");
    let version = toml_string(&toml_table(&root, "workspace.package"), "version")
        .expect("Cargo.toml: [workspace.package] has no version");
    let core = version.split(['-', '+']).next().unwrap();
    let parts: Vec<&str> = core.split('.').collect();
    assert!(
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "Cargo.toml: workspace version {version:?} is not MAJOR.MINOR.PATCH"
    );
    version
}

#[test]
fn the_workspace_version_is_this_crates_version() {
    assert_eq!(workspace_version(), env!("CARGO_PKG_VERSION"), "core/Cargo.toml must use version.workspace = true");
}

#[test]
fn every_crate_inherits_the_workspace_version() {
    for manifest in ["core", "ffi-c", "shm", "bindings-python", "bindings-node", "tests/rust-http"]
        .map(|dir| format!("{dir}/Cargo.toml"))
    {
        let text = read(&manifest);
        let package = toml_table(&text, "package");
        assert!(
            package.iter().any(|l| l.replace(' ', "") == "version.workspace=true"),
            "{manifest}: [package] must say `version.workspace = true`"
        );
    }
}

#[test]
fn path_dependencies_on_the_core_require_the_workspace_version() {
    let version = workspace_version();
    for manifest in ["Cargo.toml", "ffi-c/Cargo.toml", "bindings-python/Cargo.toml", "bindings-node/Cargo.toml"] {
        let text = read(manifest);
        for line in text.lines().filter(|l| l.contains("path = \"core\"") || l.contains("path = \"../core\"")) {
            let wanted = format!("version = \"{version}\"");
            assert!(line.contains(&wanted), "{manifest}: `{line}` must require {wanted}");
        }
    }
}

#[test]
fn the_python_package_has_the_workspace_version() {
    let text = read("bindings-python/pyproject.toml");
    let project = toml_table(&text, "project");
    assert_eq!(
        toml_string(&project, "version"),
        Some(workspace_version()),
        "bindings-python/pyproject.toml [project] version"
    );
    assert_eq!(toml_string(&project, "name").as_deref(), Some("circuit-core"), "the PyPI distribution name");
}

#[test]
fn the_node_package_has_the_workspace_version() {
    let version = workspace_version();
    let json = |path: &str| -> serde_json::Value {
        serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let pkg = json("bindings-node/package.json");
    assert_eq!(pkg["version"], version.as_str(), "bindings-node/package.json version");
    assert_eq!(pkg["name"], "circuit-core", "the npm package name");
    // The per-platform binary packages, when napi adds them, must be published at the same version.
    for field in ["optionalDependencies", "dependencies"] {
        if let Some(deps) = pkg[field].as_object() {
            for (name, wanted) in deps.iter().filter(|(name, _)| name.starts_with("circuit-core-")) {
                assert_eq!(wanted, version.as_str(), "bindings-node/package.json {field}.{name}");
            }
        }
    }
    let lock = json("bindings-node/package-lock.json");
    assert_eq!(lock["version"], version.as_str(), "bindings-node/package-lock.json version");
    assert_eq!(
        lock["packages"][""]["version"],
        version.as_str(),
        "bindings-node/package-lock.json packages[\"\"].version"
    );
}

#[test]
fn the_c_header_has_the_workspace_version() {
    let version = workspace_version();
    let header = read("include/circuit.h");
    let define = |name: &str| -> String {
        let prefix = format!("#define {name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("include/circuit.h lacks {name}"))
            .trim()
            .to_string()
    };
    assert_eq!(define("CIRCUIT_VERSION_STRING"), format!("\"{version}\""), "include/circuit.h (regenerate it)");
    let numbers: Vec<&str> = version.split(['-', '+']).next().unwrap().split('.').collect();
    for (macro_name, number) in
        ["CIRCUIT_VERSION_MAJOR", "CIRCUIT_VERSION_MINOR", "CIRCUIT_VERSION_PATCH"].iter().zip(&numbers)
    {
        assert_eq!(define(macro_name), *number, "include/circuit.h {macro_name}");
    }
    assert_eq!(
        define("CIRCUIT_VERSION_NUMBER"),
        format!("({} * 1000000 + {} * 1000 + {})", numbers[0], numbers[1], numbers[2]),
        "include/circuit.h CIRCUIT_VERSION_NUMBER"
    );
}

#[test]
fn the_installed_c_metadata_and_go_take_the_version_from_cargo() {
    // pkg-config, CMake and the shared library's file name are written from the root Cargo.toml.
    for script in ["scripts/install", "scripts/stage-lib"] {
        let text = read(script);
        assert!(
            text.contains("version=$(sed -n 's/^version = \"\\(.*\\)\"/\\1/p' \"$root/Cargo.toml\" | head -1)"),
            "{script} must read the version from the root Cargo.toml"
        );
    }
    // Go states no version of its own (a module's version is its git tag): if a `Version` constant
    // appears, it must be the workspace version.
    let version = workspace_version();
    let dir = format!("{}/../bindings-go", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "go") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines().map(str::trim) {
                let decl = line.strip_prefix("const ").unwrap_or(line);
                if let Some(value) = decl.strip_prefix("Version =").or_else(|| decl.strip_prefix("Version string =")) {
                    assert_eq!(value.trim().trim_matches('"'), version, "{}: Version", path.display());
                }
            }
        }
    }
}
