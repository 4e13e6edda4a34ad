"""docker-compose.yml parses, is wired as documented, and names the README's variables."""

import re

import yaml

from service.config import PROJECT_ROOT


def _compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def test_compose_has_a_healthy_postgres_before_the_api():
    services = _compose()["services"]
    assert "healthcheck" in services["postgres"]
    api = services["api"]
    assert api["build"] == "."
    assert api["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (PROJECT_ROOT / "Dockerfile").exists()


def test_compose_names_the_same_variables_as_the_readme():
    readme = (PROJECT_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.M))
    api_env = set(_compose()["services"]["api"]["environment"])
    assert api_env, "the api service sets no environment"
    assert api_env <= documented, f"undocumented in README: {sorted(api_env - documented)}"
    core = {"DATABASE_URL", "HOST", "PORT", "ADMIN_USERNAME", "ADMIN_PASSWORD", "JWT_SECRET",
            "JWT_TTL_SECONDS", "TOKEN_DEFAULT_TTL_DAYS", "TOKEN_MAX_TTL_DAYS"}
    assert core <= api_env
    assert core <= documented


def test_compose_secrets_are_required_not_defaulted():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "ADMIN_PASSWORD"):
        assert f"${{{name}:?" in text, name
