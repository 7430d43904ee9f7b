"""docker-compose.yml, parsed (no Docker engine here): the privilege split and the refusals it promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(TEXT)
SERVICES: dict[str, Any] = COMPOSE["services"]


def test_services_of_queue_mode() -> None:
    assert {"db", "redis", "migrate", "web", "worker"} <= set(SERVICES)
    assert SERVICES["migrate"]["command"] == ["kiwame", "db", "upgrade"]
    assert SERVICES["migrate"]["restart"] == "no"  # one-shot
    for name in ("web", "worker"):
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert SERVICES[name]["environment"]["KIWAME_BROKER_URL"].startswith("redis://redis:")
    assert SERVICES["worker"]["command"][:2] == ["kiwame", "worker"] and "--queues" in SERVICES["worker"]["command"]


def test_web_is_unprivileged_and_only_the_worker_has_the_sandbox_privileges() -> None:
    web = SERVICES["web"]
    assert str(web["user"]).split(":")[0] not in ("0", "root")
    assert "cap_add" not in web and web["cap_drop"] == ["ALL"]
    assert not any("unconfined" in opt for opt in web.get("security_opt", []))  # default seccomp/AppArmor
    privileged = {name for name, svc in SERVICES.items() if svc.get("cap_add") or svc.get("privileged")
                  or any("unconfined" in o for o in svc.get("security_opt", []))}
    assert privileged == {"worker"}
    assert SERVICES["worker"]["cap_add"] == ["SYS_ADMIN"]
    # Each privilege is explained next to it.
    block = TEXT[TEXT.index("  worker:"):TEXT.index("  # GPU grader")]
    for word in ("SYS_ADMIN", "seccomp=unconfined", "apparmor=unconfined"):
        assert re.search(rf"#.*{re.escape(word.split('=')[0])}", block, re.I), word


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    value = SERVICES["web"]["environment"]["KIWAME_SECRET_KEY"]
    assert re.fullmatch(r"\$\{KIWAME_SECRET_KEY:\?.+\}", value), value  # no published default


def test_exercises_are_a_volume_shared_by_web_and_workers() -> None:
    for name in ("web", "worker"):
        svc = SERVICES[name]
        assert svc["environment"]["KIWAME_EXERCISES_DIR"] == "/exercises"
        assert any(v["target"] == "/exercises" for v in svc["volumes"])


def test_gpu_worker_profile_is_documented() -> None:
    commented = "\n".join(line.strip()[2:] for line in TEXT.splitlines() if line.strip().startswith("# "))
    gpu = commented[commented.index("gpu-worker:"):]
    assert "profiles: [gpu]" in gpu and "runtime: nvidia" in gpu and "--queues\", \"gpu" in gpu
