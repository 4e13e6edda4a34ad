"""docker-compose.yml parses, is wired as documented, and reads only documented variables."""

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
    readme = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, flags=re.M))
    api_env = set(_compose()["services"]["api"]["environment"])
    assert api_env, "the api service sets no environment"
    assert api_env <= documented, f"not in docs/configuration.md: {sorted(api_env - documented)}"
    core = {"DATABASE_URL", "HOST", "PORT", "ADMIN_USERNAME", "ADMIN_PASSWORD", "JWT_SECRET",
            "JWT_TTL_SECONDS", "TOKEN_DEFAULT_TTL_DAYS", "TOKEN_MAX_TTL_DAYS"}
    assert core <= api_env
    assert core <= documented


def test_compose_secrets_are_required_not_defaulted():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "ADMIN_PASSWORD"):
        assert f"${{{name}:?" in text, name


def test_env_example_names_every_variable_compose_reads():
    text = (PROJECT_ROOT / "docker-compose.yml").read_text()
    read = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    example = (PROJECT_ROOT / ".env.example").read_text()
    given = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.M))
    assert read, "compose reads no variable"
    assert read <= given, f"not in .env.example: {sorted(read - given)}"
    # Secrets are left blank for the user to fill, never shipped.
    for name in ("POSTGRES_PASSWORD", "ADMIN_PASSWORD", "JWT_SECRET"):
        assert re.search(rf"^{name}=$", example, flags=re.M), name


def test_env_files_holding_secrets_are_ignored_by_git():
    ignored = (PROJECT_ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored
    assert "token.json" in ignored  # the Quickstart writes a token's secret there


def test_the_published_address_is_configurable_and_health_means_ready():
    api = _compose()["services"]["api"]
    assert api["ports"] == ["${BIND:-127.0.0.1}:${API_PORT:-8000}:8000"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    assert "/readyz" in (PROJECT_ROOT / "Dockerfile").read_text()
