"""Errors as Python exceptions with the CLI's one-line messages; inspect, batchify, evaluate."""
import json
import os
import subprocess
import sys

import concurrent.futures

import numpy as np
import pytest

import tiledet
from conftest import model, run_cli, shared, write_bmp


def test_pipeline_keyword_defaults_are_the_option_tables():
    specs = {s["name"]: s for s in tiledet.option_specs()}
    params = __import__("inspect").signature(tiledet.Pipeline.__init__).parameters
    keywords = [n for n, p in params.items() if p.kind == p.KEYWORD_ONLY]
    assert keywords == ["tile", "overlap", "full_image", "merge", "match", "conf", "iou", "classes", "batch",
                        "max_delay_ms", "instances", "threads", "provider", "family", "config"]
    for name in keywords:
        default = params[name].default
        text = specs[name]["default"]
        if name in ("batch", "instances", "threads"):
            # Not given: chosen by config="auto" (the table's default is what "manual" uses).
            assert default is None and "--config auto" in specs[name]["help"], name
        elif default is None:
            assert text in ("", "none"), name
        elif isinstance(default, bool):
            assert text == ("true" if default else "false"), name
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            assert float(text) == float(default), name
        else:
            assert text == default, name


@pytest.mark.parametrize("kwargs,option,words", [
    ({"overlap": -0.5}, "overlap", "overlap: expected a ratio in [0, 1) or pixels >= 1, got '-0.5'"),
    ({"tile": "64x"}, "tile", "tile: expected none, auto, SIZE or WxH"),
    ({"merge": "average"}, "merge", "merge: expected nms, nmm or greedy-nmm, got 'average'"),
    ({"conf": 1.5}, "conf", "conf: expected a confidence in [0, 1], got '1.5'"),
    ({"batch": 0}, "batch", "batch: expected a batch size from 1 to 65536"),
    ({"family": "yolo9000"}, "family", "family: expected one of: "),
    ({"bogus": 1}, "bogus", "unknown option 'bogus'; known options: provider, "),
    ({"tile": 640, "overlap": 640}, "overlap", "overlap"),  # checked against the model at load
])
def test_bad_options_raise_option_error_naming_the_keyword(kwargs, option, words):
    with pytest.raises(tiledet.OptionError) as e:
        tiledet.Pipeline(model("yolo_dynamic"), **kwargs)
    assert words in str(e.value) and e.value.option == option
    assert isinstance(e.value, tiledet.ConfigError) and isinstance(e.value, ValueError)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("content", [b"\xff\xd8\xff\xe0 cut short", b"not an image at all", b""])
def test_python_and_cli_give_the_same_line(tmp_path, content):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(content)
    missing = str(tmp_path / "missing.jpg")
    cli = run_cli("detect", "-m", model("yolo_dynamic"), broken)
    line = [l for l in cli.stderr.splitlines() if l.startswith("tiledet: ")][0][len("tiledet: "):]
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        with pytest.raises(tiledet.InputError) as e:
            p.detect(str(broken))
        assert str(e.value) == line
        with pytest.raises(tiledet.InputError, match="missing.jpg"):
            p.detect(missing)

    cli = run_cli("detect", "-m", str(tmp_path / "nope.onnx"), missing, check=False)
    with pytest.raises(tiledet.InputError) as e:
        tiledet.Pipeline(tmp_path / "nope.onnx")
    assert str(e.value) in cli.stderr and cli.returncode == 2


def test_unknown_layout_is_a_model_error():
    with pytest.raises(tiledet.ModelError) as e:
        tiledet.Pipeline(model("no_batch_axis"))
    assert isinstance(e.value, (tiledet.UnknownLayoutError, tiledet.ShapeError, tiledet.Error))


def test_image_over_a_limit_fails_alone_with_the_keyword():
    import numpy as np
    with tiledet.Pipeline(model("yolo_dynamic"), max_image_pixels=1000) as p:
        with pytest.raises(tiledet.OptionError) as e:
            p.detect(np.zeros((100, 100, 3), np.uint8))
        assert e.value.option == "max_image_pixels"
        assert len(p.detect(np.zeros((20, 20, 3), np.uint8)).xyxy) >= 0


def test_closed_pipeline_says_so():
    p = tiledet.Pipeline(model("yolo_dynamic"))
    p.close()
    assert p.closed and "closed" in repr(p)
    with pytest.raises(tiledet.ShutDown, match="closed"):
        p.detect("x.jpg")


