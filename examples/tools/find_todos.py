"""Open work markers in the source: TODO, FIXME, XXX, HACK comments."""

import json
import re
import sys

from examples.tools import repo_path, walk_files

MARKER = re.compile(r"#\s*(TODO|FIXME|XXX|HACK)\b[:\s]*(.*)")
SOURCE = {".py", ".html", ".js", ".css", ".yaml", ".yml", ".toml", ".sh"}


def main() -> None:
    root = repo_path(sys.argv[1] if len(sys.argv) > 1 else None)
    found = []
    scanned = 0
    for path in walk_files(root):
        if path.suffix not in SOURCE or path.name == "find_todos.py":
            continue
        scanned += 1
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if match := MARKER.search(line):
                found.append({"file": str(path.relative_to(root)), "line": number, "kind": match.group(1),
                              "text": match.group(2).strip()[:200]})
    print(json.dumps({"scannedFiles": scanned, "count": len(found), "items": found[:200]}, indent=2))


if __name__ == "__main__":
    main()
