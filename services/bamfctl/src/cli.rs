//! The command line: global flags and the command tree. Each group's
//! arguments live next to its code in `cmd/`.

use clap::{Parser, Subcommand};

use crate::cmd::{
    agents, audit, auth, logins, psql, resources, roles, sessions, ssh, tcp, tokens, users,
};

/// bamf command-line client: short-lived, audited access to private infrastructure.
#[derive(Parser, Debug)]
#[command(
    name = "bamfctl",
    version,
    after_help = "Examples:\n  \
        bamfctl login --email ada@example.com\n  \
        bamfctl resources --type postgres\n  \
        bamfctl --api-url https://bamf.example.com users ls --json"
)]
pub struct Cli {
    /// URL of the bamf API [default: the URL saved at login, else http://127.0.0.1:8080].
    #[arg(long, global = true, env = "BAMF_API_URL", value_name = "URL")]
    pub api_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print bamfctl's version.
    #[command(after_help = "Example:\n  bamfctl version")]
    Version,
    /// Log in with an e-mail and password and save the login in ~/.bamf/credentials.json.
    #[command(after_help = "Examples:\n  \
        bamfctl login --email ada@example.com\n  \
        printf '%s\\n' \"$PASSWORD\" | bamfctl login --email ada@example.com --password-stdin --ttl 1h")]
    Login(auth::LoginArgs),
    /// End the saved login on the server and delete the credentials file.
    #[command(after_help = "Example:\n  bamfctl logout")]
    Logout,
    /// Show who you are logged in as, your roles, and until when.
    #[command(after_help = "Examples:\n  bamfctl status\n  bamfctl status --json")]
    Status(auth::StatusArgs),
    /// Manage users (admin; audit may list and get).
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        bamfctl users ls\n  \
        bamfctl users create bob@example.com --name Bob --role dev --generate-password"
    )]
    Users(users::UsersCommand),
    /// Manage roles and who holds them.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        bamfctl roles create -f dba.yaml\n  \
        bamfctl roles bind bob@example.com dba"
    )]
    Roles(roles::RolesCommand),
    /// Manage agent join tokens (admin).
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        bamfctl tokens create --name edge-1 --ttl 1h --uses 1 --label env=dev\n  \
        bamfctl tokens ls"
    )]
    Tokens(tokens::TokensCommand),
    /// List and remove agents (admin; audit may list).
    #[command(
        subcommand,
        after_help = "Examples:\n  bamfctl agents ls\n  bamfctl agents rm <agent-id>"
    )]
    Agents(agents::AgentsCommand),
    /// List the resources you may reach, optionally filtered by type and labels.
    #[command(after_help = "Examples:\n  \
        bamfctl resources\n  \
        bamfctl resources --type postgres --label env=dev --json")]
    Resources(resources::ResourcesArgs),
    /// List and revoke logins (your own; admins and auditors see everyone's).
    #[command(
        subcommand,
        after_help = "Examples:\n  \
        bamfctl logins ls --all\n  \
        bamfctl logins revoke --email bob@example.com"
    )]
    Logins(logins::LoginsCommand),
    /// Forward a local port (or stdin/stdout) to a resource through a bamf tunnel.
    #[command(after_help = "Examples:\n  \
        bamfctl tcp orders-db -p 15432\n  \
        bamfctl tcp redis-cache --exec \"redis-cli -h {host} -p {port} ping\"\n  \
        ssh -o ProxyCommand=\"bamfctl tcp --stdio web-1\" web-1")]
    Tcp(tcp::TcpArgs),
    /// Run native ssh to a resource through a bamf tunnel; every ssh flag passes through.
    #[command(after_help = "Examples:\n  \
        bamfctl ssh ada@web-1\n  \
        bamfctl ssh web-1 -A -L 8080:localhost:80 uptime")]
    Ssh(ssh::SshArgs),
    /// Run native psql against a PostgreSQL resource through a bamf tunnel.
    #[command(after_help = "Examples:\n  \
        bamfctl psql orders-db -U app -d orders\n  \
        bamfctl psql orders-db -U app -c 'select 1'")]
    Psql(psql::PsqlArgs),
    /// List, watch and kill tunnel sessions.
    #[command(
        subcommand,
        after_help = "Examples:\n  bamfctl sessions ls\n  bamfctl sessions watch\n  bamfctl sessions kill <session-id>"
    )]
    Sessions(sessions::SessionsCommand),
    /// Work with the audit trail: verify an export's seals offline.
    #[command(
        subcommand,
        after_help = "Example:\n  bamfctl audit verify --file audit.jsonl --public-key audit-seal.pub.pem"
    )]
    Audit(audit::AuditCommand),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `--help` on every command says what it does and shows an example.
    #[test]
    fn every_command_has_a_description_and_an_example() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name());
                let has_about = sub.get_about().is_some_and(|a| !a.to_string().is_empty());
                let has_example = sub
                    .get_after_help()
                    .is_some_and(|h| h.to_string().contains("bamfctl "));
                if !has_about || !has_example {
                    missing.push(path.clone());
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "bamfctl", &mut missing);
        assert!(
            missing.is_empty(),
            "without description or example: {missing:?}"
        );
    }
}
