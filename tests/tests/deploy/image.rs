//! The images the stack runs and the files in them, derived without Docker.
//!
//! No image can be pulled or built here, so an image's file list is its base
//! image's known files (below, from the Debian and Alpine packages those
//! images are made of; `dpkg -L` / busybox's applet list), plus the packages
//! its Dockerfile installs (their known files), plus what its Dockerfile
//! copies in. A program a check looks for and that is in none of these is a
//! program the container would not find: either the file is wrong or the
//! tables below must learn the image first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `PATH` of the Debian and Alpine images (Docker's default).
const PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Commands of debian:<release>-slim, from its required packages: bash,
/// dash (sh), coreutils, grep, sed, findutils, passwd (useradd…), login,
/// util-linux, tar, gzip, debianutils. Merged /usr: each is in /bin too.
const DEBIAN_SLIM: &[&str] = &[
    "bash", "sh", "dash", "cat", "head", "tail", "tr", "base64", "mv", "cp", "rm", "ln", "ls",
    "mkdir", "chmod", "chown", "install", "env", "id", "sleep", "printf", "echo", "test", "true",
    "false", "wc", "cut", "sort", "tee", "touch", "date", "basename", "dirname", "grep", "sed",
    "find", "xargs", "tar", "gzip", "useradd", "groupadd", "usermod", "chpasswd", "su", "login",
    "mount", "kill", "which",
];

/// Applets of busybox in the Alpine images (nats:*-alpine, postgres:*-alpine).
const BUSYBOX: &[&str] = &[
    "sh", "ash", "cat", "head", "tr", "grep", "sed", "wget", "nc", "ls", "mkdir", "rm", "mv", "cp",
    "echo", "printf", "env", "sleep", "test", "true", "false",
];

/// Files of a package installed with apt-get, for the packages this
/// repository installs (openssh-client comes with openssh-server).
fn package_files(package: &str) -> &'static [&'static str] {
    match package {
        "openssh-server" => &["/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/ssh"],
        "ca-certificates" => &["/usr/sbin/update-ca-certificates"],
        _ => &[],
    }
}

/// An image's files (absolute paths) and its default command.
#[derive(Debug, Default)]
pub struct Image {
    pub name: String,
    pub files: BTreeSet<String>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
}

impl Image {
    /// A third-party image this repository uses by name, with what it holds.
    pub fn known(reference: &str) -> Option<Image> {
        let (repo, tag) = reference.split_once(':').unwrap_or((reference, "latest"));
        let mut image = Image {
            name: reference.to_string(),
            ..Image::default()
        };
        match repo {
            "debian" if tag.ends_with("-slim") => image.add_commands("/usr/bin", DEBIAN_SLIM),
            "nats" if tag.ends_with("-alpine") => {
                image.add_commands("/bin", BUSYBOX);
                image.add_file("/usr/local/bin/nats-server");
            }
            "postgres" if tag.ends_with("-alpine") => {
                image.add_commands("/bin", BUSYBOX);
                for tool in ["postgres", "pg_isready", "psql", "initdb", "pg_ctl"] {
                    image.add_file(&format!("/usr/local/bin/{tool}"));
                }
            }
            _ => return None,
        }
        Some(image)
    }

    /// The image a Dockerfile makes: its last stage.
    pub fn build(dockerfile: &Path) -> Image {
        let file = Dockerfile::read(dockerfile);
        let stage = file.stages.last().expect("a Dockerfile has a FROM");
        let mut image = Image::known(&stage.from).unwrap_or_else(|| {
            panic!(
                "{}: base image {} is not one the deploy test knows the files of",
                dockerfile.display(),
                stage.from
            )
        });
        image.name = dockerfile.display().to_string();
        for (instruction, args) in &stage.instructions {
            match instruction.as_str() {
                "RUN" => {
                    for package in apt_installs(args) {
                        for file in package_files(&package) {
                            image.add_file(file);
                        }
                    }
                }
                "COPY" => {
                    for file in copied_files(args) {
                        image.add_file(&file);
                    }
                }
                "CMD" => image.cmd = Some(json_list(args)),
                "USER" => image.user = Some(args.trim().to_string()),
                _ => {}
            }
        }
        image
    }

    fn add_file(&mut self, path: &str) {
        self.files.insert(path.to_string());
        // Debian's merged /usr: /bin, /sbin are links into /usr.
        if let Some(rest) = path.strip_prefix("/usr") {
            if rest.starts_with("/bin/") || rest.starts_with("/sbin/") {
                self.files.insert(rest.to_string());
            }
        }
    }

