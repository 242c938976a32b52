"""scripts/export_rtdetr_batch.py without torch: argument handling, the signature check through
the onnx package and through `tiledet inspect --json`, and the clear refusal to export when torch
or transformers is missing. Run: python3 test_export_rtdetr_batch.py SOURCE_DIR TILEDET_CLI."""
import os
import subprocess
import sys
import tempfile
import unittest

import onnx
from onnx import TensorProto, helper

SRC = TILEDET = None


def make_model(path, in_dims, out_dims):
    """pixel_values -> ReduceMean over C,H,W twice... shaped outputs declared as given (a stand-in
    whose declared signature is what the check reads; ORT must also load it for the tiledet path)."""
    x = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, in_dims)
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_dims[0])
    boxes = helper.make_tensor_value_info("pred_boxes", TensorProto.FLOAT, out_dims[1])
    # [B,3,H,W] -> [B,1,1,1] -> reshape [B,1,1] -> expand to [B,Q,K]
    q, k = out_dims[0][1], out_dims[0][2]
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["m"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Constant", [], ["shape3"], value=helper.make_tensor("s", TensorProto.INT64, [3], [0, 1, 1])),
        helper.make_node("Reshape", ["m", "shape3"], ["m3"]),
        helper.make_node("Constant", [], ["lshape"], value=helper.make_tensor("l", TensorProto.INT64, [3], [1, q, k])),
        helper.make_node("Expand", ["m3", "lshape"], ["logits"]),
        helper.make_node("Constant", [], ["bshape"], value=helper.make_tensor("b", TensorProto.INT64, [3], [1, q, 4])),
        helper.make_node("Expand", ["m3", "bshape"], ["pred_boxes"]),
    ]
    g = helper.make_graph(nodes, "rtdetr_standin", [x], [logits, boxes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


# A stand-in for ONNX Runtime's Python package: outputs whose batch is BATCH_OUT (baked) or the
# input's, so the script's run check can be tested where onnxruntime is not installed.
FAKE_ORT = """
import numpy as np
__version__ = "fake"
BAKED = {baked}
class InferenceSession:
    def __init__(self, path, providers=None):
        self.path = path
    def run(self, names, feeds):
        b = 1 if BAKED else next(iter(feeds.values())).shape[0]
        return [np.zeros((b, 300, 80), np.float32), np.zeros((b, 300, 4), np.float32)]
"""


def run_script(args, block=(), fake_ort=None):
    """Runs the script as __main__ with the named modules made unimportable; fake_ort: None (the
    real onnxruntime is blocked too, so results do not depend on the machine), True (a fake whose
    outputs keep batch 1) or False (a fake that carries the batch)."""
    block = list(block)
    pre = ""
    if fake_ort is None:
        block.append("onnxruntime")
    else:
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "onnxruntime.py"), "w") as f:
            f.write(FAKE_ORT.format(baked=fake_ort))
        pre = f"sys.path.insert(0, {d!r})\n"
    code = ("import sys, runpy\n" + pre +
            f"for m in {block!r}: sys.modules[m] = None\n"
            f"sys.argv = ['export_rtdetr_batch.py'] + {list(args)!r}\n"
            f"runpy.run_path({os.path.join(SRC, 'scripts', 'export_rtdetr_batch.py')!r}, run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


class ExportScript(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.dynamic = os.path.join(d, "dynamic.onnx")
        cls.static = os.path.join(d, "static.onnx")
        cls.half = os.path.join(d, "half.onnx")  # dynamic input, outputs still batch 1
        make_model(cls.dynamic, ["batch", 3, 640, 640], [["batch", 300, 80], ["batch", 300, 4]])
        make_model(cls.static, [1, 3, 640, 640], [[1, 300, 80], [1, 300, 4]])
        make_model(cls.half, ["batch", 3, 640, 640], [[1, 300, 80], [1, 300, 4]])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_help_works_without_torch_or_transformers(self):
        rc, out = run_script(["--help"], block=("torch", "transformers"))
        self.assertEqual(rc, 0, out)
        self.assertIn("--random-init", out)
        self.assertIn("--static", out)

    def test_dynamic_export_passes_and_prints_the_signature(self):
        rc, out = run_script(["--check", self.dynamic], block=("torch", "transformers"))
        self.assertEqual(rc, 0, out)
        self.assertIn("input pixel_values: ['batch', 3, 640, 640]", out)
        self.assertIn("output pred_boxes: ['batch', 300, 4]", out)
        self.assertIn("signature check: passed", out)

    def test_static_model_fails_the_dynamic_check_and_names_the_remedy(self):
        rc, out = run_script(["--check", self.static])
        self.assertEqual(rc, 1, out)
        self.assertIn("input pixel_values: [1, 3, 640, 640]", out)
        self.assertIn("expected a symbolic batch dimension first", out)
        self.assertIn("tiledet batchify", out)

    def test_dynamic_input_with_batch_one_outputs_fails(self):
        rc, out = run_script(["--check", self.half])
        self.assertEqual(rc, 1, out)
        self.assertIn("output 'logits' is [1, 300, 80]", out)
        self.assertNotIn("input 'pixel_values' is", out)

    def test_static_flag_checks_for_batch_one(self):
        self.assertEqual(run_script(["--static", "--check", self.static])[0], 0)
        rc, out = run_script(["--static", "--check", self.dynamic])
        self.assertEqual(rc, 1, out)
        self.assertIn("expected batch 1 first", out)

    def test_check_through_tiledet_when_the_onnx_package_is_missing(self):
        rc, out = run_script(["--check", self.dynamic, "--tiledet", TILEDET], block=("onnx",))
        self.assertEqual(rc, 0, out)
        self.assertIn("input pixel_values: ['batch', 3, 640, 640]", out)
        rc, out = run_script(["--check", self.static, "--tiledet", TILEDET], block=("onnx",))
        self.assertEqual(rc, 1, out)
        self.assertIn("output logits: [1, 300, 80]", out)

    def test_check_without_onnx_or_tiledet_says_what_to_install(self):
        rc, out = run_script(["--check", self.dynamic, "--tiledet", "/nonexistent/tiledet"], block=("onnx",))
        self.assertEqual(rc, 1, out)
        self.assertIn("python3-onnx", out)
        self.assertIn("'/nonexistent/tiledet' is not an executable", out)
        self.assertNotIn("Traceback", out)

    def test_run_check_catches_a_batch_baked_behind_a_symbolic_dim(self):
        rc, out = run_script(["--check", self.dynamic], fake_ort=True)
        self.assertEqual(rc, 1, out)
        self.assertIn("signature check: passed", out)
        self.assertIn("run check (ONNX Runtime fake, batch 1 and 3): FAILED", out)
        self.assertIn("at batch 3 the outputs are [[1, 300, 80], [1, 300, 4]]", out)

    def test_run_check_passes_when_the_batch_carries_through(self):
        rc, out = run_script(["--check", self.dynamic], fake_ort=False)
        self.assertEqual(rc, 0, out)
        self.assertIn("run check (ONNX Runtime fake, batch 1 and 3): passed", out)

    def test_run_check_is_skipped_without_onnxruntime(self):
        rc, out = run_script(["--check", self.dynamic])
        self.assertEqual(rc, 0, out)
        self.assertIn("run check: skipped (no onnxruntime Python package)", out)

    def test_missing_file_fails_clearly(self):
        rc, out = run_script(["--check", "/nonexistent/model.onnx"])
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent/model.onnx: no such file", out)

    def test_bad_arguments_exit_two_with_one_line(self):
        for args, text in ((["--model", "r34vd"], "--model: unknown 'r34vd'"),
                           (["--opset", "16"], "--opset: expected 17 or newer, got 16"),
                           (["--imgsz", "650"], "--imgsz: expected a multiple of 32")):
            rc, out = run_script(args, block=("torch", "transformers"))
            self.assertEqual(rc, 2, (args, out))
            self.assertIn(text, out)
            self.assertNotIn("Traceback", out)

    def test_export_without_torch_is_refused_naming_the_packages(self):
        rc, out = run_script(["--model", "both", "--random-init", "--out", self.tmp.name], block=("torch",))
        self.assertEqual(rc, 2, out)
        self.assertIn("the export needs torch and transformers", out)
        self.assertIn("--check works without them", out)
        self.assertNotIn("Traceback", out)


if __name__ == "__main__":
    SRC, TILEDET = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0]], verbosity=2)
