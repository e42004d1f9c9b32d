#!/usr/bin/env python3
"""Predict from several Python threads on ONE network: are the answers right, and how fast?

Usage (from outside the repository root, in the environment where ann is installed)::

    python tools/predict_threads.py [--mnist DIR] [--reps 5] [--threads 1,2,8]
        [--core-threads 1,2] [--chunk 1000]

What it does, on the MNIST test set (10,000 images) and a ``Network([784, 128, 10])`` trained
for one epoch (seed 0, lr 0.05, batch 64; the network of issue 23 item 1):

1. Correctness: the test set is cut into chunks of ``--chunk`` images; each is predicted once
   on the calling thread (the reference), then ten threads call ``net.predict`` on the chunks
   (each thread its own chunk, several rounds) and every answer is compared with the
   reference. Prints the accuracy the threads got and how many calls differed.
2. Throughput: for each thread count T of ``--threads``, T threads share a fixed total of
   predict calls (each on one chunk) on the same network; the wall time of the whole batch of
   calls gives images per second. Median of ``--reps`` rounds, for each core thread count of
   ``--core-threads`` (``ann.set_num_threads``: the C core's own pool inside each call); each
   round runs every configuration once, so a change in the machine's load hits them alike.

The machine's CPU, the kernel and the core's thread setting are printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench import cpu_info  # tools/bench.py, beside this script


def run_threads(n_threads: int, work: list[list[int]], job) -> list:
    """job(c) for every c of work[t] on thread t of n_threads; each thread's results in order."""
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return list(pool.map(lambda chunks: [job(c) for c in chunks], work))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", default=os.environ.get("ANN_DATA"))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", default="1,2,8")
    parser.add_argument("--core-threads", default="1,2")
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=80, help="predict calls per timed run")
    args = parser.parse_args()

    import ann

    train, test = ann.load_mnist(args.mnist) if args.mnist else ann.load_mnist()
    net = ann.Network([784, 128, 10], seed=0)
    net.fit(train, epochs=1, batch_size=64, lr=0.05, verbose=0)
    n = len(test)
    chunks = [test.subset(range(s, min(s + args.chunk, n))) for s in range(0, n, args.chunk)]
    labels = test.labels.tolist()
    reference = [net.predict(c) for c in chunks]
    ref_acc = sum(p == y for p, y in zip(sum(reference, []), labels)) / n

    info = ann.backend_info()
    print(f"CPU: {cpu_info().model}; kernel {info['kernel']}; python {platform.python_version()}")
    print(f"sequential accuracy: {ref_acc:.4f} over {n} images in {len(chunks)} chunks")

    # 1. correctness: ten threads, every call compared with the sequential answer
    for core_threads in (int(x) for x in args.core_threads.split(",")):
        ann.set_num_threads(core_threads)
        rounds = 5
        work = [[(t + r) % len(chunks) for r in range(rounds)] for t in range(10)]
        got = run_threads(10, work, lambda c: (c, net.predict(chunks[c])))
        calls = [call for per_thread in got for call in per_thread]
        wrong = sum(pred != reference[c] for c, pred in calls)
        hits = sum(
            sum(p == labels[c * args.chunk + i] for i, p in enumerate(pred)) for c, pred in calls
        )
        total = sum(len(pred) for _, pred in calls)
        print(
            f"10 threads x {rounds} calls, core threads {core_threads}: accuracy "
            f"{hits / total:.4f}, {wrong} of {len(calls)} calls differ from the sequential answer"
        )

    # 2. throughput: every configuration once per round, rounds repeated (so a change in the
    # machine's load, shared with other work, hits every configuration alike), then medians
    configs = [
        (core_threads, n_threads)
        for core_threads in (int(x) for x in args.core_threads.split(","))
        for n_threads in (int(x) for x in args.threads.split(","))
    ]
    rates: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
    for _ in range(args.reps):
        for core_threads, n_threads in configs:
            ann.set_num_threads(core_threads)
            work = [
                [c % len(chunks) for c in range(t, args.calls, n_threads)] for t in range(n_threads)
            ]
            start = time.perf_counter()
            run_threads(n_threads, work, lambda c: net.predict(chunks[c]))
            rates[core_threads, n_threads].append(
                args.calls * args.chunk / (time.perf_counter() - start)
            )
    print(f"\nthroughput, {args.calls} calls of {args.chunk} images each, median of {args.reps}")
    print("core threads | python threads | images/s | vs 1 python thread")
    for core_threads, n_threads in configs:
        rate = statistics.median(rates[core_threads, n_threads])
        base = statistics.median(rates[core_threads, configs[0][1]])
        print(f"{core_threads:12d} | {n_threads:14d} | {rate:8.0f} | {rate / base:.2f}x")


if __name__ == "__main__":
    main()
