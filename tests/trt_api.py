"""The TensorRT 10.x Python API as its type stubs list it, and the TensorRT names edge's code uses.

``tests/tensorrt_10_api.json`` is extracted from the ``tensorrt-stubs`` wheel (type stubs of TensorRT 10.x:
every class, its methods, properties and enum members, with each method's parameter names; the classes of
hand-built networks, ``SKIPPED``, are left out: edge parses ONNX and adds no layers). It is kept in
the tree because that package depends on the real ``tensorrt`` wheel (gigabytes of GPU libraries), so it is
not a dev dependency; refresh the file with

    pip download --no-deps tensorrt-stubs -d /tmp/stubs && python tests/trt_api.py /tmp/stubs/tensorrt_stubs-*.whl

``uses(path)`` reads a module's TensorRT calls with ``ast``: attributes of ``trt`` and of the variables that
hold TensorRT objects (``RECEIVERS``), keyword arguments of those calls, and the methods a subclass of a
TensorRT class overrides.
"""
import ast
import json
import os
import re
import sys
import zipfile
from typing import Dict, List, NamedTuple, Optional

API_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tensorrt_10_api.json")
MODULE = ""  # the key of the module's own names (``trt.X``)
SKIPPED = r"Layer|Plugin|Algorithm|Loop|IfConditional|DimensionExpr|ExprBuilder|SymExpr"

# variable (or attribute) names in edge's TensorRT code → the TensorRT class of the object they hold
RECEIVERS = {"engine": "ICudaEngine", "_engine": "ICudaEngine", "context": "IExecutionContext",
             "_context": "IExecutionContext", "builder": "Builder", "config": "IBuilderConfig",
             "network": "INetworkDefinition", "profile": "IOptimizationProfile", "cal_profile": "IOptimizationProfile",
             "parser": "OnnxParser", "_runtime": "Runtime", "runtime": "Runtime", "inp": "ITensor",
             "tcache": "ITimingCache"}


# ---------------------------------------------------------------- the stubs

