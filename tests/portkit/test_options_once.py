"""Each option is defined once (a field of its options dataclass, portkit.options.option); the recipe schema
and the recipe runner are generated from those fields, and the CLI maps a flag onto each."""
from __future__ import annotations

import dataclasses

import pytest
from portkit.serving.options import TritonOptions

from portkit.benchmark import BenchOptions
from portkit.options import ConvertOptions, ValidateOptions, convert_options, option, recipe_fields, rules_of
from portkit.recipes import schema
from portkit.recipes.loading import parse_recipe
from portkit.recipes.schema import BenchStep, ModelSpec, Target, TritonSpec, ValidateStep

# fields recipes spell another way (input_specs: input_shapes/input_dtypes/dynamic_axes) or take from the
# recipe itself (seed), or that are not user options (debug: the CLI's global --debug, keep_samples)
NOT_IN_RECIPES = {
    ConvertOptions: {"input_specs", "debug"},
    ValidateOptions: {"seed", "input_specs"},
    BenchOptions: {"seed", "input_specs", "keep_samples"},
    TritonOptions: set(),
}
SECTIONS = [(Target, ConvertOptions, "target"), (ModelSpec, ConvertOptions, "model"),
            (ValidateStep, ValidateOptions, "validate"), (BenchStep, BenchOptions, "bench"),
            (TritonSpec, TritonOptions, "triton")]


@pytest.mark.parametrize("cls", list(NOT_IN_RECIPES))
def test_every_option_has_its_recipe_place(cls):
    for f in dataclasses.fields(cls):
        assert rules_of(f).get("recipe") or f.name in NOT_IN_RECIPES[cls], f"{cls.__name__}.{f.name}"


@pytest.mark.parametrize("section,cls,scope", SECTIONS, ids=[s[2] for s in SECTIONS])
def test_recipe_sections_are_the_dataclass_fields(section, cls, scope):
    for f in recipe_fields(cls, scope):
        field = section.model_fields[f.name]
        assert field.alias == rules_of(f).get("alias")
        made = field.get_default(call_default_factory=True)
        want = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        assert (tuple(made) if isinstance(made, list) else made) == want, f.name
    # and the values a recipe gives reach the dataclass unchanged
    defaults = section.model_construct().option_values() if scope != "model" else None
    if defaults is not None:
        assert set(defaults) == {f.name for f in recipe_fields(cls, scope)}


@dataclasses.dataclass(frozen=True)
class Grown(ConvertOptions):
    """An option a maintainer adds: this one field, nothing else (module level: the worker unpickles it)."""

    new_knob: int = option(3, recipe="target", ge=1, help="A knob this test adds.")


