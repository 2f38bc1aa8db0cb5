#!/usr/bin/env python3
"""Scrapes a live /metrics endpoint and parses it with Prometheus' own Python parser
(prometheus_client.parser, Debian's python3-prometheus-client).

Usage: metrics_exposition_test.py SERVER VERSION METRICS_DOC

SERVER is tests/service/metrics_exposition_server; VERSION the build's version, which
rollcall_build_info must carry; METRICS_DOC service/metrics.md, which must list every metric
family the server emits, and nothing it does not.
"""

import math
import re
import subprocess
import sys
import unittest
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

SERVER, VERSION, METRICS_DOC = sys.argv[1:4]


class MetricsExpositionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = subprocess.Popen([SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True)
        line = cls.server.stdout.readline()
        match = re.fullmatch(r"metrics port (\d+)\n", line)
        if match is None:
            cls.server.kill()
            raise RuntimeError(f"the server did not start: {line!r}")
        url = f"http://127.0.0.1:{match.group(1)}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            cls.text = response.read().decode("utf-8")
        cls.families = {f.name: f for f in text_string_to_metric_families(cls.text)}

    @classmethod
    def tearDownClass(cls):
        cls.server.stdin.close()
        assert cls.server.wait(timeout=30) == 0

    def family(self, name, type_):
        self.assertIn(name, self.families, f"{name} is not exposed")
        family = self.families[name]
        self.assertEqual(family.type, type_, name)
        self.assertTrue(family.documentation, f"{name} has no HELP")
        return family

    def check_histogram(self, name, labels):
        family = self.family(name, "histogram")
        series = {}
        for sample in family.samples:
            key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            self.assertEqual(sorted(k for k, _ in key), sorted(labels), sample)
            series.setdefault(key, []).append(sample)
        self.assertTrue(series, f"{name} has no series")
        for key, samples in series.items():
            buckets = [(float(s.labels["le"]), s.value) for s in samples
                       if s.name == name + "_bucket"]
            counts = [s.value for s in samples if s.name == name + "_count"]
            sums = [s.value for s in samples if s.name == name + "_sum"]
            self.assertEqual(len(counts), 1, key)
            self.assertEqual(len(sums), 1, key)
            bounds = [b for b, _ in buckets]
            self.assertEqual(bounds, sorted(bounds), key)
            self.assertTrue(math.isinf(bounds[-1]), key)
            values = [v for _, v in buckets]
            self.assertEqual(values, sorted(values), f"{key}: buckets must be cumulative")
            self.assertEqual(values[-1], counts[0], f"{key}: +Inf bucket must equal _count")
            self.assertGreater(counts[0], 0, key)
            self.assertGreaterEqual(sums[0], 0, key)
        return series

    def test_rpc_latency_histogram(self):
        series = self.check_histogram("rollcall_rpc_duration_seconds",
                                      ["method", "code", "cache"])
        keys = {dict(k)["cache"] + "/" + dict(k)["code"] for k in series}
        self.assertLessEqual({"hit/OK", "miss/OK", "negative_hit/NOT_FOUND"}, keys)

    def test_graph_latency_histogram(self):
        series = self.check_histogram("rollcall_graph_call_duration_seconds",
                                      ["endpoint", "http_status"])
        keys = {dict(k)["endpoint"] + "/" + dict(k)["http_status"] for k in series}
        self.assertLessEqual({"token/200", "attendance_report/200", "attendance_report/429"},
                             keys)

    def test_counters_and_gauges(self):
        requests = self.family("rollcall_requests", "counter")
        by_code = {s.labels["code"]: s.value for s in requests.samples
                   if s.name == "rollcall_requests_total"}
        self.assertEqual(len(by_code), 17)
        self.assertEqual(by_code["OK"], 2)
        self.assertEqual(self.value("rollcall_cache_hits", "counter"), 1)
        self.assertEqual(self.value("rollcall_cache_misses", "counter"), 1)
        self.assertEqual(self.value("rollcall_graph_fetches", "counter"), 1)
        self.assertEqual(self.value("rollcall_cache_entries", "gauge"), 1)
        self.assertEqual(self.value("rollcall_calls_in_flight", "gauge"), 0)

    def test_process_metrics_and_build_info(self):
        self.assertGreaterEqual(self.value("process_cpu_seconds", "counter"), 0)
        self.assertGreater(self.value("process_resident_memory_bytes", "gauge"), 0)
        self.assertGreater(self.value("process_open_fds", "gauge"), 2)
        self.assertGreater(self.value("process_start_time_seconds", "gauge"), 1.6e9)
        build = self.family("rollcall_build_info", "gauge")
        self.assertEqual([(s.labels, s.value) for s in build.samples],
                         [({"version": VERSION}, 1.0)])

    def test_every_metric_is_documented(self):
        emitted = set(re.findall(r"^# TYPE (\S+) ", self.text, re.MULTILINE))
        with open(METRICS_DOC, encoding="utf-8") as doc:
            documented = set(re.findall(r"^\| `([a-z_:]+)` \|", doc.read(), re.MULTILINE))
        self.assertEqual(sorted(emitted - documented), [],
                         "emitted but not listed in service/metrics.md")
        self.assertEqual(sorted(documented - emitted), [],
                         "listed in service/metrics.md but not emitted")

    def value(self, name, type_):
        samples = self.family(name, type_).samples
        self.assertEqual(len(samples), 1, name)
        return samples[0].value


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
