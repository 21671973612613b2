"""Contracts declared once: the CLI's options are the Params' fields; flows check them upfront."""

from __future__ import annotations

import pytest
import typer
from pydantic import ValidationError
from typer.main import get_command

from nolabel.components.cli import build_app
from nolabel.components.common.cli import model_command, run_app
from nolabel.components.common.contracts import Options
from nolabel.components.common.errors import InputError
from nolabel.components.serve.contract import ServeParams
from nolabel.flows.params import PipelineParams
from nolabel.flows.pipeline import crawl_params, detect_params, explain_params, train_params
from nolabel.flows.steps import STEPS

COMMANDS = {  # CLI command path -> its contract's Params
    ("crawl",): STEPS["crawl"].params,
    ("train",): STEPS["train"].params,
    ("explain",): STEPS["explain"].params,
    ("detect", "train"): STEPS["detect"].params,
    ("detect", "eval"): STEPS["evaluate"].params,
    ("score",): STEPS["score"].params,
    ("pipeline",): PipelineParams,
    ("serve",): ServeParams,
}


def _fields(model) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        if isinstance(info.annotation, type) and issubclass(info.annotation, Options):
            nested = None  # a step's options: one JSON object
        names |= set(nested) if nested else {name}
    return names


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_params_field_is_an_option_of_its_command(path):
    command = get_command(build_app())
    for name in path:
        command = command.commands[name]
    options = {param.name for param in command.params}
    assert options == _fields(COMMANDS[path])


@pytest.mark.parametrize("step", sorted(STEPS))
def test_step_contracts_refuse_unknown_keys(step):
    contract = STEPS[step]
    for model in (contract.params, contract.result):
        assert model.model_config.get("extra") == "forbid", model.__name__


def test_generated_command_passes_defaults_and_names_flags_in_errors(capsys):
    seen = []
    app = typer.Typer()
    app.command("x")(model_command(STEPS["crawl"].params, seen.append, "doc", {}))
    app.command("y")(lambda: None)
    with pytest.raises(SystemExit):
        run_app(app, ["x", "--dataset", "d", "--positive", "cat", "--per-page", "5"])
    (params,) = seen
    assert params.per_page == 5 and params.pages == 1 and params.negative == []
    with pytest.raises(SystemExit) as exited:
        run_app(app, ["x", "--dataset", "d", "--positive", "cat", "--per-page", "0"])
    assert exited.value.code == 2
    assert "error: invalid parameters: --per-page: " in capsys.readouterr().err


def test_a_misspelled_step_option_fails_before_the_crawl():
    # The options are typed as the step's Params: the pipeline's params refuse them as built.
    with pytest.raises(ValidationError, match=r"train_options\.bakbone\n.*Extra inputs"):
        PipelineParams(
            dataset="d", positive=["cat"], train_options={"bakbone": "efficientnet-lite1"}
        )
    with pytest.raises(ValidationError, match=r"explain_options\.lime\.x\n.*Extra inputs"):
        PipelineParams(dataset="d", positive=["cat"], explain_options={"lime": {"x": 1}})
    with pytest.raises(ValidationError, match=r"detect_options\.batch_size\n.*valid integer"):
        PipelineParams(dataset="d", positive=["cat"], detect_options={"batch_size": "four"})
    with pytest.raises(ValidationError, match=r"detect_options\.boxes\n"):  # explain's to give
        PipelineParams(dataset="d", positive=["cat"], detect_options={"boxes": "b.json"})
    PipelineParams(dataset="d", positive=["cat"], lime_samples=40)
    # What only a whole step's Params check (the crawl's size) fails as they are built.
    too_big = PipelineParams(dataset="d", positive=["cat"], pages=10**6, per_page=1000)
    with pytest.raises(InputError, match="step crawl params"):
        crawl_params(too_big)


def test_step_options_are_the_steps_own_fields_less_what_the_pipeline_fills_in():
    from types import SimpleNamespace

    options = {
        "crawl": PipelineParams.model_fields["crawl_options"].annotation,
        "detect": PipelineParams.model_fields["detect_options"].annotation,
    }
    assert "boxes" not in options["detect"].model_fields  # explain's result gives it
    assert "epochs" not in options["detect"].model_fields  # a top-level setting
    for step, model in options.items():
        for name, info in model.model_fields.items():
            own = STEPS[step].params.model_fields[name]
            assert (info.default, info.description, info.metadata) == (
                own.default, own.description, own.metadata
            )  # fmt: skip
    params = PipelineParams(
        dataset="d", positive=["cat"], variants=["cut1"], crawl_options={"seed": 3},
        train_options={"seed": 5, "batch_size": 8}, detect_options={"seed": 7, "batch_size": 2},
    )  # fmt: skip
    assert crawl_params(params).seed == 3
    trained = train_params(params)
    assert (trained.seed, trained.batch_size, trained.variants) == (5, 8, "cut1")
    explained = SimpleNamespace(coco_uri="file:///b.json")
    detect = detect_params(params, explained)
    assert (detect.seed, detect.batch_size, detect.boxes) == (7, 2, "file:///b.json")
    trained_result = SimpleNamespace(model_uri="models:/c/1")
    assert explain_params(params, trained_result, None).model == "models:/c/1"


def test_pipeline_lime_samples_and_lime_options_both_reach_the_explain_step():
    from types import SimpleNamespace

    from nolabel.flows.demo import demo_params

    params = PipelineParams.model_validate(demo_params("demo-x", promote=False))
    values = explain_params(params, SimpleNamespace(model_uri="models:/c/1"), None)
    lime = STEPS["explain"].check_params(values).lime
    assert lime.num_samples == params.lime_samples and lime.box_rule == "relative"
