"""The Kubernetes base as browsers reach it: ``server.public_url`` is the Ingress's TLS host."""

from __future__ import annotations

import pytest
import yaml
from yarl import URL

from tests.ops.test_deploy import rendered


@pytest.mark.parametrize("kustomization", ["base", "overlays/redis", "overlays/production"])
def test_public_url_is_https_on_the_ingress_host(kustomization: str) -> None:
    objects = rendered(kustomization)
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    configmap = next(o for o in objects if o["kind"] == "ConfigMap" and "config.yaml" in o["data"])
    public_url = URL(yaml.safe_load(configmap["data"]["config.yaml"])["server"]["public_url"])
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    assert public_url.scheme == "https"
    assert public_url.host in hosts & tls_hosts
    assert public_url.path in ("", "/")
