"""Helpers shared by the side-by-side benchmark scripts."""
import json
import os
import subprocess
import sys
import time


VECTOR_CORES = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids"}


def openblas_core():
    """The kernel set OpenBLAS picks on this machine, lowercased ("prescott", "haswell", ...),
    as its OPENBLAS_VERBOSE=2 report names it when it loads."""
    probe = "import ctypes, ctypes.util; ctypes.CDLL(ctypes.util.find_library('openblas') or 'libopenblas.so.0')"
    report = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, OPENBLAS_VERBOSE="2"),
                            capture_output=True, text=True)
    for line in (report.stdout + report.stderr).splitlines():
        if line.startswith("Core: "):
            return line[len("Core: "):].strip().lower()
    return ""


def use_vector_kernels():
    """Sets OPENBLAS_CORETYPE for this script and everything it starts, Synapse and PyTorch alike,
    when OpenBLAS falls back to kernels without AVX2 on a CPU that has AVX-512 (SkylakeX) or AVX2
    (Haswell): the rule of Synapse's BLAS.suggestedCoreType, which the samples follow. Both sides
    then multiply on the same kernels. A value already set stands."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return
    core = openblas_core()
    if not core or core in VECTOR_CORES:
        return
    flags = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    choice = "SkylakeX" if {"avx512f", "avx512vl"} <= flags else "Haswell" if {"avx2", "fma"} <= flags else None
    if choice:
        print(f"OpenBLAS picks its {core} kernels here; both sides run with OPENBLAS_CORETYPE={choice}", file=sys.stderr)
        os.environ["OPENBLAS_CORETYPE"] = choice


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


def torch_training_images_per_s(model, batch, seconds):
    """Images/s of a PyTorch image classifier's training step (forward, softmax cross-entropy,
    backward, Adam) on a fixed random batch of 3 x 32 x 32 images of ten classes, as
    conv-benchmark trains Synapse's networks; leaves `model` in training mode."""
    import torch
    model.train()
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, 32, 32) * 2 - 1
    y = torch.arange(batch) % 10

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()
        optimizer.step()
    return batch / timed(step, seconds)


def run_synapse(binary, seconds, extra=()):
    """Runs a Synapse benchmark with --tsv (and `extra` options) and returns {(name, threads): value}."""
    out = subprocess.run([binary, "--tsv", "--seconds", str(seconds), *extra], check=True,
                         capture_output=True, text=True).stdout
    figures = {}
    for line in out.splitlines():
        name, threads, value = line.split("\t")
        figures[(name, int(threads))] = float(value)
    return figures


def pinned_peer(script, threads, seconds, extra=()):
    """The PyTorch side's figures for `threads` threads, measured in a process of its own.

    Debian's PyTorch runs nn.Linear and friends through OpenBLAS, whose threads
    torch.set_num_threads does not limit, and OpenBLAS reads its thread count once, when it is
    loaded. So each thread count runs `script --peer-threads N [extra]` in a new process with
    OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set to N before torch is imported; the script
    measures (see `serve_peer`) and prints its figures as JSON.
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, script, "--peer-threads", str(threads), "--seconds", str(seconds), *extra],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def serve_peer(threads, measure, seconds):
    """In the peer process: pins torch's own threads too, measures and prints the figures as JSON."""
    import torch
    assert os.environ.get("OPENBLAS_NUM_THREADS") == str(threads), "start the peer through pinned_peer"
    torch.set_num_threads(threads)
    print(json.dumps(measure(threads, seconds)))
