//! deploy/compose.yaml's wiring: listen, published and advertised ports and
//! addresses, the URLs between services, and healthchecks that run programs
//! of their image against the port the program serves health on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::compose::{Compose, Service};
use crate::image::Dockerfile;
use crate::programs::Loaded;
use crate::stack;
use crate::{dev_tcp, health_addr, host_port, is_shell, nats_conf, shell};

/// The host port a service publishes for `container` (and its host IP).
fn published(service: &Service, container: u16, protocol: &str) -> (Option<String>, u16) {
    let port = service
        .ports()
        .into_iter()
        .find(|p| p.container == container && p.protocol == protocol)
        .unwrap_or_else(|| panic!("{} does not publish {container}/{protocol}", service.name));
    (port.host_ip, port.host)
}

/// The port a target service listens on: its Dockerfile's EXPOSE, or the
/// documented port of a known image.
fn target_port(service: &Service) -> u16 {
    if let Some(dockerfile) = service.dockerfile() {
        let file = Dockerfile::read(&dockerfile);
        let expose = file
            .stages
            .last()
            .unwrap()
            .instructions
            .iter()
            .find(|(i, _)| i == "EXPOSE")
            .unwrap_or_else(|| panic!("{} has no EXPOSE", dockerfile.display()));
        return expose.1.split('/').next().unwrap().parse().expect("a port");
    }
    match service.image().unwrap_or_default().split(':').next() {
        Some("postgres") => 5432,
        other => panic!(
            "{}: the port of image {other:?} is not known here",
            service.name
        ),
    }
}

#[test]
fn ports_and_addresses_line_up() {
    let compose = Compose::load();
    let configs = stack::configs(&compose);
    let nats = nats_conf::read();
    let by_image = |prefix: &str| -> Vec<String> {
        compose
            .services()
            .iter()
            .filter(|s| s.image().is_some_and(|i| i.starts_with(prefix)))
            .map(|s| s.name.clone())
            .collect()
    };
    let nats_services = by_image("nats:");
    let api_listen: BTreeMap<&String, SocketAddr> = configs
        .iter()
        .filter_map(|(n, c)| match c {
            Loaded::Api(api) => Some((n, api.listen)),
            _ => None,
        })
        .collect();
    let check_nats = |who: &str, url: &str| {
        let (host, port) = host_port(url);
        assert!(
            nats_services.contains(&host),
            "{who}: NATS at {host}, not a NATS service"
        );
        assert_eq!(
            port, nats.listen_port,
            "{who}: {url} is not nats-server's listen port"
        );
    };
    let check_api = |who: &str, url: &str| {
        let (host, port) = host_port(url);
        let listen = api_listen
            .get(&host)
            .unwrap_or_else(|| panic!("{who}: {url}: {host} is not a service running bamf-api"));
        assert_eq!(
            port,
            listen.port(),
            "{who}: {url} is not where bamf-api listens"
        );
    };

    let mut agent_resources = BTreeMap::new();
    for (name, config) in &configs {
        let service = compose.service(name);
        match config {
            Loaded::Api(api) => {
                check_nats(name, &api.nats_url);
                assert!(
                    api.listen.ip().is_unspecified(),
                    "{name}: published but listens on {}",
                    api.listen
                );
                published(&service, api.listen.port(), "tcp");
                let db = reqwest::Url::parse(&api.database_url).expect("a URL");
                let pg = compose.service(db.host_str().expect("a host"));
                assert!(
                    pg.image().is_some_and(|i| i.starts_with("postgres:")),
                    "{name}: database_url names {}",
                    pg.name
                );
                assert_eq!(db.port_or_known_default(), Some(target_port(&pg)));
                let pg_env = pg.environment();
                assert_eq!(
                    Some(db.username()),
                    pg_env.get("POSTGRES_USER").map(String::as_str)
                );
                assert_eq!(
                    db.password(),
                    pg_env.get("POSTGRES_PASSWORD").map(String::as_str)
                );
                assert_eq!(
                    Some(db.path().trim_start_matches('/')),
                    pg_env.get("POSTGRES_DB").map(String::as_str)
                );
            }
            Loaded::Bridge(bridge) => {
                check_nats(name, &bridge.nats_url);
                check_api(name, &bridge.api_url);
                assert!(bridge.quic_listen.ip().is_unspecified());
                let (host_ip, host_port) = published(&service, bridge.quic_listen.port(), "udp");
                let (advertised_host, advertised_port) = bridge
                    .advertise_address
                    .rsplit_once(':')
                    .expect("advertise_address is host:port");
                assert_eq!(
                    advertised_port.parse::<u16>().ok(),
                    Some(host_port),
                    "{name}: advertises another port than it publishes"
                );
                if let Some(ip) = &host_ip {
                    assert!(
                        ip == advertised_host || ip == "0.0.0.0",
                        "{name}: advertises {advertised_host}, publishes on {ip}"
                    );
                }
                // A loopback address reaches this bridge from an agent only
                // inside the bridge's network namespace.
                if advertised_host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
                {
                    for other in compose.services() {
                        if matches!(configs.get(&other.name), Some(Loaded::Agent(_))) {
                            assert_eq!(other.str("network_mode"), Some(format!("service:{name}").as_str()),
                                "agent {} can't reach {advertised_host}: it is not in {name}'s network namespace", other.name);
                        }
                    }
                }
            }
            Loaded::Agent(agent) => {
                check_nats(name, &agent.nats_url);
                check_api(name, &agent.platform_url);
                for resource in &agent.resources {
                    let target = compose.service(&resource.host);
                    assert_eq!(
                        resource.port,
                        target_port(&target),
                        "{name}: resource {} port",
                        resource.name
                    );
                    agent_resources.insert(
                        resource.name.clone(),
                        (resource.kind.clone(), target.name.clone()),
                    );
                }
            }
        }
    }
    // The demo targets the issue names: `demo` (an sshd) and `demo-db`.
    let (kind, host) = agent_resources.get("demo").expect("a resource named demo");
    assert_eq!(kind, "ssh");
    assert!(
        stack::image_of(&compose.service(host))
            .resolve("sshd")
            .is_some(),
        "demo's target runs no sshd"
    );
    let (kind, host) = agent_resources
        .get("demo-db")
        .expect("a resource named demo-db");
    assert_eq!(kind, "postgres");
    assert!(compose
        .service(host)
        .image()
        .is_some_and(|i| i.starts_with("postgres:")));

    // setup: the API it talks to, the admin the API creates, the URL it prints.
    let setup = compose.service("setup").environment();
    check_api("setup", &setup["BAMF_API_URL"]);
    let Some(Loaded::Api(api)) = configs.get("api") else {
        panic!("api runs bamf-api")
    };
    assert_eq!(
        setup["ADMIN_EMAIL"], api.admin_email,
        "setup logs in as another admin"
    );
    let (host, port) = host_port(&setup["PUBLIC_API_URL"]);
    let (ip, published_port) = published(&compose.service("api"), api.listen.port(), "tcp");
    assert_eq!(
        (Some(host), port),
        (ip, published_port),
        "PUBLIC_API_URL is not where the API is published"
    );
}

