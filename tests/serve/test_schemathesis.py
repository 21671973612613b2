"""Property-based API testing: schemathesis drives every operation from the OpenAPI schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nolabel.components.common.settings import Settings
from nolabel.components.serve.app import create_app
from nolabel.components.serve.models import ModelManager
from nolabel.components.serve.settings import ServeSettings
from tests.serve.conftest import RegistryStub, fake_loaders


def build_app():
    """An app with small injected models (module level: schemathesis 4.32's ``from_fixture``
    does not work with pytest 9, so the schema is loaded at collection time)."""
    registry = RegistryStub()
    registry.aliases[("nolabel-classifier", "production")] = "3"
    registry.aliases[("nolabel-detector", "production")] = "7"
    app_settings = Settings(model_refresh_seconds=0, max_upload_bytes=256 * 1024)
    serve_settings = ServeSettings(explain_default_samples=20, explain_max_samples=40)
    manager = ModelManager(app_settings, serve_settings, fake_loaders(), alias_lookup=registry)
    manager.refresh()  # the ASGI transport does not run the lifespan
    return create_app(app_settings, serve_settings=serve_settings, manager=manager)


schema = schemathesis.openapi.from_asgi("/openapi.json", build_app())
# Valid and deliberately invalid inputs (wrong types, out-of-range numbers, broken bodies).
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    deterministic=True,
)


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_the_schema(case):
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
