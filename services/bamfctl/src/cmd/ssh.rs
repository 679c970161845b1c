//! `ssh`: native OpenSSH through a tunnel. ssh runs `bamfctl tcp --stdio` as
//! its `ProxyCommand`, so every ssh flag, agent forwarding, scp-style use and
//! host-key checking keep working as usual.

use anyhow::{bail, Context, Result};
use clap::Args;

use super::connect::exit_with;
use crate::context::Ctx;

#[derive(Args, Debug)]
pub struct SshArgs {
    /// `[user@]resource`: the resource to reach, and the remote user.
    pub destination: String,
    /// Anything for ssh: flags and the remote command, passed through as given.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "SSH ARGS"
    )]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, args: SshArgs) -> Result<()> {
    // Fail before starting ssh when there is no usable login.
    ctx.login()?;
    let exe = std::env::current_exe().context("cannot find the bamfctl executable")?;
    let exe = exe
        .to_str()
        .context("the bamfctl executable's path is not UTF-8")?;
    let argv = ssh_argv(exe, &ctx.api_url, &args.destination, &args.args)?;
    let status = tokio::process::Command::new("ssh")
        .args(&argv)
        .status()
        .await
        .context("cannot run ssh; is OpenSSH installed?")?;
    exit_with(status)
}

/// `user@resource` → (Some(user), resource); `resource` → (None, resource).
pub fn split_destination(destination: &str) -> Result<(Option<&str>, &str)> {
    let (user, resource) = match destination.rsplit_once('@') {
        Some((user, resource)) => (Some(user), resource),
        None => (None, destination),
    };
    if resource.is_empty() || user.is_some_and(str::is_empty) {
        bail!("destination {destination:?} is not [user@]resource");
    }
    Ok((user, resource))
}

/// ssh's arguments: the ProxyCommand running this bamfctl in `--stdio`
/// mode, the resource as host-key alias (known_hosts entries follow the
/// resource, not a bridge address), the user, the host, then `rest`.
pub fn ssh_argv(
    exe: &str,
    api_url: &str,
    destination: &str,
    rest: &[String],
) -> Result<Vec<String>> {
    let (user, resource) = split_destination(destination)?;
    let proxy = [exe, "--api-url", api_url, "tcp", "--stdio", resource]
        .iter()
        .map(|part| proxy_quote(part))
        .collect::<Vec<_>>()
        .join(" ");
    let mut argv = vec![
        "-o".to_owned(),
        format!("ProxyCommand={proxy}"),
        "-o".to_owned(),
        format!("HostKeyAlias={resource}"),
    ];
    if let Some(user) = user {
        argv.extend(["-l".to_owned(), user.to_owned()]);
    }
    argv.push(resource.to_owned());
    argv.extend(rest.iter().cloned());
    Ok(argv)
}

/// One word of a ProxyCommand: ssh runs it with `$SHELL -c`, after
/// expanding `%` tokens, so it is shell-quoted and `%` is doubled.
pub fn proxy_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@+=:,./_-".contains(c));
    let quoted = if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    };
    quoted.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_splits_at_the_last_at_sign() {
        assert_eq!(split_destination("web-1").unwrap(), (None, "web-1"));
        assert_eq!(
            split_destination("ada@web-1").unwrap(),
            (Some("ada"), "web-1")
        );
        assert_eq!(
            split_destination("ada@corp@web-1").unwrap(),
            (Some("ada@corp"), "web-1")
        );
        assert!(split_destination("ada@").is_err());
        assert!(split_destination("@web-1").is_err());
        assert!(split_destination("").is_err());
    }

    #[test]
    fn ssh_gets_the_proxy_command_the_alias_the_user_and_every_flag() {
        let rest = vec![
            "-p".to_owned(),
            "2222".to_owned(),
            "uname".to_owned(),
            "-a".to_owned(),
        ];
        let argv = ssh_argv(
            "/usr/bin/bamfctl",
            "https://bamf.example",
            "ada@web-1",
            &rest,
        )
        .unwrap();
        assert_eq!(
            argv,
            [
                "-o",
                "ProxyCommand=/usr/bin/bamfctl --api-url https://bamf.example tcp --stdio web-1",
                "-o",
                "HostKeyAlias=web-1",
                "-l",
                "ada",
                "web-1",
                "-p",
                "2222",
                "uname",
                "-a",
            ]
        );
    }

    #[test]
    fn the_proxy_command_quotes_for_the_shell_and_escapes_percent() {
        assert_eq!(proxy_quote("plain-1.2"), "plain-1.2");
        assert_eq!(
            proxy_quote("/opt/my tools/bamfctl"),
            "'/opt/my tools/bamfctl'"
        );
        assert_eq!(proxy_quote("it's"), r"'it'\''s'");
        assert_eq!(proxy_quote("a%h"), "'a%%h'");
        assert_eq!(proxy_quote("$(rm -rf x)"), "'$(rm -rf x)'");
        assert_eq!(proxy_quote(""), "''");
        let argv = ssh_argv("/opt/my tools/bamfctl", "http://h:8080/", "db", &[]).unwrap();
        assert_eq!(
            argv[1],
            "ProxyCommand='/opt/my tools/bamfctl' --api-url http://h:8080/ tcp --stdio db"
        );
        assert_eq!(argv.last().unwrap(), "db");
    }
}
