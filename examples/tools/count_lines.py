"""Lines of Python per package: code, comments, blank; and the biggest modules."""

import json
import sys
from collections import defaultdict

from examples.tools import package_of, repo_path, walk_files


def main() -> None:
    root = repo_path(sys.argv[1] if len(sys.argv) > 1 else None)
    stats: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "code": 0, "comment": 0, "blank": 0})
    modules = []
    for path in walk_files(root):
        if path.suffix != ".py":
            continue
        lines = path.read_text(errors="replace").splitlines()
        row = stats[package_of(root, path)]
        row["files"] += 1
        for line in lines:
            stripped = line.strip()
            key = "blank" if not stripped else "comment" if stripped.startswith("#") else "code"
            row[key] += 1
        modules.append((len(lines), str(path.relative_to(root))))
    print(json.dumps({
        "perPackage": dict(sorted(stats.items(), key=lambda kv: -kv[1]["code"])),
        "largestModules": [{"path": p, "lines": n} for n, p in sorted(modules, reverse=True)[:8]],
    }, indent=2))


if __name__ == "__main__":
    main()
