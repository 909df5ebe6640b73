"""Throughput over windows of seconds, each side in a process of its own, interleaved.

A ratio of two implementations is only as honest as the conditions both
were timed in.  Timed in one process, they share an allocator (the pages
one side has faulted in, the other reuses) and an OpenMP runtime; the
fastest of thousands of calls hides the page faults, cache misses and
preemptions that a user's steady loop pays for.  So here:

* each side (backend and thread count) runs in a **worker process** of its
  own (``python -m bench.throughput --worker``), started with its thread
  count fixed in the environment (``NUMBA_NUM_THREADS``,
  ``OMP_NUM_THREADS``, ``torch.set_num_threads``, XLA's flags);
* the parent asks the workers in turn for **windows**: calls of one
  workload back to back for at least ``window`` seconds (at least one
  call), so that slow moments of a shared machine hit every side alike;
  while one worker runs, the others wait on their input;
* each window gives a throughput (samples per second); a side's figure is
  the **median over its windows**, and a ratio the ratio of the medians.
  The fastest single call of each side is kept as a second figure.

A worker also counts the minor page faults of the process
(``resource.getrusage``) over each window, and on request over a number of
calls (:meth:`Pool.faults`).

The protocol is one JSON object per line on the worker's stdin and one
line ``@@ <json>`` per answer on its stdout (anything else it prints is
ignored).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from .machine import CpuMonitor, wait_idle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSWER = "@@ "


# ---------------------------------------------------------------------------
# Workloads (built inside the worker)
# ---------------------------------------------------------------------------


def build_workload(spec):
    """A callable without arguments for ``spec`` and its number of samples per call.

    ``spec`` keys: ``kind`` ("step", "infer" or "kernel"), ``backend``,
    ``dtype``, ``batch``; ``net`` ("lenet", "cifar") for networks;
    ``layer`` and ``op`` for kernels (see :mod:`bench.backends`).
    """
    from . import backends as B

    kind = spec["kind"]
    if kind in ("step", "infer"):
        net = B.make_net(
            spec["backend"], spec["net"], spec["batch"], spec["dtype"], spec.get("seed", 0)
        )
        fn = net.step if kind == "step" else net.infer
        return fn, spec["batch"], lambda raw: net.loss_value(raw) if kind == "step" else None
    if kind == "kernel":
        conv = B.conv_spec(spec["layer"], spec["batch"])
        data = B.conv_data(conv, B.DTYPES[spec["dtype"]])
        adapter = B.CONV_ADAPTERS[spec["backend"]](conv, data)
        return adapter.op(spec["op"]), spec["batch"], lambda raw: None
    raise ValueError(f"build_workload: expected kind 'step', 'infer' or 'kernel', got {kind!r}")


def _minflt():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _set_threads(backend, threads):
    """Fix the thread count of ``backend`` in this worker (the environment did most of it)."""
    if threads is None:
        return
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
    elif backend.startswith("fastlayers"):
        import numba

        numba.set_num_threads(threads)
    elif backend == "jax" and hasattr(os, "sched_setaffinity"):
        # XLA uses every core it may run on: keep it on ``threads`` of them.
        cores = sorted(os.sched_getaffinity(0))
        if threads < len(cores):
            os.sched_setaffinity(0, cores[:threads])


def worker_main():
    """Serve requests on stdin until ``{"cmd": "quit"}`` or end of input."""
    backend = os.environ.get("BENCH_WORKER_BACKEND", "")
    threads = os.environ.get("BENCH_WORKER_THREADS", "")
    threads = int(threads) if threads else None
    if backend == "torch":
        import torch  # noqa: F401  (before numba's OpenMP pool: see bench.backends)
    _set_threads(backend, threads)
    workloads = {}
    out = sys.stdout

    def answer(obj):
        out.write(ANSWER + json.dumps(obj) + "\n")
        out.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        cmd = req["cmd"]
        try:
            if cmd == "quit":
                answer({"ok": True})
                return
            if cmd == "setup":
                start = time.perf_counter()
                fn, samples, check = build_workload(req["spec"])
                raw = fn()  # compiles and warms every cache
                first = time.perf_counter() - start
                raw = fn()
                value = check(raw)
                workloads[req["name"]] = (fn, samples)
                answer({"ok": True, "first_s": first, "value": value})
            elif cmd == "window":
                fn, samples = workloads[req["name"]]
                seconds = req["seconds"]
                faults0 = _minflt()
                calls = 0
                fastest = float("inf")
                start = time.perf_counter()
                while True:
                    t0 = time.perf_counter()
                    fn()
                    t1 = time.perf_counter()
                    calls += 1
                    fastest = min(fastest, t1 - t0)
                    if t1 - start >= seconds:
                        break
                answer(
                    {
                        "ok": True,
                        "calls": calls,
                        "elapsed": t1 - start,
                        "fastest": fastest,
                        "samples": samples * calls,
                        "minflt": _minflt() - faults0,
                    }
                )
            elif cmd == "faults":
                fn, _ = workloads[req["name"]]
                for _ in range(req.get("warmup", 20)):
                    fn()
                faults0 = _minflt()
                for _ in range(req["calls"]):
                    fn()
                answer({"ok": True, "minflt": _minflt() - faults0, "calls": req["calls"]})
            else:
                answer({"ok": False, "error": f"unknown command {cmd!r}"})
        except Exception as exc:  # reported to the parent, which raises it there
            answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})


# ---------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------


def worker_env(backend, threads):
    """Environment of a worker: the thread count of ``backend`` fixed from the start."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["BENCH_WORKER_BACKEND"] = backend
    env["BENCH_WORKER_THREADS"] = "" if threads is None else str(threads)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
        env["MKL_NUM_THREADS"] = str(threads)
        env["OPENBLAS_NUM_THREADS"] = str(threads)
        if backend.startswith("fastlayers"):
            env["NUMBA_NUM_THREADS"] = str(threads)
        if backend == "jax":
            # XLA's CPU client sizes its pools when it starts; one thread
            # means no Eigen thread pool and one intra-op thread.
            flags = env.get("XLA_FLAGS", "")
            if threads == 1:
                flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            env["XLA_FLAGS"] = flags.strip()
    else:
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


