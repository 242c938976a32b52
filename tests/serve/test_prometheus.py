"""A real Prometheus (Debian's `prometheus`) scrapes `tiledet serve`'s metrics port, and the
values read back through Prometheus's HTTP query API match the requests sent. Skipped where
the prometheus binary is absent."""
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from test_serve_cli import NAME, MODEL, Server, call, detect, png, scene

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary (Debian: apt-get install prometheus)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=5) as r:
        result = json.loads(r.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_prometheus_reads_back_the_counts(tmp_path):
    server = Server("-m", MODEL)
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: tiledet\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n" % server.metrics_port)
    prom = subprocess.Popen([PROMETHEUS, "--config.file", str(tmp_path / "prometheus.yml"),
                             "--storage.tsdb.path", str(tmp_path / "data"),
                             "--web.listen-address", "127.0.0.1:%d" % prom_port],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sent_ok, sent_bad = 5, 2
        for _ in range(sent_ok):
            assert detect(server, png(scene()))[0] == 200
        for _ in range(sent_bad):
            assert call(server.url("/v2/models/%s/infer" % NAME), b"not json")[0] == 400
        want = {
            'nv_inference_request_success{model="%s"}' % NAME: sent_ok,
            'nv_inference_request_failure{model="%s",reason="OTHER"}' % NAME: sent_bad,
            'nv_inference_exec_count{model="%s"}' % NAME: sent_ok,
            'nv_inference_count{model="%s"}' % NAME: sent_ok,
            'tiledet_tiles_per_request_count{model="%s"}' % NAME: sent_ok,
            'nv_inference_pending_request_count{model="%s"}' % NAME: 0,
        }
        got = {}
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                got = {expr: query(prom_port, expr) for expr in want}
            except OSError:
                got = {}
            if got == want:
                break
            time.sleep(0.5)
        assert got == want
        # The queue and compute counters grew, and the mean batch is readable as Triton's dashboards do.
        assert query(prom_port, 'nv_inference_request_duration_us{model="%s"}' % NAME) > 0
        assert query(prom_port, 'nv_inference_count{model="%s"} / nv_inference_exec_count{model="%s"}' % (NAME, NAME)) == 1
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        assert server.stop() == 0