def _strip_docstrings(text: str) -> str:
    """Docstrings (they hold example classes) out, line count kept."""
    return re.sub(r'"""(.*?)"""', lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def _params(signature: str) -> List[str]:
    names = []
    for part in re.split(r",(?![^\[]*\])", signature):
        name = part.split(":")[0].split("=")[0].strip().lstrip("*")
        if name and name not in ("self", "this", "/") and re.match(r"\w+$", name):
            names.append(name)
    return names


def extract(pyi: str, module_pyi: str = "") -> Dict[str, Dict[str, Optional[List[str]]]]:
    """{class: {member: [parameter names] (methods) or None (properties, attributes, enum members)}} of a
    pybind11 stub (``tensorrt_bindings/tensorrt.pyi``, not valid Python: a regex reads it), base classes'
    members included; nested classes as "Outer.Inner"; ``module_pyi``'s ``__all__`` and ``__version__``
    under "" (the module's names)."""
    classes, bases = {}, {}  # type: Dict[str, Dict[str, Optional[List[str]]]], Dict[str, List[str]]
    stack = []  # [(indent, qualified name)]
    for line in _strip_docstrings(pyi).splitlines():
        m = re.match(r"( *)class (\w+)(?:\(([^)]*)\))?:", line)
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            name = ".".join([s[1] for s in stack] + [m.group(2)])
            if stack:
                classes[stack[-1][1]][m.group(2)] = None
            classes[name], bases[name] = {}, [b.strip() for b in (m.group(3) or "").split(",") if b.strip()]
            stack.append((indent, name))
            continue
        m = re.match(r"( *)(?:def (\w+)\((.*)\)|(\w+)\s*[:=])", line)
        if m and stack:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if stack and indent == stack[-1][0] + 4:
                members = classes[stack[-1][1]]
                if m.group(2):
                    members[m.group(2)] = sorted(set(members.get(m.group(2)) or []) | set(_params(m.group(3))))
                else:
                    members.setdefault(m.group(4), None)

    def resolved(name, seen=()):
        out = {}
        for base in bases.get(name, []):
            base = base.split(".")[-1]
            if base in classes and base not in seen:
                out.update(resolved(base, seen + (name,)))
        out.update(classes[name])
        return out

    api = {name: {k: v for k, v in sorted(resolved(name).items()) if not k.startswith("__") or k == "__init__"}
           for name in classes}
    names = re.search(r"__all__\s*(?::[^=]*)?=\s*\[(.*?)\]", module_pyi, re.S)
    api[MODULE] = {n: None for n in sorted(re.findall(r"'(\w+)'", names.group(1)) if names else [])}
    if "__version__" in module_pyi:
        api[MODULE]["__version__"] = None
    return api


def write_api(wheel: str, path: str = API_FILE) -> None:
    with zipfile.ZipFile(wheel) as z:
        pyi = z.read("tensorrt_bindings/tensorrt.pyi").decode("utf-8")
        module = z.read("tensorrt/__init__.pyi").decode("utf-8")
    version = re.search(r"__version__: str = '([^']+)'", module)
    api = extract(pyi, module)
    lines = ['  "{}": {}'.format(k, json.dumps(v, sort_keys=True)) for k, v in sorted(api.items())
             if not re.search(SKIPPED, k)]
    with open(path, "w") as f:
        f.write('{{\n  "_source": "tensorrt-stubs {} ({})",\n{}\n}}\n'.format(
            version.group(1) if version else "?", os.path.basename(wheel), ",\n".join(lines)))


def load_api(path: str = API_FILE) -> Dict[str, Dict[str, Optional[List[str]]]]:
    with open(path) as f:
        data = json.load(f)
    data.pop("_source", None)
    return data


# ---------------------------------------------------------------- the code

class Use(NamedTuple):
    owner: str  # a TensorRT class, or "" for the module
    name: str
    keywords: tuple  # keyword arguments of a call of it
    line: int
    optional: bool  # read with getattr(obj, "name", default): may be absent


def _string(node) -> Optional[str]:
    """The value of a string literal (ast.Constant; ast.Str on Python 3.6/3.7), else None."""
    value = getattr(node, "value", getattr(node, "s", None)) if type(node).__name__ in ("Constant", "Str") else None
    return value if isinstance(value, str) else None


def _owner(node) -> Optional[str]:
    """The TensorRT class a receiver expression stands for: ``trt`` → "", ``trt.X`` → "X", ``engine`` or
    ``self._engine`` → RECEIVERS'."""
    if isinstance(node, ast.Name):
        return MODULE if node.id == "trt" else RECEIVERS.get(node.id)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and _owner(node.args[0]) == MODULE and _string(node.args[1])):
        return _string(node.args[1])  # getattr(trt, "X", None).Y
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == "trt":
            return node.attr
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            return RECEIVERS.get(node.attr)
    return None


def uses(path: str) -> List[Use]:
    """Every TensorRT attribute the module at ``path`` reads or calls."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = _owner(node.value)
            if owner is not None:
                call = calls.get(id(node))
                keywords = tuple(k.arg for k in call.keywords if k.arg) if call is not None else ()
                out.append(Use(owner, node.attr, keywords, node.lineno, False))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
              and len(node.args) >= 2 and _string(node.args[1])):
            owner = _owner(node.args[0])
            if owner is not None:
                out.append(Use(owner, _string(node.args[1]), (), node.lineno, True))
        elif isinstance(node, ast.ClassDef):  # class X(trt.ILogger): its methods override TensorRT's
            for base in node.bases:
                if isinstance(base, ast.Attribute) and _owner(base.value) == MODULE:
                    out.extend(Use(base.attr, f.name, (), f.lineno, False) for f in node.body
                               if isinstance(f, ast.FunctionDef))
    return out


if __name__ == "__main__":
    write_api(sys.argv[1])
    print("wrote", API_FILE)
