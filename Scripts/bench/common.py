"""Helpers shared by the side-by-side benchmark scripts."""
import subprocess
import time


def timed(body, seconds, warmup=3):
    """Seconds per call of `body`, after a warm-up, timed over about `seconds`."""
    for _ in range(warmup):
        body()
    iterations, start = 0, time.perf_counter()
    while True:
        body()
        iterations += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / iterations


def run_synapse(binary, seconds):
    """Runs a Synapse benchmark with --tsv and returns {(name, threads): value}."""
    out = subprocess.run([binary, "--tsv", "--seconds", str(seconds)], check=True,
                         capture_output=True, text=True).stdout
    figures = {}
    for line in out.splitlines():
        name, threads, value = line.split("\t")
        figures[(name, int(threads))] = float(value)
    return figures
