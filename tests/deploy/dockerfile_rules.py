"""A small Dockerfile parser and the image rules every nolabel Dockerfile must follow.

hadolint checks general best practice; these rules are the project's own: multi-stage build,
base images pinned by digest or exact tag, non-root final stage, no build tools in the final
image, the entrypoint contract and a HEALTHCHECK for the service.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

BUILD_TOOLS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|make|cmake|ninja-build|cuda-nvcc[-\w]*|"
    r"python3?(\.\d+)?-dev|lib[\w.+-]+-dev)\b"
)
INSTALL = re.compile(r"\b(apt-get|apt|apk|yum|dnf|microdnf)\b[^&;|]*\binstall\b([^&;|]*)")
COMPILE = re.compile(r"\b(pip|pip3)\s+wheel\b|\bsetup\.py\s+(build|bdist)|\bnvcc\b")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# An exact tag names a full version: 3.11.13-slim-bookworm, 17.0.13_11-jre, v3.1.1, 2.13.0-cuda...
EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+([._-][\w.]+)*$|^RELEASE\.[\w.-]+$")


@dataclass
class Stage:
    """One FROM ... block."""

    image: str  # base image with ARG defaults substituted
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """Arguments of every instruction ``keyword`` (upper case) in this stage."""
        return [args for kw, args in self.instructions if kw == keyword]


def stage_named(stages: list[Stage], name: str) -> Stage:
    """The stage called ``name`` (``FROM ... AS name``)."""
    (stage,) = [stage for stage in stages if stage.name == name]
    return stage


def logical_lines(text: str) -> list[str]:
    """Instructions with continuation lines joined and comments/blank lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(text):
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        elif keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            image = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0]
            )
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=image, name=name))
        elif stages:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def exec_form(args: str) -> list[str] | None:
    """The JSON array of an exec-form ENTRYPOINT/CMD, or None for shell form."""
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def is_pinned(image: str) -> bool:
    """True for image@sha256:<digest> or an image with an exact version tag."""
    if DIGEST.search(image):
        return True
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.split(":", 1)[1]
    return tag != "latest" and bool(EXACT_TAG.match(tag))


def check(text: str, entrypoint: list[str], healthcheck: bool = False) -> list[str]:
    """Every rule ``text`` breaks, as readable messages (empty when it follows them all)."""
    problems: list[str] = []
    _, stages = parse(text)
    if len(stages) < 2:
        problems.append("not a multi-stage build")
    stage_names = {stage.name for stage in stages if stage.name}
    for stage in stages:
        if stage.image in stage_names or stage.image == "scratch":
            continue
        if "$" in stage.image:
            problems.append(f"FROM {stage.image}: unresolved build argument")
        elif not is_pinned(stage.image):
            problems.append(f"FROM {stage.image}: not pinned by digest or exact tag")
    if not stages:
        return problems + ["no FROM"]
    final = stages[-1]
    if re.search(r"(^|[-:/])devel\b|-dev\b", final.image):
        problems.append(f"final stage is based on a development image ({final.image})")
    users = final.all("USER")
    if not users:
        problems.append("final stage has no USER (runs as root)")
    elif users[-1].split(":")[0] in {"root", "0"}:
        problems.append(f"final stage runs as {users[-1]}")
    elif not users[-1].split(":")[0].isdigit():
        problems.append("final USER is not numeric (Kubernetes runAsNonRoot cannot verify it)")
    for run in final.all("RUN"):
        for match in INSTALL.finditer(run):
            tools = BUILD_TOOLS.findall(match.group(2))
            if tools:
                problems.append(f"final stage installs build tools: {tools[0][0]}")
        if COMPILE.search(run):
            problems.append(f"final stage compiles: {run[:60]}")
    entrypoints = final.all("ENTRYPOINT")
    if not entrypoints:
        problems.append("no ENTRYPOINT")
    elif exec_form(entrypoints[-1]) != entrypoint:
        problems.append(f"ENTRYPOINT {entrypoints[-1]} is not {json.dumps(entrypoint)}")
    if healthcheck:
        checks = final.all("HEALTHCHECK")
        if not checks or checks[-1].upper().startswith("NONE"):
            problems.append("no HEALTHCHECK")
        elif "curl" in checks[-1] or "wget" in checks[-1]:
            problems.append("HEALTHCHECK uses a tool the slim image lacks")
        elif "/healthz" not in checks[-1]:
            problems.append("HEALTHCHECK does not probe /healthz")
    return problems


def dockerignore_patterns(text: str) -> set[str]:
    """The exclusion patterns of a .dockerignore, normalised (no leading ./ or /)."""
    patterns = set()
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("!"):
            patterns.add(line.removeprefix("./").removeprefix("/").rstrip("/"))
    return patterns
