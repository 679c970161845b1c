//! Just enough of the POSIX shell to read bamf's own small scripts (the
//! compose helpers, healthchecks, init containers, the commands in the docs):
//! the simple commands a script runs, each as its words.
//!
//! It knows quoting ('…', "…", \), comments, the separators ; && || | & and
//! newlines, redirections (skipped, heredoc bodies too), command substitution
//! `$(…)` (its commands are commands of the script, also inside "…" and
//! unquoted heredocs) and `name() {` functions. Expansions stay as written
//! (`"$dir/x"` is the word `$dir/x`). It is not a shell: a script that needs
//! more than this should not be in a container.

use std::collections::BTreeSet;

/// Shell keywords that may start a command line and are not programs.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}",
];
/// Keywords whose command line names no program at all.
const SKIPPED: &[&str] = &["for", "case", "esac", "in"];
/// Built into sh and bash: never a file in the image.
const BUILTINS: &[&str] = &[
    ":", ".", "[", "cd", "command", "echo", "eval", "exit", "export", "false", "local", "printf",
    "read", "return", "set", "shift", "source", "test", "trap", "true", "umask", "unset", "wait",
];

/// The simple commands of `script`, each as its words (redirections removed).
pub fn commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut parser = Parser {
        chars: script.chars().collect(),
        pos: 0,
        out: &mut out,
    };
    parser.script();
    out.retain(|c| !c.is_empty());
    out
}

/// The programs `script` runs: the first word of each simple command, past
/// assignments, keywords and `exec`; builtins and the script's own functions
/// are left out, and so is a program named by an expansion (`exec "$@"`):
/// what it runs is not in the script.
pub fn programs(script: &str) -> BTreeSet<String> {
    let all = commands(script);
    let functions: BTreeSet<String> = all
        .iter()
        .filter_map(|c| c.first()?.strip_suffix("()").map(str::to_string))
        .collect();
    all.iter()
        .filter_map(|c| program_of(c))
        .filter(|p| !BUILTINS.contains(&p.as_str()) && !functions.contains(p))
        .filter(|p| !p.starts_with('$'))
        .collect()
}

/// The program a simple command runs and its arguments, if it runs one.
pub fn invocation(command: &[String]) -> Option<(String, Vec<String>)> {
    let mut words = command.iter().peekable();
    loop {
        let word = words.peek()?;
        if KEYWORDS.contains(&word.as_str()) || is_assignment(word) || *word == "exec" {
            words.next();
        } else if SKIPPED.contains(&word.as_str()) || word.ends_with("()") {
            return None;
        } else {
            let program = words.next()?.clone();
            return Some((program, words.cloned().collect()));
        }
    }
}

fn program_of(command: &[String]) -> Option<String> {
    invocation(command).map(|(program, _)| program)
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    out: &'a mut Vec<Vec<String>>,
}

