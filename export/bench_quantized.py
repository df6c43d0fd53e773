"""FP32 vs INT8 ONNX latency in ONNX Runtime, measured side by side (interleaved rounds, same input).

    python -m export.bench_quantized model.onnx model.int8.onnx --batch 1 --batch 8 --threads 1
"""
import argparse

import numpy as np

from edge.backends import load_backend
from edge.timing import summarize, time_calls


def bench(paths, batches=(1, 8), threads=1, rounds=3, runs=40, warmup=5):
    """{batch: {path: summary ms}} with the models timed in alternation, so load hits them alike."""
    backends = [load_backend(p, options={"threads": threads}) for p in paths]
    meta = backends[0].meta
    out = {}
    for b in batches:
        x = np.random.default_rng(0).standard_normal((b, meta.channels) + tuple(meta.input_size)).astype(np.float32)
        samples = {p: [] for p in paths}
        for _ in range(rounds):
            for p, be in zip(paths, backends):
                samples[p] += time_calls(lambda: be.infer(x), warmup=warmup, runs=runs)
        out[b] = {p: summarize(s) for p, s in samples.items()}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fp32")
    ap.add_argument("int8")
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args(argv)
    result = bench([args.fp32, args.int8], args.batch or [1, 8], args.threads, runs=args.runs)
    print("| batch | FP32 p50 ms | INT8 p50 ms | FP32/INT8 |")
    print("|---:|---:|---:|---:|")
    for b, r in result.items():
        f, i = r[args.fp32]["p50"], r[args.int8]["p50"]
        print("| {} | {:.2f} | {:.2f} | {:.2f} |".format(b, f, i, f / i))


if __name__ == "__main__":
    main()