    fn add_commands(&mut self, dir: &str, commands: &[&str]) {
        for command in commands {
            self.add_file(&format!("{dir}/{command}"));
        }
    }

    /// Where `program` is found: as given when it has a `/`, else on `PATH`.
    pub fn resolve(&self, program: &str) -> Option<String> {
        if program.contains('/') {
            return self.files.contains(program).then(|| program.to_string());
        }
        PATH.iter()
            .map(|dir| format!("{dir}/{program}"))
            .find(|path| self.files.contains(path))
    }
}

/// A Dockerfile's stages (global `ARG`s substituted in `FROM`).
#[derive(Debug)]
pub struct Dockerfile {
    pub stages: Vec<Stage>,
}

#[derive(Debug)]
pub struct Stage {
    /// The base image, `ARG`s substituted.
    pub from: String,
    pub name: Option<String>,
    /// Instruction (upper case) and its arguments, continuation lines joined.
    pub instructions: Vec<(String, String)>,
}

impl Dockerfile {
    pub fn read(path: &Path) -> Dockerfile {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut args = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut logical = trimmed.to_string();
            while logical.ends_with('\\') {
                logical.pop();
                match lines.next() {
                    Some(next) if next.trim_start().starts_with('#') => continue,
                    Some(next) => {
                        logical.push(' ');
                        logical.push_str(next.trim());
                    }
                    None => break,
                }
            }
            // A heredoc (COPY <<'X' dest): its body is the file's content.
            if let Some(at) = logical.find("<<") {
                let marker = logical[at + 2..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .trim_matches(|c| c == '\'' || c == '"' || c == '-')
                    .to_string();
                for body in lines.by_ref() {
                    if body.trim() == marker {
                        break;
                    }
                }
            }
            let (instruction, rest) = logical.split_once(' ').unwrap_or((&logical, ""));
            let instruction = instruction.to_ascii_uppercase();
            let rest = rest.trim().to_string();
            match instruction.as_str() {
                "ARG" if stages.is_empty() => {
                    let (k, v) = rest.split_once('=').unwrap_or((&rest, ""));
                    args.insert(k.to_string(), v.to_string());
                }
                "FROM" => {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let from = substitute(words[0], &args);
                    let name = match words.as_slice() {
                        [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                        _ => None,
                    };
                    stages.push(Stage {
                        from,
                        name,
                        instructions: Vec::new(),
                    });
                }
                _ => stages
                    .last_mut()
                    .unwrap_or_else(|| panic!("{}: {instruction} before FROM", path.display()))
                    .instructions
                    .push((instruction, rest)),
            }
        }
        Dockerfile { stages }
    }
}

/// `${NAME}` and `$NAME` from the global ARGs.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in args {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    out
}

/// Packages named by `apt-get install` in a RUN.
fn apt_installs(run: &str) -> Vec<String> {
    run.split("&&")
        .filter_map(|cmd| cmd.split_once("apt-get install").map(|(_, rest)| rest))
        .flat_map(|rest| rest.split_whitespace())
        .filter(|w| !w.starts_with('-'))
        .map(String::from)
        .collect()
}

/// The files a COPY puts into the image: each source's file name in the
/// destination folder (`dest/` with several sources), or the destination.
fn copied_files(args: &str) -> Vec<String> {
    let words: Vec<&str> = args
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    let Some((dest, sources)) = words.split_last() else {
        return Vec::new();
    };
    if dest.ends_with('/') {
        sources
            .iter()
            .filter(|s| !s.starts_with("<<"))
            .map(|s| format!("{dest}{}", s.rsplit('/').next().unwrap_or(s)))
            .collect()
    } else {
        vec![dest.to_string()]
    }
}

/// The exec form `["a", "b"]`.
pub fn json_list(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("{args:?} is not the exec form: {e}"))
}

#[test]
fn copies_land_in_their_folder() {
    assert_eq!(
        copied_files("--from=builder /out/a /out/b /usr/local/bin/"),
        ["/usr/local/bin/a", "/usr/local/bin/b"]
    );
    assert_eq!(
        copied_files("--chmod=0755 <<'S' /usr/local/bin/x"),
        ["/usr/local/bin/x"]
    );
    assert_eq!(
        apt_installs("apt-get update && apt-get install -y --no-install-recommends x y && rm z"),
        ["x", "y"]
    );
}