@pytest.mark.parametrize("name", ["yolo_dynamic", "official_rtdetr_static", "hf_rtdetr_dynamic"])
def test_inspect_equals_the_cli_json(name):
    want = json.loads(run_cli("inspect", "--json", model(name)).stdout)
    got = tiledet.inspect(model(name))
    assert got == want
    assert got["family"] in ("yolo", "official_rtdetr", "hf_rtdetr")


def test_batchify_repairs_and_reports_as_the_cli(tmp_path):
    src = model("yolo_static")
    report = tiledet.batchify(src, str(tmp_path / "py.onnx"))
    cli = run_cli("batchify", src, tmp_path / "cli.onnx")
    assert report["ok"] and report["status"] == "repaired_verified" and report["output_written"]
    assert report["text"] == cli.stdout.replace("cli.onnx", "py.onnx")
    assert tiledet.inspect(str(tmp_path / "py.onnx"))["batch"]["kind"] == "dynamic"
    assert (tmp_path / "py.onnx").read_bytes() == (tmp_path / "cli.onnx").read_bytes()
    assert all(d["within_tolerance"] for d in report["differences"]) and report["rewrites"]


def test_batchify_refusal_is_a_report_not_an_exception(tmp_path):
    report = tiledet.batchify(model("unrepairable_matmul_b1"), str(tmp_path / "out.onnx"))
    assert not report["ok"] and report["status"] in ("refused", "verification_failed")
    assert report["message"] and not os.path.exists(tmp_path / "out.onnx")
    with pytest.raises(tiledet.InputError):
        tiledet.batchify(str(tmp_path / "missing.onnx"), str(tmp_path / "out.onnx"))


def test_evaluate_equals_the_cli_eval(tmp_path):
    m = shared("models/yolov8n_int8.onnx")
    images, labels = shared("images/coco64/images"), shared("images/coco64/labels")
    run_cli("eval", "--model", m, "--images", images, "--labels", labels, "--limit", "24", "--json", tmp_path / "e.json")
    want = json.loads((tmp_path / "e.json").read_text())
    got = tiledet.evaluate(m, images, labels, limit=24)
    for key in ("images", "background_images", "failed_images", "gt_boxes", "detections", "family"):
        assert got[key] == want[key], key
    for key in ("map", "map50", "map75", "mar100"):
        assert got[key] == pytest.approx(want[key], abs=1e-12), key
    assert [(c["class_id"], c["name"], c["ap"]) for c in got["per_class"]] == \
        [(c["class_id"], c["name"], pytest.approx(c["ap"], abs=1e-12)) for c in want["per_class"]]
    assert got["map50"] > 0.2


def test_a_done_callback_may_use_the_same_pipeline_and_a_dropped_pipeline_still_answers(tmp_path):
    img = np.zeros((480, 640, 3), np.uint8)
    p = tiledet.Pipeline(model("yolo_dynamic"), tile=320)
    seen = concurrent.futures.Future()

    def again(f):  # runs on tiledet's dispatcher thread, not the pipeline's completion thread
        try:
            seen.set_result(len(p.detect(img)))
        except Exception as e:  # noqa: BLE001 - handed to the test
            seen.set_exception(e)

    p.submit(img).add_done_callback(again)
    assert seen.result(timeout=60) >= 0
    p.close()
    # The last reference goes right after submit: the image still completes.
    f = tiledet.Pipeline(model("yolo_dynamic")).submit(img)
    assert isinstance(f.result(timeout=60), tiledet.Detections)


def test_bad_tile_tuples_and_str_to_detect_many_and_batchify_onto_itself_are_refused(tmp_path):
    for bad in [(640,), (640, 0), (0, 0), (640, 480, 1)]:
        with pytest.raises(tiledet.OptionError, match="tile: expected") as e:
            tiledet.Pipeline(model("yolo_dynamic"), tile=bad)
        assert e.value.option == "tile"
    with tiledet.Pipeline(model("yolo_dynamic")) as p:
        with pytest.raises(TypeError, match="use detect"):
            p.detect_many("some/image.jpg")
    src = tmp_path / "m.onnx"
    src.write_bytes(open(model("yolo_static"), "rb").read())
    before = src.read_bytes()
    with pytest.raises(tiledet.InputError, match="is the input model itself"):
        tiledet.batchify(str(src), str(src))
    assert src.read_bytes() == before


