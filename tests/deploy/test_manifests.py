"""deploy/k8s renders for every overlay, validates against the Kubernetes schema, has what the issue asks."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import DEFAULT_CONFIG, cluster_yaml, parse
from tests.deploy.conftest import K8S, OVERLAYS, SERVICES, TESTS, Manifest, by_kind, containers, render

KUBERNETES_VERSION = "1.32.0"
WITH_REDIS = {"dev": False, "prod": True}  # overlays that run Redis for the gateway replicas
K8S_FUSION = K8S / "base" / "gateway" / "fusion.yaml"


def test_cluster_fusion_config_is_generated_from_the_packaged_default() -> None:
    """One fusion rule everywhere: the ConfigMap's file is the packaged default with cluster addresses."""
    assert K8S_FUSION.read_text() == cluster_yaml(DEFAULT_CONFIG.read_text()), (
        "deploy/k8s/base/gateway/fusion.yaml is stale: run "
        "`python -m gateway.config --cluster > deploy/k8s/base/gateway/fusion.yaml`"
    )
    cluster = parse(yaml.safe_load(K8S_FUSION.read_text()))
    default = parse(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    assert [(t.name, t.weight) for t in cluster.tests] == [(t.name, t.weight) for t in default.tests]
    assert cluster.thresholds == default.thresholds and cluster.calibration == default.calibration


def test_every_overlay_renders_on_a_fresh_clone(k8s_tree: Path) -> None:
    """`kubectl kustomize` of each overlay works with only the committed files: no gen-secrets.sh first."""
    overlays = sorted(p.parent.name for p in (k8s_tree / "overlays").glob("*/kustomization.yaml"))
    assert overlays == sorted(OVERLAYS) and set(overlays) == set(WITH_REDIS)
    for overlay in overlays:
        objects = render(k8s_tree / "overlays" / overlay)
        assert by_kind(objects, "Deployment")["gateway"]
        assert not by_kind(objects, "Secret"), f"{overlay}: Secrets are made at deploy time, not rendered"
    assert not (k8s_tree / "base" / "secrets").exists() and not (k8s_tree / "secrets").exists()
    assert (K8S / "gen-secrets.sh").is_file()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_schema(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed (it is in the test extra)"
    )
    for obj in rendered[overlay]:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_bad_manifest(rendered: dict[str, list[Manifest]]) -> None:
    """The validation above can fail: a misspelt probe field is rejected."""
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed (it is in the test extra)"
    )
    bad: dict[str, Any] = yaml.safe_load(yaml.safe_dump(by_kind(rendered["dev"], "Deployment")["iqa"]))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"] = {"port": 50051}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_and_service_per_service(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    deployments, services = by_kind(objects, "Deployment"), by_kind(objects, "Service")
    expected = {*SERVICES, "redis"} if WITH_REDIS[overlay] else set(SERVICES)
    assert set(deployments) == expected
    assert set(services) == expected
    for name in SERVICES:
        assert services[name]["spec"]["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]
        assert {p["name"]: p["port"] for p in services[name]["spec"]["ports"]}["grpc"] == 50051
    assert all(o["metadata"].get("namespace") == "liveness" for o in objects if o["kind"] != "Namespace")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_test_is_an_instance_of_the_test_component(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    """deploy/k8s/base/<name> instantiates components/test for every registered test; its parameters reach
    every named field, and neither the template's name nor the local ConfigMap is rendered."""
    objects = rendered[overlay]
    deployments = by_kind(objects, "Deployment")
    for name in TESTS:
        instance = yaml.safe_load((K8S / "base" / name / "kustomization.yaml").read_text())
        assert instance["components"] == ["../../components/test"], name
        template = deployments[name]["spec"]["template"]
        (container,) = template["spec"]["containers"]
        assert container["name"] == name and template["spec"]["serviceAccountName"] == name
        assert container["image"].rsplit(":", 1)[0] == f"localhost/liveness-{name}"
        assert template["metadata"]["labels"]["app.kubernetes.io/name"] == name
        assert by_kind(objects, "ServiceAccount")[name]["automountServiceAccountToken"] is False
    names = {o["metadata"]["name"] for o in objects}
    assert "test" not in names
    assert not [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] in TESTS]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tests_use_headless_services_for_client_side_round_robin(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    services = by_kind(rendered[overlay], "Service")
    for name in TESTS:
        assert services[name]["spec"]["clusterIP"] == "None", f"{name}: not headless"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_config_names_every_test_by_its_headless_service(
    rendered: dict[str, list[Manifest]], overlay: str
) -> None:
    objects = rendered[overlay]
    (config_map,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gateway")
    ]
    config = parse(yaml.safe_load(config_map["data"]["fusion.yaml"]))
    assert {t.name for t in config.tests} == set(TESTS)
    assert not config.api_keys.enabled, "API-key hashes belong in the Secret, not the ConfigMap"
    for endpoint in config.tests:
        assert endpoint.address == f"dns:///{endpoint.name}:50051"
        assert endpoint.weight >= 0
    pod = by_kind(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    # The init container merges the ConfigMap and the API-key Secret into the file GATEWAY_CONFIG names.
    (init,) = pod["initContainers"]
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert init["command"][:3] == ["python", "-m", "liveness.yamlmerge"]
    out, *inputs = init["command"][3:]
    assert inputs == [f"{mounts['config']}/fusion.yaml", f"{mounts['security']}/security.yaml"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["GATEWAY_CONFIG"]["value"] == out
    assert out.startswith(mounts["run"] + "/")
    assert volumes["run"]["emptyDir"]["medium"] == "Memory"


def _secret_refs(objects: list[Manifest]) -> dict[tuple[str, str], str]:
    """(Secret name, key) -> where a rendered object uses it (env, volume item, whole volume: key "*")."""
    refs: dict[tuple[str, str], str] = {}
    for d in by_kind(objects, "Deployment").values():
        pod = d["spec"]["template"]["spec"]
        for c in containers(d):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs[(ref["name"], ref["key"])] = f"{d['metadata']['name']} env {env['name']}"
        for v in pod.get("volumes", []):
            if "secret" in v:
                items = v["secret"].get("items") or [{"key": "*"}]
                for item in items:
                    refs[(v["secret"]["secretName"], item["key"])] = (
                        f"{d['metadata']['name']} volume {v['name']}"
                    )
    for ing in by_kind(objects, "Ingress").values():
        for tls in ing["spec"].get("tls", []):
            refs[(tls["secretName"], "tls.crt")] = refs[(tls["secretName"], "tls.key")] = "ingress"
    return refs


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_for_tls_api_keys_sessions_and_redis_are_referenced_and_made_by_gen_secrets(
    rendered: dict[str, list[Manifest]], placeholder_secrets: list[Manifest], overlay: str
) -> None:
    objects = rendered[overlay]
    made = {o["metadata"]["name"]: o for o in placeholder_secrets}
    assert set(made) == {"liveness-tls", "liveness-api-keys", "liveness-gateway-session", "liveness-redis"}
    assert all(o["metadata"]["namespace"] == "liveness" for o in made.values())
    assert made["liveness-tls"]["type"] == "kubernetes.io/tls"
    assert set(made["liveness-tls"]["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    security = yaml.safe_load(base64.b64decode(made["liveness-api-keys"]["data"]["security.yaml"]))
    assert set(security) == {"security"} and security["security"]["api_keys"]
    redis_conf = base64.b64decode(made["liveness-redis"]["data"]["redis.conf"]).decode()
    password = redis_conf.removeprefix("requirepass ").strip()
    url = base64.b64decode(made["liveness-redis"]["data"]["url"]).decode()
    assert len(password) == 64 and url == f"redis://:{password}@redis:6379/0"
    refs = _secret_refs(objects)
    for (name, key), where in refs.items():
        assert name in made, f"{where} uses Secret {name}, which gen-secrets.sh does not make"
        assert key == "*" or key in made[name]["data"], f"{where} uses {name}/{key}, not made"
    pod = by_kind(objects, "Deployment")["gateway"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["security"]["secret"]["secretName"] == "liveness-api-keys"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    ref = env["GATEWAY_SESSION_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "liveness-gateway-session", "key": "session-key"}
    if WITH_REDIS[overlay]:
        ref = env["GATEWAY_REDIS_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "liveness-redis", "key": "url"}
        assert refs[("liveness-redis", "redis.conf")].startswith("redis volume")
    else:
        assert "GATEWAY_REDIS_URL" not in env  # one gateway: sessions in its own memory
    ingresses = by_kind(objects, "Ingress")
    if overlay == "prod":
        (tls,) = ingresses["gateway"]["spec"]["tls"]
        assert tls["secretName"] == "liveness-tls"
        backend = ingresses["gateway"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "gateway", "port": {"name": "grpc"}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_image_and_tag(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    for name in SERVICES:
        (image,) = {c["image"] for c in containers(deployments[name])}
        repo, _, tag = image.rpartition(":")
        assert repo.endswith(f"/liveness-{name}"), image
        assert tag and tag != "latest", image


def test_overlays_differ_in_tags_and_scale(rendered: dict[str, list[Manifest]]) -> None:
    dev, prod = (by_kind(rendered[o], "Deployment") for o in ("dev", "prod"))
    assert dev["iqa"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":dev")
    assert all(prod[name]["spec"]["replicas"] >= 2 for name in SERVICES)
    assert prod["redis"]["spec"]["replicas"] == 1  # one in-memory Redis (HA: an external one, see README)
    assert not by_kind(rendered["dev"], "HorizontalPodAutoscaler")
    assert {c["imagePullPolicy"] for d in prod.values() for c in containers(d)} == {"Always"}
    assert {c["imagePullPolicy"] for d in dev.values() for c in containers(d)} == {"IfNotPresent"}


def test_prod_autoscales_and_budgets_disruptions_per_test(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["prod"]
    hpas, pdbs = by_kind(objects, "HorizontalPodAutoscaler"), by_kind(objects, "PodDisruptionBudget")
    deployments = by_kind(objects, "Deployment")
    for name in TESTS:
        hpa = hpas[name]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        assert deployments[name]["spec"]["replicas"] == hpa["spec"]["minReplicas"]
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def _ports(container: Manifest) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_native_grpc_probes_and_grace_period(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    for name in SERVICES:
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == _ports(container)["grpc"], f"{name}.{probe}"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["LIVENESS_HOST"] == "0.0.0.0"
        assert int(env["LIVENESS_PORT"]) == _ports(container)["grpc"]
        assert int(env["LIVENESS_METRICS_PORT"]) == _ports(container)["metrics"]
        assert pod["terminationGracePeriodSeconds"] > float(env["LIVENESS_GRACE_S"]), name


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_reaches_the_tests(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    objects = rendered[overlay]
    policies = by_kind(objects, "NetworkPolicy")
    default_deny = policies["default-deny"]["spec"]
    assert default_deny["podSelector"] == {} and set(default_deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in default_deny and "egress" not in default_deny
    deployments = by_kind(objects, "Deployment")
    gateway_labels = deployments["gateway"]["spec"]["template"]["metadata"]["labels"]
    for name in TESTS:
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        rules = [
            rule
            for p in policies.values()
            if _selects(p["spec"]["podSelector"], labels)
            for rule in p["spec"].get("ingress", [])
        ]
        grpc_rules = [r for r in rules if any(port["port"] in ("grpc", 50051) for port in r.get("ports", []))]
        assert grpc_rules, f"{name}: no ingress rule for the gRPC port"
        for rule in grpc_rules:
            assert rule.get("from"), f"{name}: gRPC open to every source"
            for peer in rule["from"]:
                assert "namespaceSelector" not in peer and "ipBlock" not in peer, f"{name}: {peer}"
                assert _selects(peer["podSelector"], gateway_labels), f"{name}: {peer} is not the gateway"
                assert peer["podSelector"]["matchLabels"], f"{name}: every pod may call it"


def test_only_the_gateway_reaches_redis(rendered: dict[str, list[Manifest]]) -> None:
    objects = rendered["prod"]
    policies = by_kind(objects, "NetworkPolicy")
    deployments = by_kind(objects, "Deployment")
    redis_labels = deployments["redis"]["spec"]["template"]["metadata"]["labels"]
    gateway_labels = deployments["gateway"]["spec"]["template"]["metadata"]["labels"]
    selecting = [p["spec"] for p in policies.values() if _selects(p["spec"]["podSelector"], redis_labels)]
    assert any("Egress" in p["policyTypes"] and not p.get("egress") for p in selecting), "redis may call out"
    rules = [rule for p in selecting for rule in p.get("ingress", [])]
    assert rules
    for rule in rules:
        assert rule.get("from"), "redis open to every source"
        for peer in rule["from"]:
            assert set(peer) == {"podSelector"} and peer["podSelector"]["matchLabels"], peer
            assert _selects(peer["podSelector"], gateway_labels), f"{peer} is not the gateway"
    for name in ("iqa", "temporal"):  # a test's pod is not let in
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert not any(_selects(peer["podSelector"], labels) for r in rules for peer in r["from"])
    # The gateway's egress (default deny) is opened to Redis' port.
    egress = [
        rule
        for p in policies.values()
        if _selects(p["spec"]["podSelector"], gateway_labels)
        for rule in p["spec"].get("egress", [])
    ]
    assert any(
        any(_selects(to.get("podSelector", {"matchLabels": {"-": "-"}}), redis_labels) for to in r["to"])
        and {port["port"] for port in r["ports"]} == {6379}
        for r in egress
    )


# The policy scan CI runs (deploy/verify.sh also runs checkov where it is installed). Each rule is HIGH:
# a finding fails the build. Names follow checkov's where one exists.
def _policy_findings(deployment: Manifest) -> list[str]:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    found = []
    pod_sc = pod.get("securityContext", {})
    if pod_sc.get("runAsNonRoot") is not True:
        found.append(f"{name}: CKV_K8S_23 pod may run as root")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        found.append(f"{name}: CKV_K8S_31 no RuntimeDefault seccomp profile")
    if pod.get("automountServiceAccountToken") is not False:
        found.append(f"{name}: CKV_K8S_38 service account token mounted")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"{name}: {key} shares the node's namespaces")
    if any("hostPath" in v for v in pod.get("volumes", [])):
        found.append(f"{name}: hostPath volume")
    for c in containers(deployment):
        sc = c.get("securityContext", {})
        where = f"{name}/{c['name']}"
        if sc.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: CKV_K8S_22 writable root file system")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: CKV_K8S_20 privilege escalation allowed")
        if sc.get("privileged"):
            found.append(f"{where}: CKV_K8S_16 privileged")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []) or sc.get("capabilities", {}).get("add"):
            found.append(f"{where}: CKV_K8S_37 capabilities not dropped")
        if int(sc.get("runAsUser", pod_sc.get("runAsUser", 0))) < 10000:
            found.append(f"{where}: CKV_K8S_40 UID below 10000")
        resources = c.get("resources", {})
        for kind in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in resources.get(kind, {}):
                    found.append(f"{where}: CKV_K8S_10-13 no {res} {kind[:-1]}")
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in c and c not in pod.get("initContainers", []):
                found.append(f"{where}: CKV_K8S_8/9 no {probe}")
        if not re.search(r":[\w.-]+$", c["image"]) or c["image"].endswith(":latest"):
            found.append(f"{where}: CKV_K8S_14 image tag missing or latest")
        skipped = deployment["metadata"].get("annotations", {}).values()
        for env in c.get("env", []):
            if "secretKeyRef" in env.get("valueFrom", {}) and not any(
                v.startswith(f"CKV_K8S_35={env['name']} ") for v in skipped
            ):
                found.append(f"{where}: CKV_K8S_35 secret {env['name']} in an environment variable")
    return found


def test_policy_rules_fire_on_an_insecure_deployment(rendered: dict[str, list[Manifest]]) -> None:
    insecure: Manifest = yaml.safe_load(yaml.safe_dump(by_kind(rendered["dev"], "Deployment")["iqa"]))
    pod = insecure["spec"]["template"]["spec"]
    del pod["securityContext"]
    pod["automountServiceAccountToken"] = True
    pod["containers"][0]["securityContext"] = {"privileged": True}
    pod["containers"][0]["image"] = "localhost/liveness-iqa:latest"
    del pod["containers"][0]["resources"]["limits"]
    findings = " ".join(_policy_findings(insecure))
    for check in ("CKV_K8S_23", "CKV_K8S_31", "CKV_K8S_38", "CKV_K8S_22", "CKV_K8S_16", "CKV_K8S_14"):
        assert check in findings, check


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_high_policy_findings(rendered: dict[str, list[Manifest]], overlay: str) -> None:
    findings = [f for d in by_kind(rendered[overlay], "Deployment").values() for f in _policy_findings(d)]
    assert findings == []
    service_accounts = by_kind(rendered[overlay], "ServiceAccount")
    assert all(sa.get("automountServiceAccountToken") is False for sa in service_accounts.values())
