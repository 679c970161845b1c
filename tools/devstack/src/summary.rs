//! What the stack prints once it is up: a row per component (pid, address,
//! data, log), how to log in, and the commands to try on the demo targets.

use std::path::{Path, PathBuf};

/// One component's row.
pub struct Row {
    pub name: &'static str,
    /// `-` for a server the stack does not run.
    pub pid: String,
    pub address: String,
    pub data: String,
    pub log: String,
}

impl Row {
    pub fn new(
        name: &'static str,
        pid: Option<u32>,
        address: String,
        data: &Path,
        log: &Path,
    ) -> Self {
        Row {
            name,
            pid: pid.map_or_else(|| "-".into(), |pid| pid.to_string()),
            address,
            data: data.display().to_string(),
            log: log.display().to_string(),
        }
    }
}

/// The demo sshd, for the commands to try.
pub struct SshHints {
    /// The stack's client key, as the user can type it.
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    /// How many of the developer's `~/.ssh/*.pub` sshd accepts.
    pub own_keys: usize,
}

/// Everything printed after start-up.
pub struct Summary {
    pub rows: Vec<Row>,
    pub api_url: String,
    pub admin_email: &'static str,
    pub admin_file: PathBuf,
    pub ssh: Option<SshHints>,
    /// The role psql uses by default in the demo cluster, when it runs.
    pub demo_db_user: Option<String>,
}

impl Summary {
    pub fn print(&self) {
        println!();
        for line in self.lines() {
            println!("{line}");
        }
    }

    fn lines(&self) -> Vec<String> {
        // Columns as wide as their longest value; the log path comes last.
        let header = Row {
            name: "component",
            pid: "pid".into(),
            address: "address".into(),
            data: "data".into(),
            log: "log".into(),
        };
        let all: Vec<&Row> = std::iter::once(&header).chain(&self.rows).collect();
        let width = |cell: fn(&Row) -> usize| all.iter().map(|r| cell(r)).max().unwrap_or(0);
        let (w_name, w_pid) = (width(|r| r.name.len()), width(|r| r.pid.len()));
        let (w_address, w_data) = (width(|r| r.address.len()), width(|r| r.data.len()));
        let mut lines: Vec<String> = all
            .iter()
            .map(|r| {
                format!(
                    "{:<w_name$}  {:<w_pid$}  {:<w_address$}  {:<w_data$}  {}",
                    r.name, r.pid, r.address, r.data, r.log
                )
            })
            .collect();
        lines.push(String::new());
        lines.push(format!("bamfctl: export BAMF_API_URL={}", self.api_url));
        lines.push(format!(
            "log in:  bamfctl --api-url {} login --email {} --password-stdin < {}",
            self.api_url,
            self.admin_email,
            self.admin_file.display()
        ));
        lines.push("then try:".into());
        lines.push("  bamfctl resources".into());
        if let Some(ssh) = &self.ssh {
            let mine = match ssh.own_keys {
                0 => "no key in ~/.ssh was found: use the stack's key, below".to_string(),
                n => format!("with your key(s) from ~/.ssh ({n} accepted); ssh asks once to trust host \"demo\""),
            };
            lines.push(format!("  bamfctl ssh demo -- uname -a    # {mine}"));
            lines.push(format!(
                "  bamfctl ssh demo -- -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} uname -a",
                ssh.key.display(),
                ssh.known_hosts.display()
            ));
        }
        if let Some(user) = &self.demo_db_user {
            lines.push(format!(
                "  bamfctl psql demo-db -c 'select 1'    # as role {user}, database {user}"
            ));
            lines.push("  bamfctl psql demo-db -d demo".into());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(ssh: Option<SshHints>, demo_db_user: Option<String>) -> Summary {
        Summary {
            rows: vec![
                Row::new(
                    "postgres",
                    None,
                    "postgres://u:***@h/db".into(),
                    Path::new("(DATABASE_URL)"),
                    Path::new("-"),
                ),
                Row::new(
                    "bridge",
                    Some(42),
                    "quic://127.0.0.1:4433".into(),
                    Path::new("/s/bridge"),
                    Path::new("/s/logs/bridge.log"),
                ),
            ],
            api_url: "http://127.0.0.1:8080".into(),
            admin_email: "admin@bamf.local",
            admin_file: ".stack/admin-password".into(),
            ssh,
            demo_db_user,
        }
    }

    #[test]
    fn rows_start_with_name_and_pid() {
        let lines = summary(None, None).lines();
        let words =
            |i: usize| -> Vec<String> { lines[i].split_whitespace().map(str::to_string).collect() };
        assert_eq!(words(1)[..2], ["postgres", "-"]);
        assert_eq!(words(2)[..3], ["bridge", "42", "quic://127.0.0.1:4433"]);
    }

    #[test]
    fn the_commands_to_try_follow_what_runs() {
        let all = summary(
            Some(SshHints {
                key: ".stack/ssh/id_ed25519".into(),
                known_hosts: ".stack/ssh/known_hosts".into(),
                own_keys: 2,
            }),
            Some("ada".into()),
        )
        .lines()
        .join("\n");
        assert!(
            all.contains(
                "  bamfctl ssh demo -- uname -a    # with your key(s) from ~/.ssh (2 accepted)"
            ),
            "{all}"
        );
        assert!(all.contains("  bamfctl ssh demo -- -i .stack/ssh/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=.stack/ssh/known_hosts uname -a"), "{all}");
        assert!(
            all.contains("  bamfctl psql demo-db -c 'select 1'    # as role ada, database ada"),
            "{all}"
        );
        assert!(
            all.contains("login --email admin@bamf.local --password-stdin < .stack/admin-password"),
            "{all}"
        );

        let none = summary(None, None).lines().join("\n");
        assert!(
            !none.contains("bamfctl ssh") && !none.contains("bamfctl psql"),
            "{none}"
        );
    }
}
