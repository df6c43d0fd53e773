"""Write the benchmark models: seeded mask-CNN checkpoints (.pt) and their ONNX exports (.onnx,
dynamic batch, edge metadata in metadata_props) into bench/models/ (git-ignored).

    python bench/make_models.py            # teacher, medium, small
    python bench/make_models.py --static 8 # also <name>-b8.onnx with a fixed batch of 8

Weights are untrained (seeded): latency does not depend on them. The ONNX files go through
`export.onnx_export` (opset 13, input "input", output "logits", batch axis dynamic) without the parity gate.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def export_onnx(model, meta, path, static_batch=None, with_meta=True):
    """The ONNX layout ``edge export`` writes (its own export + metadata/check step), without its parity gate."""
    from export.onnx_export import finish, torch_export

    from edge.files import atomic_path

    with atomic_path(path) as tmp:
        torch_export(model.eval(), meta, tmp, static_batch)
        if with_meta:
            finish(tmp, meta, simplify=False)
    return path


def main():
    import torch
    from models import create_model
    from models.checkpoint import save_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=["teacher", "medium", "small"])
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "models"))
    ap.add_argument("--static", type=int, default=0, help="also export a fixed-batch ONNX of this batch size")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in args.names:
        torch.manual_seed(0)
        model = create_model(name)
        print(save_checkpoint(model, os.path.join(args.out, name + ".pt")))
        print(export_onnx(model, model.meta, os.path.join(args.out, name + ".onnx")))
        if args.static:
            print(export_onnx(model, model.meta, os.path.join(args.out, "{}-b{}.onnx".format(name, args.static)),
                              static_batch=args.static))


if __name__ == "__main__":
    main()
