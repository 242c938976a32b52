#!/usr/bin/env python3
"""Detect objects in a folder of images (or a list of URLs) on a Dask cluster; one JSON Lines file.

    python3 examples/dask_folder.py MODEL FOLDER --out results.jsonl [--workers 2] [-o tile=640 ...]
    python3 examples/dask_folder.py MODEL --urls urls.txt --out results.jsonl --scheduler tcp://host:8786

Each Dask worker keeps one tiledet.Pipeline for its lifetime (a worker plugin loads the model
once, in setup), and tasks are chunks of paths or URLs, so no task loads a model. The output has
one line per image in input order, each what `tiledet detect --jsonl` writes for it (a failed
image is {"file": ..., "error": ...}), so `tiledet detect -m MODEL FOLDER --jsonl -` on the same
folder gives the same detections.

Without --scheduler it starts a LocalCluster of --workers worker processes on this machine
(--threads: workers in one process instead); with it, it uses that cluster (each machine needs
tiledet importable and the model at the same path, or a path on shared storage).

The worker's state is FolderDetector, plain Python with no Dask in it: the README shows it in
Ray Data's map_batches and Spark's mapPartitions.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request

import tiledet


class FolderDetector:
    """One Pipeline, kept: called with a chunk of paths or URLs, returns their JSON Lines records."""

    def __init__(self, model, **options):
        self.pipeline = tiledet.Pipeline(model, **options)

    @staticmethod
    def _read(item):
        if "://" in item:  # a URL: fetched here, on the worker, and decoded from memory
            with urllib.request.urlopen(item, timeout=60) as r:
                return r.read()
        return item  # a path: tiledet reads and decodes it

    def __call__(self, items):
        images, labels, lines = [], [], {}
        for i, item in enumerate(items):
            try:
                images.append(self._read(item))
                labels.append(item)
            except Exception as e:  # an unreachable URL fails alone, as an unreadable file does
                lines[i] = json.dumps({"error": f"{item}: {e}", "file": item}, separators=(",", ":"))
        results = iter(self.pipeline.detect_many(images, labels=labels, return_exceptions=True))
        out = []
        for i, item in enumerate(items):
            if i in lines:
                out.append(lines[i])
                continue
            r = next(results)
            if isinstance(r, Exception):
                out.append(json.dumps({"error": str(r), "file": item}, separators=(",", ":"), ensure_ascii=False))
            else:
                out.append(r.to_json())
        return out

    def close(self):
        self.pipeline.close()


def _plugin_class():
    from distributed import WorkerPlugin

    class TiledetPlugin(WorkerPlugin):
        """Loads the model once per worker (setup) and frees it when the worker ends."""
        name = "tiledet"

        def __init__(self, model, options):
            self.model, self.options = model, options

        def setup(self, worker):
            worker.tiledet_detector = FolderDetector(self.model, **self.options)

        def teardown(self, worker):
            worker.tiledet_detector.close()

    return TiledetPlugin


def detect_chunk(items):
    """A Dask task: the chunk's records, from the worker's own FolderDetector."""
    from distributed import get_worker
    return get_worker().tiledet_detector(items)


def parse_options(pairs):
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"-o {pair}: expected NAME=VALUE, e.g. -o tile=640 (names: tiledet.option_specs())")
        options[name.replace("-", "_")] = value
    return options


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("folder", nargs="?", help="a folder of images (or one image)")
    ap.add_argument("--urls", help="a file with one image URL (or path) per line, instead of a folder")
    ap.add_argument("--out", required=True, help="the JSON Lines file to write")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    ap.add_argument("--threads", action="store_true", help="LocalCluster workers as threads of this process")
    ap.add_argument("--chunk", type=int, default=8, help="images per task (default 8)")
    ap.add_argument("-o", "--option", action="append", default=[], help="a Pipeline keyword, NAME=VALUE")
    a = ap.parse_args(argv)
    if bool(a.folder) == bool(a.urls):
        ap.error("give a folder or --urls FILE")
    if a.urls:
        with open(a.urls) as f:
            items = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    else:
        items = tiledet._tiledet._list_images(a.folder)
    options = parse_options(a.option)
    if a.scheduler is None and "threads" not in options:
        # Workers on one machine share its cores instead of each taking all of them.
        options["threads"] = max(1, (os.cpu_count() or 1) // a.workers)

    from distributed import Client, LocalCluster

    cluster = None
    if a.scheduler:
        client = Client(a.scheduler)
    else:
        cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=not a.threads,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        client.register_worker_plugin(_plugin_class()(a.model, options))  # each worker loads the model now
        chunks = [items[i:i + a.chunk] for i in range(0, len(items), a.chunk)]
        start = time.perf_counter()
        futures = client.map(detect_chunk, chunks, pure=False)
        failed = 0
        with open(a.out, "w") as out:
            for fut in futures:  # in input order; later chunks keep running meanwhile
                for line in fut.result():
                    failed += '"error":' in line and '"detections"' not in line
                    out.write(line + "\n")
        seconds = time.perf_counter() - start
        workers = len(client.scheduler_info()["workers"])
        print(f"{len(items)} image(s) on {workers} worker(s) in {seconds:.2f} s: {len(items) / seconds:.1f} images/s, "
              f"{failed} failed -> {a.out}", file=sys.stderr)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