def _tiny_onnx(path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_new_option_needs_only_its_definition(tmp_path, monkeypatch):
    """A field added to an options dataclass appears in the generated recipe section and as a CLI flag
    (with its help), is checked by its rules at both, is taken by the API, and reaches the hop executor."""
    import typer
    from typer.testing import CliRunner

    import portkit
    from portkit import conversion
    from portkit.commands.convert import command
    from portkit.errors import BadInput

    # the recipe schema
    section = schema.section_model("Grown", schema._TargetBase, Grown, "target", "test")
    t = section(to="onnx", new_knob=5)
    assert t.option_values()["new_knob"] == 5
    with pytest.raises(Exception, match="greater than or equal to 1"):
        section(to="onnx", new_knob=0)
    assert section(to="onnx").option_values()["new_knob"] == 3

    # the command line: `portkit convert` generated from Grown
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("convert")(command(Grown))
    runner = CliRunner()
    shown = runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"})
    assert "--new-knob" in shown.output and "A knob this test adds." in shown.output
    src = _tiny_onnx(tmp_path / "m.onnx")
    bad = runner.invoke(app, ["convert", str(src), "--to", "onnx", "--optimize", "--new-knob", "0"])
    assert isinstance(bad.exception, BadInput) and "--new-knob 0: must be ≥ 1" in bad.exception.message

    # ... and the value reaches the hop (the real step runs on it), from the CLI and from the API
    seen = []
    real = conversion.run_hop

    def recording(edge, src, final, opts, pool=None):
        seen.append(opts)
        return real(edge, src, final, opts, pool)

    monkeypatch.setattr(conversion, "run_hop", recording)
    ok = runner.invoke(app, ["convert", str(src), "--to", "onnx", "--optimize", "--new-knob", "5", "--no-validate",
                             "-o", str(tmp_path / "cli.onnx")])
    assert ok.exit_code == 0, ok.output
    assert [(type(o), o.new_knob, o.optimize) for o in seen] == [(Grown, 5, True)]
    # the CLI went through the API (portkit.convert with the built options); the API checks the rules too
    with pytest.raises(BadInput, match="--new-knob 0"):
        portkit.convert(src, "onnx", tmp_path / "bad.onnx", Grown(), new_knob=0)


def test_recipe_values_reach_the_options(tmp_path):
    (tmp_path / "cal.npz").write_bytes(b"")
    recipe = parse_recipe({"models": [{
        "name": "m", "source": "examples.hf_models:bert_tiny", "allow_pickle": True, "custom_objects": "my.mod",
        "input_shapes": {"input_ids": [1, 16]}, "input_dtypes": {"input_ids": "int64"},
        "targets": [{"to": "tflite", "opset": 13, "dynamic": False, "keep_layout": True, "quantize": "int8",
                     "calibration": "cal.npz", "int8_io": True, "optimize": True, "tool": "onnx2tf",
                     "validate": {"atol": 0.01, "tolerances": {"y": [0.1, 0.2]}, "batches": [1, 3],
                                  "samples": 2},
                     "bench": {"providers": ["cpu"], "batches": [1, 4], "iterations": 5, "warmup": 0,
                               "threads": 1, "strict": True}}]}]}, base_dir=tmp_path)
    m = recipe.models[0]
    t = m.targets[0]
    opts = convert_options(**m.loading(recipe.resolve), **t.option_values(recipe.resolve))
    assert (opts.opset, opts.dynamic, opts.keep_layout, opts.quantize, opts.int8_io, opts.optimize, opts.tool) == \
        (13, False, True, "int8", True, True, "onnx2tf")
    assert opts.calibration == str(tmp_path / "cal.npz") and opts.allow_pickle and opts.custom_objects == "my.mod"
    assert opts.input_specs[0].dtype == "int64" and opts.shapes == {"input_ids": (1, 16)}
    v = ValidateOptions(**t.validate_.option_values(recipe.resolve))
    assert (v.atol, v.per_output, v.batches, v.samples) == (0.01, {"y": (0.1, 0.2)}, (1, 3), 2)
    b = BenchOptions(**t.bench.option_values())
    assert (b.batches, b.iterations, b.warmup, b.threads, b.strict) == ((1, 4), 5, 0, 1, True)


@pytest.mark.parametrize("command,cls", [("convert", ConvertOptions), ("validate", ValidateOptions),
                                         ("bench", BenchOptions)])
def test_the_cli_has_a_flag_for_every_option(command, cls):
    """Every option with a help text is a flag of its command, generated from the field (with that help)."""
    from typer.testing import CliRunner

    from portkit.cli import build_app
    from portkit.commands.convert import CHECKS
    from portkit.options import flag_of, rules_of

    out = CliRunner().invoke(build_app(), [command, "--help"], env={"COLUMNS": "300"}).output
    for f in dataclasses.fields(cls):
        rules = rules_of(f)
        if rules.get("recipe"):
            assert rules.get("help"), f"{cls.__name__}.{f.name}: a user option needs its help (its CLI flag)"
        if not rules.get("help") or (command == "convert" and cls is ValidateOptions and f.name not in CHECKS):
            continue
        flag = flag_of(f) + (f" / {rules['negative']}" if rules.get("negative") else "")
        assert flag in out and rules["help"][:30] in " ".join(out.split()), f"portkit {command}: no {flag}"
    if cls is not BenchOptions:
        assert all(f in out for f in ("--input-shape", "--input-dtype", "--dynamic-axis"))


@pytest.mark.parametrize("build,needle", [
    (lambda: ValidateOptions(batches=(0,)), "--batch 0"),
    (lambda: convert_options(opset=3), "--opset 3"),
    (lambda: convert_options(quantize="int2"), "unknown --quantize 'int2'"),
    (lambda: convert_options(web_model="tf"), "unknown --web-model 'tf'"),
    (lambda: BenchOptions(batches=(1, 0)), "--batch 0"),
    (lambda: BenchOptions(providers=("xpu",)), "unknown --provider 'xpu'"),
    (lambda: BenchOptions(iterations=1), "--iterations 1"),
])
def test_every_entry_point_enforces_the_rules_of_the_definition(build, needle):
    """The rules (ge, choices, item_ge ...) are enforced by the options dataclasses themselves, so the CLI,
    the API, recipes, bench and prep refuse a bad value alike, naming the flag and the recipe key."""
    from portkit.errors import BadInput

    with pytest.raises(BadInput, match="recipes: `") as e:
        build()
    assert needle in e.value.message


def test_a_grown_option_is_checked_by_its_rules_when_built():
    @dataclasses.dataclass(frozen=True)
    class Grown(ConvertOptions):
        new_knob: int = option(3, recipe="target", ge=1)

    from portkit.errors import BadInput

    assert Grown(new_knob=2).new_knob == 2
    with pytest.raises(BadInput, match="--new-knob 0"):
        Grown(new_knob=0)


def test_validate_batch_below_one_is_bad_usage(tmp_path):
    from ..conftest import run_cli
    from .test_formats import tiny_onnx

    a = tiny_onnx(tmp_path / "a.onnx")
    p = run_cli("validate", str(a), str(a), "--batch", "0")
    assert p.returncode == 2 and "--batch 0" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_serve_options_are_checked_by_the_same_rules():
    from portkit.serving.options import ServeOptions

    from portkit.errors import BadInput

    for kw, needle in [({"port": 70000}, "--port 70000"), ({"max_batch": 0}, "--max-batch 0"),
                       ({"provider": "xpu"}, "unknown --provider 'xpu'")]:
        with pytest.raises(BadInput) as e:
            ServeOptions(**kw)
        assert needle in e.value.message


@pytest.mark.parametrize("command,skip", [("convert", ()), ("validate", ("max_latency_ms",)),
                                          ("bench", ("max_error", "min_agreement"))])
def test_gate_flags_are_the_gates_fields(command, skip):
    """Each gate a command can measure is a flag generated from its Gates field (flag, help), as options are."""
    from typer.testing import CliRunner

    from portkit.cli import build_app
    from portkit.gates import Gates
    from portkit.options import flag_of, rules_of

    out = " ".join(CliRunner().invoke(build_app(), [command, "--help"], env={"COLUMNS": "300"}).output.split())
    for f in dataclasses.fields(Gates):
        help_ = rules_of(f).get("help")
        if help_ and f.name not in skip:
            assert f"{flag_of(f)} " in out and help_[:30] in out, f"portkit {command}: no {flag_of(f)}"
        elif help_:
            assert f"{flag_of(f)} " not in out, f"portkit {command} cannot measure {f.name}"


def test_gate_rules_reach_the_cli(tmp_path):
    """A gate's rule (ge=0) refuses a bad value at the command line as at the API: exit 2 naming the flag."""
    from ..conftest import run_cli
    from .test_formats import tiny_onnx

    a = tiny_onnx(tmp_path / "a.onnx")
    p = run_cli("validate", str(a), str(a), "--max-size-mb", "-1")
    assert p.returncode == 2 and "--max-size-mb -1" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_serve_init_and_export_flags_are_their_fields():
    """`portkit serve`'s flags are ServeOptions' fields, `portkit export triton`'s TritonOptions' (also the
    recipe's `export: triton` keys) and `portkit init --calibration` is ConvertOptions', generated with their
    help (one definition each)."""
    from portkit.serving.options import ServeOptions
    from typer.testing import CliRunner

    from portkit.cli import build_app
    from portkit.options import flag_of, rules_of

    def help_of(*command: str) -> str:
        return " ".join(CliRunner().invoke(build_app(), [*command, "--help"], env={"COLUMNS": "300"}).output.split())

    for command, cls in ((("serve",), ServeOptions), (("export", "triton"), TritonOptions)):
        out = help_of(*command)
        for f in dataclasses.fields(cls):
            if rules_of(f).get("help"):
                assert f"{flag_of(f)} " in out and rules_of(f)["help"][:30] in out, flag_of(f)
    calibration = next(f for f in dataclasses.fields(ConvertOptions) if f.name == "calibration")
    assert rules_of(calibration)["help"][:30] in help_of("init")
