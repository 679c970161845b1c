//! `bamfctl ssh` wrapping the real `ssh` against a real sshd through the
//! whole stack.

use super::e2e::{run_bamfctl, E2e};
use super::*;

/// A real OpenSSH server on a loopback port with key auth only, for the
/// current user. (Debian's sshd needs its privilege-separation directory,
/// which the openssh-server package normally creates at boot.)
struct Sshd {
    _process: tokio::process::Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Sshd {
    async fn start() -> Sshd {
        use tokio::io::AsyncBufReadExt;
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege-separation dir");
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        for key in ["host_key", "user_key"] {
            let status = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path(key))
                .status()
                .expect("ssh-keygen runs");
            assert!(status.success());
        }
        std::fs::copy(path("user_key.pub"), path("authorized_keys")).unwrap();
        // A free port: bound, read and released just before sshd binds it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {}\nAuthorizedKeysFile {}\n\
             PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n",
            path("host_key").display(),
            path("authorized_keys").display()
        );
        std::fs::write(path("sshd_config"), config).unwrap();
        let mut process = tokio::process::Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sshd starts");
        // Ready when sshd says it listens (it logs to stderr with -e).
        let mut lines = tokio::io::BufReader::new(process.stderr.take().unwrap()).lines();
        tokio::time::timeout(TIMEOUT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.starts_with("Server listening on 127.0.0.1") {
                    return;
                }
            }
            panic!("sshd exited before listening");
        })
        .await
        .expect("sshd listens in time");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Sshd {
            _process: process,
            addr: ([127, 0, 0, 1], port).into(),
            dir,
        }
    }
}

#[tokio::test]
async fn bamfctl_ssh_runs_native_ssh_through_the_tunnel() {
    let sshd = Sshd::start().await;
    let e2e = E2e::start(vec![harness::resource("box", sshd.addr)]).await;
    let (_, tunnel) = e2e.wait_connectable("box").await;
    tunnel.close().await;
    let cli = bamfctl_bin::Bamfctl::new(&e2e.stack.url);
    cli.login("admin@corp.example", "admin password 123").await;

    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let known_hosts = sshd.dir.path().join("known_hosts");
    let key = sshd.dir.path().join("user_key");
    let destination = format!("{user}@box");
    let known = format!("UserKnownHostsFile={}", known_hosts.display());
    let out = run_bamfctl(
        &e2e,
        &cli,
        &[
            "ssh",
            &destination,
            "-i",
            key.to_str().unwrap(),
            "-o",
            &known,
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "HashKnownHosts=no",
            "-o",
            "BatchMode=yes",
            "-o",
            "LogLevel=ERROR",
            "echo hello-$((6*7)); exit 3",
        ],
        &[],
    )
    .await;
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(3), "hello-42\n"),
        "ssh's status and output come back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The host key was recorded under the resource's name (HostKeyAlias).
    let recorded = std::fs::read_to_string(&known_hosts).expect("known_hosts written");
    assert!(recorded.starts_with("box "), "{recorded}");

    // Native scp of 50 MB through the same kind of tunnel (scp has no
    // bamfctl wrapper: its ProxyCommand is `bamfctl tcp --stdio`); the copy's
    // checksum matches.
    let source = sshd.dir.path().join("fifty-mb");
    let mut data = vec![0u8; 50 * 1024 * 1024];
    let mut x: u32 = 0x9e37_79b9;
    for b in data.iter_mut() {
        // xorshift: incompressible, so nothing along the way can shortcut it.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    std::fs::write(&source, &data).unwrap();
    let copy = sshd.dir.path().join("fifty-mb.copy");
    let home = cli.credentials().parent().unwrap().to_path_buf();
    let proxy = format!(
        "ProxyCommand={} --api-url {} tcp --stdio box",
        bamfctl_bin::binary().display(),
        e2e.stack.url
    );
    let scp = tokio::process::Command::new("scp")
        .env("BAMF_HOME", &home)
        .env_remove("BAMF_API_URL")
        // -O: the classic scp protocol (the test sshd runs no sftp subsystem).
        .args(["-O", "-q", "-i", key.to_str().unwrap()])
        .args(["-o", &proxy, "-o", "HostKeyAlias=box", "-o", &known])
        .args(["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"])
        .arg(source.to_str().unwrap())
        .arg(format!("{user}@box:{}", copy.display()))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), scp)
        .await
        .expect("scp finishes")
        .expect("scp runs");
    assert!(
        out.status.success(),
        "scp failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    use sha2::Digest;
    let copied = std::fs::read(&copy).expect("the copy exists");
    assert_eq!(copied.len(), data.len());
    assert_eq!(sha2::Sha256::digest(&copied), sha2::Sha256::digest(&data));
    e2e.stop().await;
}
