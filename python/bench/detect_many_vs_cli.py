#!/usr/bin/env python3
"""Python detect_many vs `tiledet detect` on the same folder and options, alternating, in one run.

    PYTHONPATH=build/python python3 python/bench/detect_many_vs_cli.py MODEL FOLDER [--rounds 3] [-o tile=320 ...]

Each round runs the CLI (`detect --jsonl FILE`: process start, model load, every image, JSON
lines written) and then the same in Python (Pipeline(...), detect_many over the folder's paths,
each result's to_json() written), timing each from start to finish; prints per-round seconds,
the medians and their ratio (Python / CLI). Both also say the detections they found, which must
agree.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import tiledet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("folder")
    ap.add_argument("--cli", default="build/bin/tiledet")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-o", "--option", action="append", default=[])
    a = ap.parse_args()
    options = dict(p.split("=", 1) for p in a.option)
    flags = [x for k, v in options.items() for x in ("--" + k.replace("_", "-"), v)]
    files = tiledet._tiledet._list_images(a.folder)
    cli_s, py_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            out = os.path.join(tmp, "cli.jsonl")
            t = time.perf_counter()
            subprocess.run([a.cli, "detect", "-m", a.model, a.folder, "--jsonl", out, *flags], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cli_s.append(time.perf_counter() - t)
            cli_dets = sum(len(json.loads(l)["detections"]) for l in open(out))

            t = time.perf_counter()
            with tiledet.Pipeline(a.model, **options) as p, open(os.path.join(tmp, "py.jsonl"), "w") as f:
                for d in p.detect_many(files):
                    f.write(d.to_json() + "\n")
            py_s.append(time.perf_counter() - t)
            py_dets = sum(len(json.loads(l)["detections"]) for l in open(os.path.join(tmp, "py.jsonl")))
            print(f"round {r + 1}: CLI {cli_s[-1]:.2f} s ({cli_dets} detections), "
                  f"Python {py_s[-1]:.2f} s ({py_dets} detections)", flush=True)
    c, p = statistics.median(cli_s), statistics.median(py_s)
    print(f"{len(files)} images, options {options or 'none'}: median CLI {c:.2f} s ({len(files) / c:.1f} images/s), "
          f"Python detect_many {p:.2f} s ({len(files) / p:.1f} images/s); Python / CLI = {p / c:.3f}")


if __name__ == "__main__":
    sys.exit(main())
