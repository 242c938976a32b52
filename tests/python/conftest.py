"""Paths and helpers for the Python module's tests (run by CTest with the build's environment)."""
import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

MODELS = Path(os.environ.get("TILEDET_TEST_MODELS_DIR", "build/models"))
SHARED = Path(os.environ.get("TILEDET_SHARED_DIR", "../shared"))
CLI = os.environ.get("TILEDET_CLI", "build/bin/tiledet")
SOURCE = Path(os.environ.get("TILEDET_SOURCE_DIR", Path(__file__).resolve().parents[2]))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a minute (CTest label slow)")


def model(name):
    path = MODELS / f"{name}.onnx"
    if not path.exists():
        pytest.fail(f"generated model {path} missing: build the test_models target")
    return str(path)


def shared(rel):
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"{path} absent (the shared models/images folder beside the checkout)")
    return str(path)


def write_bmp(path, bgr):
    """A 24-bit BMP of a [H, W, 3] uint8 BGR array: lossless, so the decoder gives the same pixels."""
    h, w, _ = bgr.shape
    row = (w * 3 + 3) & ~3
    body = bytearray()
    for y in range(h - 1, -1, -1):
        line = bgr[y].tobytes()
        body += line + b"\0" * (row - len(line))
    header = b"BM" + struct.pack("<IHHI", 54 + len(body), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(body), 2835, 2835, 0, 0)
    Path(path).write_bytes(header + info + bytes(body))
    return str(path)


def scene(seed, h=480, w=640):
    """A colourful image whose planted-region means (the generated models' scores) depend on it."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    for c in range(3):
        img[..., c] = rng.integers(20 + 60 * c, 120 + 60 * c, dtype=np.uint8)
    img += rng.integers(0, 40, size=(h, w, 3), dtype=np.uint8)
    return img


def run_cli(*args, check=True):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if check and r.returncode not in (0, 1):
        raise AssertionError(f"tiledet {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
    return r


def cli_jsonl(model_path, inputs, *flags):
    r = run_cli("detect", "-m", model_path, *inputs, "--jsonl", "-", *flags)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def comparable(record):
    """A --json image record without what depends on timing (timings, latencies, batch membership)."""
    out = {k: record[k] for k in ("file", "width", "height", "detections") if k in record}
    if "error" in record:
        out["error"] = record["error"]
    out["tiles"] = [{k: t[k] for k in ("x", "y", "w", "h", "full_image", "detections")} for t in record.get("tiles", [])]
    return out
