"""The command line on hostile file names, sources and models (issue 16, a new-user review's findings):
one clear line each, the other inputs still processed, nothing raw on the terminal."""
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import CLI, model, run_cli, write_bmp


def _cli_bytes(*args, timeout=60):
    return subprocess.run([CLI, *args], capture_output=True, timeout=timeout)


def _images(folder, names):
    os.makedirs(folder, exist_ok=True)
    for n in names:
        write_bmp(os.path.join(folder, n), np.full((48, 64, 3), 100, np.uint8))


def test_a_file_name_that_is_not_utf8_does_not_cost_the_other_images_their_json(tmp_path):
    folder = os.fsencode(tmp_path / "imgs")
    _images(tmp_path / "imgs", ["a.bmp", "c.bmp"])
    write_bmp(os.fsdecode(folder + b"/\xff\xfebad.bmp"), np.full((48, 64, 3), 100, np.uint8))
    out_json, out_jsonl = tmp_path / "r.json", tmp_path / "r.jsonl"
    r = _cli_bytes("detect", "-m", model("yolo_dynamic"), os.fsdecode(folder), "--json", str(out_json),
                   "--jsonl", str(out_jsonl))
    assert r.returncode == 0, r.stderr
    records = json.loads(out_json.read_text())["images"] if out_json.read_text().lstrip().startswith("{") \
        else json.loads(out_json.read_text())
    assert len(records) == 3
    assert any("\ufffd" in rec["file"] for rec in records)  # the invalid bytes as U+FFFD, valid JSON
    assert len(out_jsonl.read_text().splitlines()) == 3
    assert b"\xff" not in r.stdout and b"\\xFF\\xFEbad.bmp" in r.stdout


def test_control_bytes_in_a_file_name_are_escaped_on_the_result_line(tmp_path):
    _images(tmp_path, ["ok\x1b]0;title\x07.bmp"])
    r = _cli_bytes("detect", "-m", model("yolo_dynamic"), str(tmp_path / "ok\x1b]0;title\x07.bmp"))
    assert r.returncode == 0, r.stderr
    assert b"\x1b" not in r.stdout + r.stderr and b"\x07" not in r.stdout + r.stderr
    assert b"ok\\x1B]0;title\\x07.bmp" in r.stdout


def test_a_fifo_as_a_stream_source_is_refused_at_once(tmp_path):
    fifo = tmp_path / "cam.mp4"
    os.mkfifo(fifo)
    # Before the fix FFmpeg's open blocked on the FIFO and no signal but SIGKILL ended the run.
    r = _cli_bytes("stream", "-m", model("yolo_dynamic"), "--source", str(fifo), "--duration", "3", "--no-progress",
                   timeout=30)
    assert r.returncode == 1
    assert b"not a regular file (a FIFO, socket or device)" in r.stderr


def test_a_text_file_as_a_stream_source_fails_instead_of_ending_empty(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("hello\n")
    r = run_cli("stream", "-m", model("yolo_dynamic"), "--source", str(text), "--no-progress", check=False)
    assert r.returncode == 1
    assert "ended before its first frame" in r.stderr


@pytest.mark.parametrize("batch, expect", [(2 ** 40, 2), (100000, 2), (3000000000, 2)])
def test_a_huge_static_batch_is_refused_at_load_by_the_input_limit(tmp_path, batch, expect):
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["output0"])], "g",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 64, 64])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, 84, 100])])
    path = tmp_path / "batch.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    image = tmp_path / "x.bmp"
    write_bmp(image, np.zeros((32, 32, 3), np.uint8))
    r = run_cli("detect", "-m", str(path), str(image), check=False)
    assert r.returncode == expect
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "is a static batch of" in r.stderr and "--max-input-elements" in r.stderr


@pytest.mark.parametrize("content", ["names:\n  0: person\n", "[\"person\", \"car\"]\n", "{0: 'person'}\n",
                                     "nc: 2\nnames:\n  - x\n  - y\n", "path: ../d\ntrain: x\nnames:\n  0: a\n"])
def test_a_yaml_or_json_names_file_is_refused(tmp_path, content):
    names = tmp_path / "names.txt"
    names.write_text(content)
    image = tmp_path / "x.bmp"
    write_bmp(image, np.zeros((32, 32, 3), np.uint8))
    r = run_cli("detect", "-m", model("yolo_dynamic"), str(image), "--names", str(names), check=False)
    assert r.returncode == 2
    assert "looks like YAML or JSON" in r.stderr


def test_a_layout_the_detector_refuses_is_said_about_the_model_file(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    out = helper.make_node("Constant", [], ["output0"],
                           value=numpy_helper.from_array(np.zeros((1, 84, 100), np.float32)))
    graph = helper.make_graph([out], "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 7, 64, 64])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 84, 100])])
    path = tmp_path / "seven_channels.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    image = tmp_path / "x.bmp"
    write_bmp(image, np.zeros((32, 32, 3), np.uint8))
    r = run_cli("detect", "-m", str(path), str(image), check=False)
    assert r.returncode == 2
    assert r.stderr.startswith(f"tiledet: {path}: image input 'images' [1, 7, 64, 64]: expected 1 or 3 colour"), r.stderr


def test_command_line_mistakes_are_one_line_in_tiledets_form():
    r = run_cli("frobnicate", check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("tiledet: unknown command 'frobnicate'; expected one of: inspect, detect"), r.stderr
    r = run_cli("detect", "-m", "x.onnx", "--conf", check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("tiledet: --conf:") and "tiledet detect --help" in r.stderr, r.stderr
    for bad in ("1,,2", "0,2,"):
        r = run_cli("detect", "-m", model("yolo_dynamic"), "--classes", bad, "x.bmp", check=False)
        assert r.returncode == 2
        assert f"--classes: expected comma-separated integers >= 0 (e.g. 0,2,5), got '{bad}'" in r.stderr, r.stderr


def test_an_empty_ort_disable_telemetry_counts_as_unset(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env.update(HOME=str(tmp_path), ORT_DISABLE_TELEMETRY="")
    r = subprocess.run([CLI, "inspect", model("yolo_static")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / ".cache" / "Microsoft").exists()
