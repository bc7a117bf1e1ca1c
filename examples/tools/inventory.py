"""File counts per top-level package and per extension."""

import json
import sys
from collections import Counter

from examples.tools import package_of, repo_path, walk_files


def main() -> None:
    root = repo_path(sys.argv[1] if len(sys.argv) > 1 else None)
    per_package: Counter[str] = Counter()
    per_extension: Counter[str] = Counter()
    total_bytes = 0
    for path in walk_files(root):
        per_package[package_of(root, path)] += 1
        per_extension[path.suffix or "(none)"] += 1
        total_bytes += path.stat().st_size
    print(json.dumps({
        "root": root.name,
        "files": sum(per_package.values()),
        "bytes": total_bytes,
        "perPackage": dict(per_package.most_common()),
        "perExtension": dict(per_extension.most_common(12)),
    }, indent=2))


if __name__ == "__main__":
    main()