#[test]
fn healthchecks_run_programs_of_their_image_and_ask_the_right_port() {
    let compose = Compose::load();
    let configs = stack::configs(&compose);
    let nats = nats_conf::read();
    for service in compose.services() {
        let Some(check) = service.healthcheck() else {
            assert_eq!(
                service.str("restart"),
                Some("no"),
                "{}: a long-running service without a healthcheck",
                service.name
            );
            continue;
        };
        let image = stack::image_of(&service);
        let mut ran: BTreeSet<String> = [check[0].clone()].into();
        if is_shell(&check[0]) && check.get(1).map(String::as_str) == Some("-c") {
            ran.extend(shell::programs(&check[2]));
        }
        for program in &ran {
            assert!(
                image.resolve(program).is_some(),
                "{}: the healthcheck runs {program}, which is not in {}",
                service.name,
                image.name
            );
        }
        let script = check.join(" ");
        if let Some(config) = configs.get(&service.name) {
            let addr = health_addr(config);
            let (host, port) = dev_tcp(&script).unwrap_or_else(|| {
                panic!("{}: the healthcheck asks no /dev/tcp port", service.name)
            });
            assert_eq!(
                port,
                addr.port(),
                "{}: the healthcheck asks port {port}, the program serves health on {addr}",
                service.name
            );
            let ip: std::net::IpAddr = host.parse().expect("an IP address");
            assert!(
                addr.ip() == ip || addr.ip().is_unspecified(),
                "{}: {host} does not reach {addr}",
                service.name
            );
            assert!(
                script.contains("/readyz"),
                "{}: the healthcheck must ask /readyz",
                service.name
            );
        } else if service.image().is_some_and(|i| i.starts_with("nats:")) {
            assert!(
                script.contains(&format!(":{}/healthz", nats.http_port)),
                "{}: not nats-server's monitoring port {}",
                service.name,
                nats.http_port
            );
        } else if check[0] == "pg_isready" {
            let env = service.environment();
            let flag = |f: &str| check.iter().skip_while(|a| *a != f).nth(1).cloned();
            assert_eq!(
                flag("-U"),
                env.get("POSTGRES_USER").cloned(),
                "{}",
                service.name
            );
            assert_eq!(
                flag("-d"),
                env.get("POSTGRES_DB").cloned(),
                "{}",
                service.name
            );
        }
    }
}
