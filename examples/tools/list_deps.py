"""Declared dependencies (requirements/*.txt) and the third-party modules each package imports."""

import ast
import json
import re
import sys
from collections import defaultdict

from examples.tools import package_of, repo_path, walk_files

REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*([=<>!~].*)?$")


def declared(root):
    result = {}
    for req in sorted((root / "requirements").glob("*.txt")):
        if req.name == "constraints.txt":
            continue
        for line in req.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-") and (m := REQUIREMENT.match(line)):
                result[m.group(1)] = {"spec": (m.group(2) or "").strip(), "file": req.name}
    return result


def imports(root):
    local = {p.name for p in root.iterdir() if p.is_dir()} | {"manage"}
    stdlib = set(sys.stdlib_module_names)
    used = defaultdict(set)
    for path in walk_files(root):
        if path.suffix != ".py":
            continue
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in local and top != "__future__":
                    used[package_of(root, path)].add(top)
    return {pkg: sorted(mods) for pkg, mods in sorted(used.items())}


def main() -> None:
    root = repo_path(sys.argv[1] if len(sys.argv) > 1 else None)
    print(json.dumps({"declared": declared(root), "importsPerPackage": imports(root)}, indent=2))


if __name__ == "__main__":
    main()
