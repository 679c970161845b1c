//! deploy/k8s's wiring: container ports and listen addresses, probes, the
//! Services between the parts, one UDP Service per bridge pod at the address
//! the pod advertises, the agent's identity volume, and the API's HPA.

use std::net::SocketAddr;

use serde_yaml::Value;

use crate::host_port;
use crate::k8s::{self, Manifests};
use crate::kubernetes::{load, nats_values};
use crate::programs::Loaded;

/// A Service by name, and the container port its `targetPort` names.
fn service_port(manifests: &Manifests, name: &str) -> (u16, String) {
    let service = manifests.named("Service", name);
    let port = &service["spec"]["ports"][0];
    let number = port["port"].as_u64().expect("a port") as u16;
    (
        number,
        port["targetPort"]
            .as_str()
            .expect("a named targetPort")
            .to_string(),
    )
}

#[test]
fn k8s_ports_addresses_and_bridge_services_line_up() {
    let manifests = Manifests::load();
    let api = manifests.workload("bamf-api");
    let api_container = api.container("api");
    let Some((_, _, Loaded::Api(api_config))) = load(&manifests, &api, api_container, 0) else {
        panic!("bamf-api")
    };
    let (http, _) = k8s::port_named(api_container, "http").expect("an http port");
    assert_eq!(http, api_config.listen.port());
    assert!(
        api_config.listen.ip().is_unspecified(),
        "the API must listen beyond the pod"
    );
    let api_service = manifests.named("Service", "bamf-api");
    assert!(k8s::selects(
        &api_service["spec"]["selector"],
        &api.pod_labels()
    ));
    let (api_port, target) = service_port(&manifests, "bamf-api");
    assert_eq!(target, "http");
    // The CA init container writes where the API reads it.
    let init = api.container("ca");
    let (volume, _) = api
        .volume_at(init, &api_config.data_dir.to_string_lossy())
        .expect("ca writes data_dir");
    let (same, _) = api
        .volume_at(api_container, &api_config.data_dir.to_string_lossy())
        .expect("api mounts data_dir");
    assert_eq!(volume["name"], same["name"]);

    let values = nats_values();
    let nats_port = values["config"]["nats"]["port"].as_u64().unwrap_or(4222) as u16; // the chart's default
    let check_nats = |who: &str, url: &str| {
        assert_eq!(
            host_port(url),
            ("nats".to_string(), nats_port),
            "{who}: the chart's release `nats`"
        )
    };
    let check_api = |who: &str, url: &str| {
        assert_eq!(
            host_port(url),
            ("bamf-api".to_string(), api_port),
            "{who}: the bamf-api Service"
        )
    };
    check_nats("api", &api_config.nats_url);

    // Probes ask ports the containers have, readiness on /readyz.
    for workload in manifests.workloads() {
        for container in workload.containers() {
            for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                let get = &container[probe]["httpGet"];
                if let Some(port) = get["port"].as_str() {
                    assert!(
                        k8s::port_named(container, port).is_some(),
                        "{}: {probe} asks port {port}",
                        workload.name()
                    );
                    let path = get["path"].as_str().unwrap();
                    assert_eq!(
                        path,
                        if probe == "readinessProbe" {
                            "/readyz"
                        } else {
                            "/healthz"
                        }
                    );
                }
            }
        }
    }

    // Bridges: one UDP Service per pod, at the address the pod advertises.
    let bridge = manifests.workload("bamf-bridge");
    assert_eq!(bridge.kind(), "StatefulSet");
    let replicas = bridge.value["spec"]["replicas"].as_u64().expect("replicas") as u32;
    let container = bridge.container("bridge");
    let per_pod: Vec<&Value> = manifests
        .of_kind("Service")
        .into_iter()
        .filter(|s| !s["spec"]["selector"]["statefulset.kubernetes.io/pod-name"].is_null())
        .collect();
    assert_eq!(per_pod.len() as u32, replicas, "one Service per bridge pod");
    for ordinal in 0..replicas {
        let pod = bridge.pod_name(ordinal);
        let Some((_, _, Loaded::Bridge(config))) = load(&manifests, &bridge, container, ordinal)
        else {
            panic!("bamf-bridge")
        };
        assert_eq!(config.bridge_id, pod);
        check_nats(&pod, &config.nats_url);
        check_api(&pod, &config.api_url);
        let (quic, protocol) = k8s::port_named(container, "quic").expect("a quic port");
        assert_eq!(
            (quic, protocol.as_str()),
            (config.quic_listen.port(), "UDP")
        );
        assert_health(container, config.health_listen, &pod);
        let service = per_pod
            .iter()
            .find(|s| s["spec"]["selector"]["statefulset.kubernetes.io/pod-name"] == pod.as_str())
            .unwrap_or_else(|| panic!("no Service for {pod}"));
        let port = &service["spec"]["ports"][0];
        assert_eq!(port["protocol"].as_str(), Some("UDP"));
        assert_eq!(port["targetPort"].as_str(), Some("quic"));
        let hostname = service["metadata"]["annotations"]
            ["external-dns.alpha.kubernetes.io/hostname"]
            .as_str()
            .expect("a DNS name");
        assert_eq!(
            config.advertise_address,
            format!("{hostname}:{}", port["port"].as_u64().unwrap()),
            "{pod} advertises another address than its Service's"
        );
    }

    let agent = manifests.workload("bamf-agent");
    let container = agent.container("agent");
    let Some((_, _, Loaded::Agent(config))) = load(&manifests, &agent, container, 0) else {
        panic!("bamf-agent")
    };
    check_nats("agent", &config.nats_url);
    check_api("agent", &config.platform_url);
    assert_health(container, config.health_listen, "agent");
    assert_eq!(
        agent.value["spec"]["replicas"].as_u64(),
        Some(1),
        "one pod per agent identity"
    );
    assert_eq!(
        agent.value["spec"]["strategy"]["type"].as_str(),
        Some("Recreate")
    );
    let (volume, _) = agent
        .volume_at(container, &config.data_dir.to_string_lossy())
        .expect("data_dir is mounted");
    assert!(
        !volume["persistentVolumeClaim"].is_null(),
        "the agent's identity must survive the pod"
    );

    // The HPA scales the API Deployment, which leaves the count to it.
    let hpa = manifests.named("HorizontalPodAutoscaler", "bamf-api");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["kind"].as_str(),
        Some("Deployment")
    );
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"].as_str(),
        Some(api.name())
    );
    assert!(
        api.value["spec"]["replicas"].is_null(),
        "the HPA owns the API's replicas"
    );
    assert!(
        !api_container["resources"]["requests"]["cpu"].is_null(),
        "CPU utilisation needs a CPU request"
    );
}

fn assert_health(container: &Value, addr: SocketAddr, who: &str) {
    let (port, _) = k8s::port_named(container, "health").expect("a health port");
    assert_eq!(port, addr.port(), "{who}: health port");
    assert!(
        addr.ip().is_unspecified(),
        "{who}: the kubelet's probes come from outside the pod"
    );
}
