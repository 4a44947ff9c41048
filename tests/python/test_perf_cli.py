"""End-to-end tests of build/bin/mixccl-perf: it launches real ranks, so these pass only when the
library works. The build directory comes from MIXCCL_BUILD_DIR (default: build/ in the repository)."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("MIXCCL_BUILD_DIR", "build"))
if not BUILD_DIR.is_absolute():
    BUILD_DIR = REPO / BUILD_DIR
PERF = BUILD_DIR / "bin" / "mixccl-perf"

COLLECTIVES = ["all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce", "alltoall", "gather",
               "scatter", "sendrecv"]
TYPE_BYTES = {"int8": 1, "uint8": 1, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "half": 2, "float": 4,
              "double": 8, "bfloat16": 2, "fp8_e4m3": 1, "fp8_e5m2": 1}


def bus_factor(collective, n):
    if collective == "all_reduce":
        return 2 * (n - 1) / n
    if collective in ("all_gather", "reduce_scatter", "alltoall", "gather", "scatter"):
        return (n - 1) / n
    return 1.0


def run_perf(*args, timeout=300):
    if not PERF.exists():
        pytest.fail(f"{PERF} does not exist: build it first (scripts/build.sh), or set MIXCCL_BUILD_DIR")
    env = dict(os.environ)
    env.setdefault("MIXCCL_TIMEOUT", "60")  # a hang becomes a failure well inside the test's own timeout
    return subprocess.run([str(PERF), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def parse_rows(stdout):
    """The data rows of the table: every line that is not a comment, as a dict."""
    rows = []
    for line in stdout.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split()
        # 13 columns as nccl-tests prints them; with --algos a 14th names the algorithm.
        assert len(f) in (13, 14), f"a table row has 13 or 14 columns, this one {len(f)}: {line!r}"
        rows.append({
            "size": int(f[0]), "count": int(f[1]), "type": f[2], "redop": f[3], "root": int(f[4]),
            "oop": {"time": float(f[5]), "algbw": float(f[6]), "busbw": float(f[7]), "wrong": f[8]},
            "ip": {"time": float(f[9]), "algbw": float(f[10]), "busbw": float(f[11]), "wrong": f[12]},
            "algorithm": f[13] if len(f) == 14 else None,
        })
    return rows


def assert_ok(result):
    assert result.returncode == 0, f"exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "# Out of bounds values : 0 OK" in result.stdout, result.stdout


def assert_no_wrong(rows):
    assert rows, "the table has no rows"
    for r in rows:
        assert r["oop"]["wrong"] == "0" and r["ip"]["wrong"] == "0", r


@pytest.mark.parametrize("nranks", [2, 3])
def test_all_reduce_sweep(nranks):
    result = run_perf("all_reduce", "-np", nranks, "-b", "8", "-e", "64K", "-f", "4", "-n", "5", "-c", "1")
    assert_ok(result)
    rows = parse_rows(result.stdout)
    assert [r["size"] for r in rows] == [8 * 4**k for k in range(7)]  # 8 .. 32768, -e 64K not reached
    factor = bus_factor("all_reduce", nranks)
    for r in rows:
        assert r["count"] == r["size"] // 4 and r["type"] == "float" and r["redop"] == "sum" and r["root"] == -1
        for m in (r["oop"], r["ip"]):
            assert m["time"] > 0
            # Printed with two decimals: allow for the rounding of both numbers.
            assert abs(m["busbw"] - m["algbw"] * factor) <= 0.011 * (1 + factor), r
    assert_no_wrong(rows)
    assert f"nThread 1 nGpus 1 minBytes 8 maxBytes {64 * 1024} step: 4(factor)" in result.stdout
    assert result.stdout.count("#  Rank") == nranks
    assert "[cpu]" in result.stdout


def test_json_report(tmp_path):
    out = tmp_path / "perf.json"
    result = run_perf("all_reduce", "-np", 2, "-b", "1K", "-e", "16K", "-f", "2", "-n", "3", "--json", out)
    assert_ok(result)
    doc = json.loads(out.read_text())
    table = parse_rows(result.stdout)
    assert len(doc["rows"]) == len(table) == 5
    assert doc["collective"] == "all_reduce"
    assert doc["machine"]["nranks"] == 2 and len(doc["machine"]["devices"]) == 2
    assert doc["parameters"]["min_bytes"] == 1024 and doc["parameters"]["max_bytes"] == 16384
    assert doc["summary"]["wrong_total"] == 0 and doc["summary"]["ok"] is True
    for row, printed in zip(doc["rows"], table):
        assert row["size_bytes"] == printed["size"]
        for m in (row["out_of_place"], row["in_place"]):
            assert m["wrong"] == 0
            assert m["busbw_gbps"] == pytest.approx(m["algbw_gbps"] * bus_factor("all_reduce", 2))
            assert m["algbw_gbps"] == pytest.approx(row["size_bytes"] / m["time_us"] / 1e3)


@pytest.mark.parametrize("dtype", ["float", "bfloat16", "int8"])
@pytest.mark.parametrize("collective", COLLECTIVES)
def test_every_collective_is_right(collective, dtype, tmp_path):
    out = tmp_path / "perf.json"
    result = run_perf(collective, "-np", 4, "-c", "1", "-b", "8", "-e", "1M", "-f", "8", "-n", "2", "-w", "1",
                      "-d", dtype, "-r", 1, "--json", out)
    assert_ok(result)
    rows = parse_rows(result.stdout)
    assert_no_wrong(rows)
    doc = json.loads(out.read_text())
    for r in rows:
        assert r["type"] == dtype
        assert r["size"] == r["count"] * TYPE_BYTES[dtype]
        assert r["root"] == (1 if collective in ("broadcast", "reduce", "gather", "scatter") else -1)
    for row in doc["rows"]:
        for m in (row["out_of_place"], row["in_place"]):
            assert m["busbw_gbps"] == pytest.approx(m["algbw_gbps"] * bus_factor(collective, 4))


@pytest.mark.parametrize("collective", ["all_reduce", "reduce_scatter", "reduce"])
def test_every_type_and_reduction(collective):
    result = run_perf(collective, "-np", 3, "-c", "1", "-b", "8", "-e", "4K", "-f", "8", "-n", "1", "-w", "0",
                      "-d", "all", "-o", "all")
    assert_ok(result)
    rows = parse_rows(result.stdout)
    assert_no_wrong(rows)
    combos = {(r["type"], r["redop"]) for r in rows}
    assert len(combos) == len(TYPE_BYTES) * 6  # every type x sum prod max min avg premulsum


def test_single_rank_without_launcher():
    result = run_perf("all_reduce", "-b", "8", "-e", "1K", "-f", "2", "-n", "2")
    assert_ok(result)
    assert result.stdout.count("#  Rank") == 1
    assert_no_wrong(parse_rows(result.stdout))


def test_check_disabled_prints_na():
    result = run_perf("broadcast", "-np", 2, "-b", "64", "-e", "64", "-c", "0", "-n", "2")
    assert result.returncode == 0, result.stderr
    rows = parse_rows(result.stdout)
    assert len(rows) == 1 and rows[0]["oop"]["wrong"] == "N/A" and rows[0]["ip"]["wrong"] == "N/A"


def test_increment_sweep():
    result = run_perf("all_gather", "-np", 2, "-b", "1K", "-e", "4K", "-i", "1K", "-n", "2")
    assert_ok(result)
    assert [r["size"] for r in parse_rows(result.stdout)] == [1024, 2048, 3072, 4096]
    assert "step: 1024(bytes)" in result.stdout


def test_algos_are_timed_in_turn_and_each_runs_its_algorithm(tmp_path):
    """--algos: one communicator per algorithm, every size measured with each in turn, all checked."""
    out = tmp_path / "algos.json"
    env_debug = dict(os.environ, MIXCCL_DEBUG="INFO", MIXCCL_TIMEOUT="60")
    algos = ["ring", "rabenseifner", "tree", "auto"]
    result = subprocess.run([str(PERF), "all_reduce", "-np", "3", "-b", "8", "-e", "1M", "-f", "32", "-n", "2",
                             "-c", "1", "--algos", ",".join(algos), "--json", str(out)],
                            capture_output=True, text=True, timeout=300, env=env_debug)
    assert_ok(result)
    rows = parse_rows(result.stdout)
    sizes = [8, 256, 8192, 262144]
    assert [(r["size"], r["algorithm"]) for r in rows] == [(s, a) for s in sizes for a in algos]
    assert_no_wrong(rows)
    doc = json.loads(out.read_text())
    assert [r["algorithm"] for r in doc["rows"]] == [a for _ in sizes for a in algos]
    assert doc["parameters"]["algos"] == algos
    # Each forced communicator logs its choice with the forced algorithm (the tuner's INFO line).
    for a in ("ring", "rabenseifner", "tree"):
        assert re.search(rf"AllReduce .*\b{a}\b.*forced", result.stderr), result.stderr[-4000:]


def test_rounds_take_turns_between_communicators(tmp_path):
    """--rounds: the timed calls split into rounds, every communicator taking its turn in each (the
    TRACE log of rank 0 shows the order of its calls), every output still checked."""
    out = tmp_path / "rounds.json"
    env_trace = dict(os.environ, MIXCCL_DEBUG="TRACE", MIXCCL_TIMEOUT="60")
    result = subprocess.run([str(PERF), "all_reduce", "-np", "2", "-b", "1K", "-e", "1K", "-n", "5", "-w", "0",
                             "-c", "1", "--rounds", "2", "--algos", "ring,rabenseifner", "--json", str(out)],
                            capture_output=True, text=True, timeout=300, env=env_trace)
    assert_ok(result)
    assert ("# timed in 2 rounds, the communicators taking turns round by round; each time is the size's "
            "median round") in result.stdout
    rows = parse_rows(result.stdout)
    assert [(r["size"], r["algorithm"]) for r in rows] == [(1024, "ring"), (1024, "rabenseifner")]
    assert_no_wrong(rows)
    params = json.loads(out.read_text())["parameters"]
    assert params["rounds"] == 2 and params["round_stat"] == "median"
    # Rank 0's calls of the measured size (256 floats), in order: 5 timed calls split 3 + 2, each
    # round out of place then in place, the order of the communicators turning by one each round (so
    # none always goes first), then one checked call of each kind per communicator, in list order.
    calls = re.findall(r"rank 0: AllReduce #\d+ count 256 float32 root 0 in-place (\d) algorithm (\w+)",
                       result.stderr)
    def turn(algorithm, n):
        return [("0", algorithm)] * n + [("1", algorithm)] * n
    expected = (turn("ring", 3) + turn("rabenseifner", 3) + turn("rabenseifner", 2) + turn("ring", 2) +
                turn("ring", 1) + turn("rabenseifner", 1))
    assert calls == expected, result.stderr[-4000:]


def test_round_stat_fastest_reports_each_sizes_fastest_round(tmp_path):
    """--round-stat fastest: the pre-2026-12-07 statistic, said in the header and the JSON file."""
    out = tmp_path / "fastest.json"
    result = run_perf("all_reduce", "-np", 2, "-b", "64", "-e", "64", "-n", 6, "-w", 0, "--rounds", 3,
                      "--round-stat", "fastest", "--json", str(out), timeout=120)
    assert_ok(result)
    assert "# timed in 3 rounds; each time is the size's fastest round" in result.stdout
    assert_no_wrong(parse_rows(result.stdout))
    assert json.loads(out.read_text())["parameters"]["round_stat"] == "fastest"


def test_algos_with_an_unknown_algorithm_fail_naming_it():
    result = run_perf("all_reduce", "-np", 2, "-b", "8", "-e", "8", "--algos", "ring,warp", timeout=120)
    assert result.returncode != 0
    assert "'warp'" in result.stderr and "config.algorithms" in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    (["all_reduce", "--algos", "ring,,tree"], "has an empty entry"),
    (["all_reduce", "--algos", "allreduce:ring"], "bare algorithm names"),
    (["all_shuffle"], "unknown collective"),
    (["all_reduce", "-d", "nonsense"], "unknown data type"),
    (["all_reduce", "-o", "xor"], "unknown reduction"),
    (["all_reduce", "-np", "0"], "-np must be at least 1"),
    (["all_reduce", "-b", "1M", "-e", "1K"], "larger than"),
    (["all_reduce", "-b", "12Q"], "unknown suffix"),
    (["all_reduce", "-f", "2", "-i", "1K"], "exclude each other"),
    (["all_reduce", "-n", "0"], "-n must be at least 1"),
    (["all_reduce", "--rounds", "0"], "--rounds must be at least 1"),
    (["all_reduce", "-n", "3", "--rounds", "4"], "--rounds 4 is more than -n 3"),
    (["all_reduce", "--round-stat", "mean"], "--round-stat: mean not in {median,fastest}"),
    ([], "collective"),
])
def test_bad_arguments_are_refused(args, message):
    result = run_perf(*args, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_root_out_of_range_is_refused():
    result = run_perf("broadcast", "-np", 2, "-r", 5, "-b", "8", "-e", "8", timeout=60)
    assert result.returncode != 0
    assert "-r 5 is not a rank" in result.stderr, result.stderr


def test_unknown_device_kind_fails_clearly():
    result = run_perf("all_reduce", "-np", 2, "--devices", "cpu,warpdrive", "-b", "8", "-e", "8", timeout=120)
    assert result.returncode != 0
    assert "warpdrive" in result.stderr, result.stderr


def test_sendrecv_in_place_large_messages():
    """nccl-tests' in-place sendrecv passes the same buffer as send and receive buffer; NCCL delivers
    the previous rank's data intact. Large messages (more than the transport holds in flight) show
    whether the receive can overwrite data before it was sent."""
    result = run_perf("sendrecv", "-np", 2, "-b", "8M", "-e", "8M", "-n", "1", "-w", "0", "-c", "1")
    assert_ok(result)
