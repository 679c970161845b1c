//! The image: deploy/Dockerfile builds the four programs locked, on a base
//! matching the builder's, as a non-root user, from a build context that
//! holds everything the build reads.

use std::path::{Component, Path};

use bamf_testkit::repo_root;

use crate::image::{Dockerfile, Image};
use crate::programs::PROGRAMS;
use crate::read;

#[test]
fn the_image_builds_the_four_programs_locked_and_runs_them_as_non_root() {
    let path = repo_root().join("deploy/Dockerfile");
    let file = Dockerfile::read(&path);
    assert!(file.stages.len() >= 2, "the Dockerfile is multi-stage");
    let builder = file
        .stages
        .iter()
        .find(|s| s.name.as_deref() == Some("builder"))
        .expect("a stage named builder");
    let runtime = file.stages.last().expect("a runtime stage");
    assert_ne!(runtime.name, builder.name, "the image is not the builder");

    let build = builder
        .instructions
        .iter()
        .find(|(i, args)| i == "RUN" && args.contains("cargo build"))
        .map(|(_, args)| args.split_whitespace().collect::<Vec<_>>())
        .expect("the builder runs cargo build");
    for flag in ["--release", "--locked"] {
        assert!(build.contains(&flag), "cargo build without {flag}");
    }
    for program in PROGRAMS {
        assert!(
            build.windows(2).any(|w| w == ["-p", program]),
            "cargo build does not build {program}"
        );
    }

    // The runtime base is the builder's Debian release: the binaries find
    // the glibc they were linked against.
    let release = runtime
        .from
        .strip_prefix("debian:")
        .and_then(|r| r.strip_suffix("-slim"))
        .unwrap_or_else(|| panic!("runtime base {} is not debian:<release>-slim", runtime.from));
    assert!(
        builder.from.starts_with("rust:") && builder.from.ends_with(&format!("-slim-{release}")),
        "builder {} and runtime {} differ in Debian release",
        builder.from,
        runtime.from
    );
    // Its Rust is at least the workspace's rust-version.
    let version = |v: &str| -> (u32, u32) {
        let mut parts = v
            .split('.')
            .map(|p| p.parse::<u32>().expect("a version number"));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let rust = builder.from["rust:".len()..].split('-').next().unwrap();
    let manifest = read(&repo_root().join("Cargo.toml"));
    let minimum = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the workspace has a rust-version");
    assert!(version(rust) >= version(minimum), "Rust {rust} < {minimum}");

    let image = Image::build(&path);
    for program in PROGRAMS {
        assert_eq!(
            image.resolve(program).as_deref(),
            Some(format!("/usr/local/bin/{program}").as_str()),
            "{program} is not copied into the image"
        );
    }
    let user = image.user.as_deref().expect("the image sets USER");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER {user} is not numeric (runAsNonRoot needs a uid)"));
    assert_ne!(uid, 0, "the image runs as root");

    // The build context (an allow-list) holds every workspace member and
    // every file the sources embed at compile time.
    let ignore = read(&repo_root().join("deploy/Dockerfile.dockerignore"));
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        patterns.first(),
        Some(&"*"),
        "the ignore file is an allow-list"
    );
    let allowed: Vec<&str> = patterns
        .iter()
        .filter_map(|p| p.strip_prefix('!'))
        .collect();
    let included = |path: &str| {
        allowed
            .iter()
            .any(|a| path == a.trim_end_matches('/') || (a.ends_with('/') && path.starts_with(a)))
    };
    let members = workspace_members(&manifest);
    let embedded = embedded_paths();
    assert!(members.len() >= 4 && !embedded.is_empty());
    for path in members.iter().chain(&embedded) {
        assert!(included(path), "{path} is left out of the build context");
    }
}

/// `members = [ … ]` of the workspace manifest.
fn workspace_members(manifest: &str) -> Vec<String> {
    let start = manifest.find("members = [").expect("a members list");
    let list = &manifest[start..start + manifest[start..].find(']').expect("closed")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// Repository paths the sources embed: `include_str!`/`include_bytes!`
/// (relative to the file) and `sqlx::migrate!` (relative to the crate).
fn embedded_paths() -> Vec<String> {
    fn walk(dir: &Path, crate_dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir)
            .expect("a source folder lists")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, crate_dir, found);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = read(&path);
            for (macro_name, base) in [
                ("include_str!(\"", path.parent().unwrap()),
                ("include_bytes!(\"", path.parent().unwrap()),
                ("migrate!(\"", crate_dir),
            ] {
                for rest in text.split(macro_name).skip(1) {
                    let literal = rest.split('"').next().unwrap();
                    found.push(normalize(&base.join(literal)));
                }
            }
        }
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("services"))
        .unwrap()
        .flatten()
    {
        let src = entry.path().join("src");
        if src.is_dir() {
            walk(&src, &entry.path(), &mut found);
        }
    }
    found
}

/// A path relative to the repository root, `..` resolved.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let relative = path
        .strip_prefix(repo_root())
        .expect("inside the repository");
    for component in relative.components() {
        match component {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}