def test_a_model_with_external_data_loads_from_any_working_directory(tmp_path, monkeypatch):
    # Loaded from bytes, ONNX Runtime resolved external data against the working directory and
    # refused it as "escaping" it: the model's own folder is where its data files are.
    import onnx
    from onnx import TensorProto, helper
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 8], np.arange(8, dtype=np.float32).tobytes(), raw=True)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], [w])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "models").mkdir()
    onnx.save(m, str(tmp_path / "models" / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.weights", size_threshold=0)
    assert (tmp_path / "models" / "ext.weights").exists()
    monkeypatch.chdir(tmp_path)  # not the model's folder
    info = tiledet.inspect(str(tmp_path / "models" / "ext.onnx"))
    assert [i["name"] for i in info["inputs"]] == ["x"]
    os.remove(tmp_path / "models" / "ext.weights")
    with pytest.raises(tiledet.InputError) as e:
        tiledet.inspect(str(tmp_path / "models" / "ext.onnx"))
    assert "external data needs its data files beside it" in str(e.value)
    assert "onnxruntime_src" not in str(e.value)


def test_a_path_with_a_nul_byte_is_refused_not_cut(tmp_path):
    # "bus.jpg\x00x" ran bus.jpg: the C++ side saw the path cut at the NUL.
    with pytest.raises(tiledet.InputError) as e:
        tiledet.inspect(model("yolo_static") + "\x00x")
    assert "a path with a NUL byte in it" in str(e.value)


def test_importing_tiledet_turns_onnx_runtime_telemetry_off_unless_the_user_set_it(tmp_path):
    """ONNX Runtime 1.29 uploads usage telemetry from Linux unless ORT_DISABLE_TELEMETRY is set
    before its first environment; the module sets it to 1 on import, leaves a user's own value, and
    a model load then leaves no telemetry cache under a fresh HOME."""
    code = ("import os, sys, tiledet; tiledet.inspect(sys.argv[1]); "
            "print(os.environ['ORT_DISABLE_TELEMETRY'])")
    ci = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "CIRCLECI", "TRAVIS", "JENKINS_URL", "CODEBUILD_BUILD_ID",
          "BUILDKITE", "TEAMCITY_VERSION", "APPVEYOR", "BITBUCKET_BUILD_NUMBER")  # ORT keeps telemetry off there
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME") + ci}
    env["HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code, model("yolo_static")], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"
    assert not (tmp_path / ".cache" / "Microsoft").exists()
    env["ORT_DISABLE_TELEMETRY"] = "0"
    out = subprocess.run([sys.executable, "-c", code, model("yolo_static")], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0"
    assert (tmp_path / ".cache" / "Microsoft").exists()


def test_control_bytes_in_a_models_tensor_names_are_escaped_in_messages(tmp_path):
    """A hostile model's input name with an escape sequence reaches neither the terminal nor str(e) raw."""
    import onnx
    from onnx import TensorProto, helper
    name = "\x1b]0;owned\x07\x1b[31mimages"
    graph = helper.make_graph([helper.make_node("Identity", [name], ["out"])], "g",
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 64, 64])])
    path = tmp_path / "escape.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    image = tmp_path / "gray.bmp"
    write_bmp(image, np.full((64, 64, 3), 128, np.uint8))
    cli = run_cli("detect", "-m", str(path), str(image), check=False)
    assert cli.returncode == 2
    assert "\x1b" not in cli.stderr and "\x07" not in cli.stderr
    assert "\\x1B[31mimages" in cli.stderr, cli.stderr
    with pytest.raises(tiledet.ModelError) as e:
        tiledet.Pipeline(path)
    assert "\x1b" not in str(e.value) and "\\x1B]0;owned\\x07" in str(e.value)


def test_keyword_mistakes_in_detect_are_one_line_naming_what_it_takes(tmp_path):
    p = tiledet.Pipeline(model("yolo_dynamic"), config="manual")
    image = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(TypeError) as e:
        p.detect(image, conf=0.5)
    assert str(e.value) == ("detect() got an unexpected keyword argument 'conf'; it takes rgb=, label= "
                            "(thresholds and tiling are Pipeline(...) options)")
    with pytest.raises(TypeError, match="detect_many\\(\\) got an unexpected keyword argument 'confidence'"):
        p.detect_many([image], confidence=0.5)
    assert len(p.detect(image, rgb=True, label="x").xyxy) >= 0
    p.close()


def test_load_image_applies_the_pixel_limit_from_the_header(tmp_path):
    path = tmp_path / "big.bmp"
    write_bmp(path, np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(tiledet.OptionError, match="50x40 = 2,000 pixels .* exceeds the limit of 1,000"):
        tiledet.load_image(path, max_image_pixels=1000)
    assert tiledet.load_image(path).shape == (40, 50, 3)
