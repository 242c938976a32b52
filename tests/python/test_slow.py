"""The Dask example against the CLI (CTest label slow), and a leak check (about 10 s)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tiledet
from conftest import SOURCE, cli_jsonl, comparable, model, scene, shared


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_dask_example_on_a_local_cluster_of_two_workers_equals_the_cli(tmp_path, mode):
    m = shared("models/yolov8n_int8.onnx")
    folder = shared("images/coco64/images")
    out = tmp_path / "dask.jsonl"
    cmd = [sys.executable, str(SOURCE / "examples" / "dask_folder.py"), m, folder, "--out", str(out),
           "--workers", "2", "--chunk", "5", "-o", "conf=0.2"]
    if mode == "threads":
        cmd.append("--threads")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "on 2 worker(s)" in r.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    want = cli_jsonl(m, [folder], "--conf", "0.2")
    assert len(got) == len(want) == 64
    assert [comparable(g) for g in got] == [comparable(w) for w in want]
    assert sum(len(w["detections"]) for w in want) > 100


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_two_thousand_detect_calls_keep_resident_memory_flat():
    images = [scene(i, 360, 480) for i in range(4)]
    with tiledet.Pipeline(model("yolo_nc3_dynamic"), tile=320, overlap=0.25) as p:
        for i in range(200):  # warm-up: allocator pools, ONNX Runtime arenas, per-thread buffers
            p.detect(images[i % 4])
        after_warmup = rss_kib()
        for i in range(1800):
            d = p.detect(images[i % 4])
            _ = d.tiles, d.timings  # the JSON view too
        grown = rss_kib() - after_warmup
    assert len(d) > 0
    # 1,800 results of ~4 tiles each: a leak of a tile's input (1.2 MB) or even of each
    # Detections' arrays and JSON (~2 KB) would add well over this.
    assert grown < 3 * 1024, f"resident memory grew by {grown} KiB over 1,800 calls after warm-up"