impl Parser<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Reads commands to the end of the input.
    fn script(&mut self) {
        let mut command: Vec<String> = Vec::new();
        let mut word = String::new();
        let mut in_word = false;
        let mut heredocs: Vec<(String, bool)> = Vec::new();
        while let Some(c) = self.peek(0) {
            match c {
                '\'' => {
                    self.pos += 1;
                    while let Some(q) = self.peek(0) {
                        self.pos += 1;
                        if q == '\'' {
                            break;
                        }
                        word.push(q);
                    }
                    in_word = true;
                }
                '"' => {
                    self.pos += 1;
                    while let Some(q) = self.peek(0) {
                        if q == '"' {
                            self.pos += 1;
                            break;
                        }
                        if q == '\\' {
                            self.pos += 1;
                            if let Some(e) = self.peek(0) {
                                word.push(e);
                                self.pos += 1;
                            }
                        } else if q == '$' && self.peek(1) == Some('(') {
                            self.substitution(&mut word);
                        } else {
                            word.push(q);
                            self.pos += 1;
                        }
                    }
                    in_word = true;
                }
                '\\' => {
                    // A backslash-newline joins lines; otherwise it escapes.
                    self.pos += 1;
                    match self.peek(0) {
                        Some('\n') => self.pos += 1,
                        Some(e) => {
                            word.push(e);
                            in_word = true;
                            self.pos += 1;
                        }
                        None => {}
                    }
                }
                '$' if self.peek(1) == Some('(') => {
                    self.substitution(&mut word);
                    in_word = true;
                }
                '#' if !in_word => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '<' | '>' => {
                    // A word of digits just before is the descriptor, not a word.
                    if in_word && word.chars().all(|c| c.is_ascii_digit()) {
                        word.clear();
                        in_word = false;
                    }
                    self.redirection(&mut heredocs);
                }
                ' ' | '\t' => {
                    self.pos += 1;
                    end_word(&mut command, &mut word, &mut in_word);
                }
                ';' | '&' | '|' | '\n' | '(' | ')' => {
                    self.pos += 1;
                    end_word(&mut command, &mut word, &mut in_word);
                    // `name()`: a function definition, kept as one word.
                    if c == '(' && self.peek(0) == Some(')') && command.len() == 1 {
                        self.pos += 1;
                        command[0].push_str("()");
                    } else {
                        self.out.push(std::mem::take(&mut command));
                    }
                    if c == '\n' {
                        self.heredoc_bodies(&mut heredocs);
                    }
                }
                _ => {
                    word.push(c);
                    in_word = true;
                    self.pos += 1;
                }
            }
        }
        end_word(&mut command, &mut word, &mut in_word);
        self.out.push(command);
    }

    /// `$( … )`: its commands join the output; the word gets a placeholder.
    fn substitution(&mut self, word: &mut String) {
        self.pos += 2;
        let start = self.pos;
        let mut depth = 1;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek(0) {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let inner: String = self.chars[start..self.pos].iter().collect();
        self.pos += 1;
        self.out.extend(commands(&inner));
        word.push_str("$(…)");
    }

    /// Skips a redirection and its target; `<<WORD` registers a heredoc.
    fn redirection(&mut self, heredocs: &mut Vec<(String, bool)>) {
        let mut op = String::new();
        while let Some(c) = self.peek(0).filter(|c| "<>&|-".contains(*c)) {
            op.push(c);
            self.pos += 1;
        }
        if op.ends_with('&') {
            // >&3, <&3: the descriptor is part of the operator.
            while self.peek(0).is_some_and(|c| c.is_ascii_digit() || c == '-') {
                self.pos += 1;
            }
            return;
        }
        while self.peek(0).is_some_and(|c| c == ' ' || c == '\t') {
            self.pos += 1;
        }
        let mut target = String::new();
        let mut quoted = false;
        while let Some(c) = self.peek(0) {
            if " \t\n;&|()<>".contains(c) {
                break;
            }
            if c == '\'' || c == '"' {
                quoted = true;
            } else {
                target.push(c);
            }
            self.pos += 1;
        }
        if op.starts_with("<<") && op != "<<<" {
            heredocs.push((target, !quoted));
        }
    }

    /// After a newline: skips the bodies of pending heredocs; the `$( … )` of
    /// unquoted ones run, so their commands count.
    fn heredoc_bodies(&mut self, heredocs: &mut Vec<(String, bool)>) {
        for (delimiter, expands) in heredocs.drain(..) {
            loop {
                let start = self.pos;
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let line: String = self.chars[start..self.pos].iter().collect();
                if self.peek(0).is_some() {
                    self.pos += 1;
                }
                if line.trim_start_matches('\t') == delimiter || self.peek(0).is_none() {
                    break;
                }
                if expands {
                    let mut rest = line.as_str();
                    while let Some(at) = rest.find("$(") {
                        let inner = &rest[at + 2..];
                        let end = inner.find(')').unwrap_or(inner.len());
                        self.out.extend(commands(&inner[..end]));
                        rest = &inner[end..];
                    }
                }
            }
        }
    }
}

fn end_word(command: &mut Vec<String>, word: &mut String, in_word: &mut bool) {
    if *in_word {
        command.push(std::mem::take(word));
        *in_word = false;
    }
}

#[test]
fn reads_the_commands_of_a_script() {
    let script = r#"
set -eu
make() {
  [ -s "$1" ] && return 0
  value=$(head -c 9 /dev/urandom | tr -dc 'a-z' | head -c "$2")
  printf '%s\n' "$value" > "$1.partial"   # a comment
}
make a 3
exec 3<>/dev/tcp/127.0.0.1/80 && printf 'x' >&3 && head -n 1 <&3 | grep -q ' 200 '
cat <<MSG
  password: $(cat "$dir/pw")
MSG
cat <<'RAW'
  $(not-run)
RAW
FOO=bar exec bamfctl login --email "$ADMIN_EMAIL" \
  --password-stdin < "$dir/admin-password" >/dev/null
"#;
    let programs: Vec<String> = programs(script).into_iter().collect();
    assert_eq!(programs, ["bamfctl", "cat", "grep", "head", "tr"]);
    let login = commands(script)
        .into_iter()
        .find_map(|c| invocation(&c).filter(|(p, _)| p == "bamfctl"))
        .expect("the bamfctl line is a command");
    assert_eq!(
        login.1,
        ["login", "--email", "$ADMIN_EMAIL", "--password-stdin"]
    );
}