class WorkerError(RuntimeError):
    pass


class Worker:
    """A worker process for one backend and thread count."""

    def __init__(self, backend, threads):
        self.backend = backend
        self.threads = threads
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.throughput", "--worker"],
            cwd=ROOT,
            env=worker_env(backend, threads),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )

    def request(self, **req):
        """Send ``req`` and return the answer (a dict); raise :class:`WorkerError` on failure."""
        self.send(**req)
        return self.receive(req)

    def send(self, **req):
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died: receive() reports why

    def receive(self, req):
        for line in self.proc.stdout:
            if line.startswith(ANSWER):
                reply = json.loads(line[len(ANSWER) :])
                if not reply.get("ok"):
                    raise WorkerError(
                        f"{self.backend} worker, {req.get('cmd')} {req.get('name', '')}: "
                        f"{reply.get('error')}"
                    )
                return reply
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:]
        raise WorkerError(f"{self.backend} worker ({self.threads} threads) exited: {tail}")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.request(cmd="quit")
            except (WorkerError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


class Entry:
    """One timed side: a name, a backend, a thread count and a workload spec."""

    def __init__(self, name, backend, threads, faults=False, **spec):
        self.name = name
        self.backend = backend
        self.threads = threads
        self.faults = faults  # count page faults over ``faults_calls`` calls after the windows
        self.spec = dict(spec, backend=backend)


def measure(entries, window=1.0, windows=5, wait_idle_s=0.0, faults_calls=0, log=None):
    """Time ``entries`` in interleaved windows, each (backend, threads) in its own worker.

    Parameters
    ----------
    entries : list of Entry
    window : float
        Least seconds of one window (a window holds at least one call).
    windows : int
        Windows per entry; the order of the entries rotates every round.
    wait_idle_s : float
        Before the windows, wait up to this long for a quiet machine.
    faults_calls : int
        When positive, also count the minor page faults over this many
        calls of every entry made with ``faults=True``, after the windows.

    Returns
    -------
    dict
        name -> {"median": samples/s, "windows": [samples/s, ...],
        "fastest_call": s, "best": samples/s of the fastest call,
        "calls": n, "minflt_per_call": faults per call over the windows,
        "first_s": s of the first call (compilation included), "value":
        the checked result (a loss) or None, and "faults_per_call" with
        ``faults_calls``}; "others_cpu": share of the CPUs other processes
        used meanwhile.
    """
    workers = {}
    try:
        for e in entries:
            key = (e.backend, e.threads)
            if key not in workers:
                workers[key] = Worker(*key)
        results = {}
        # Every worker builds (and compiles) its first workload at the same
        # time; a worker's further workloads follow in order.
        pending = {}
        for e in entries:
            pending.setdefault((e.backend, e.threads), []).append(e)
        for key, queue in pending.items():
            workers[key].send(cmd="setup", name=queue[0].name, spec=queue[0].spec)
        replies = {}
        for key, queue in pending.items():
            for i, e in enumerate(queue):
                if i > 0:
                    workers[key].send(cmd="setup", name=e.name, spec=e.spec)
                replies[e.name] = workers[key].receive({"cmd": "setup", "name": e.name})
        for e in entries:
            reply = replies[e.name]
            results[e.name] = {
                "first_s": reply["first_s"],
                "value": reply.get("value"),
                "windows": [],
                "fastest_call": float("inf"),
                "calls": 0,
                "minflt": 0,
            }
        if wait_idle_s > 0:
            wait_idle(wait_idle_s)
        monitor = CpuMonitor().start()
        order = list(entries)
        for _ in range(windows):
            for e in order:
                r = workers[(e.backend, e.threads)].request(
                    cmd="window", name=e.name, seconds=window
                )
                res = results[e.name]
                res["windows"].append(r["samples"] / r["elapsed"])
                res["fastest_call"] = min(res["fastest_call"], r["fastest"])
                res["calls"] += r["calls"]
                res["minflt"] += r["minflt"]
                res["samples_per_call"] = r["samples"] / r["calls"]
            order = order[1:] + order[:1]
        others = monitor.stop()
        if faults_calls > 0:
            for e in (e for e in entries if e.faults):
                r = workers[(e.backend, e.threads)].request(
                    cmd="faults", name=e.name, calls=faults_calls
                )
                results[e.name]["faults_per_call"] = r["minflt"] / r["calls"]
    finally:
        for w in workers.values():
            w.close()
    for res in results.values():
        res["median"] = statistics.median(res["windows"])
        res["best"] = res["samples_per_call"] / res["fastest_call"]
        res["minflt_per_call"] = res.pop("minflt") / res["calls"]
    results["others_cpu"] = others
    if log is not None:
        log(
            "    "
            + ", ".join(
                f"{name} {res['median']:,.0f}/s"
                for name, res in results.items()
                if name != "others_cpu"
            )
            + ("" if others is None else f" (other processes: {others:.0%} of the CPUs)")
        )
    return results


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        worker_main()
    else:
        sys.exit("usage: python -m bench.throughput --worker (started by bench.targets)")
