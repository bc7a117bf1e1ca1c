"""Assemble the upstream tasks' results into report.md (uploaded as an artifact)
and print a short summary (the task's output)."""

import json
import os
import sys
from pathlib import Path


def upstream() -> dict:
    context = json.loads(Path(os.environ["JOBMANAGER_CONTEXT"]).read_text())
    return {task_id: json.loads(output) for task_id, output in context["upstream"].items()}


def main() -> None:
    title = sys.argv[1] if len(sys.argv) > 1 else "Repository report"
    up = upstream()
    inv, lines, todos, deps = up["inventory"], up["count-lines"], up["find-todos"], up["list-deps"]
    out = [f"# {title}", "", f"Repository `{inv['root']}`: {inv['files']} files, {inv['bytes']:,} bytes.", ""]
    out += ["## Files per package", "", "| package | files |", "|---|---:|"]
    out += [f"| {pkg} | {n} |" for pkg, n in inv["perPackage"].items()]
    out += ["", "## Python lines per package", "", "| package | files | code | comments | blank |", "|---|---:|---:|---:|---:|"]
    out += [f"| {pkg} | {r['files']} | {r['code']} | {r['comment']} | {r['blank']} |" for pkg, r in lines["perPackage"].items()]
    out += ["", "Largest modules: " + ", ".join(f"`{m['path']}` ({m['lines']})" for m in lines["largestModules"]), ""]
    out += ["## Open work markers", ""]
    out += [f"- `{t['file']}:{t['line']}` {t['kind']}: {t['text']}" for t in todos["items"]] or ["None found."]
    out += ["", "## Declared dependencies", "", "| package | version | file |", "|---|---|---|"]
    out += [f"| {name} | `{d['spec']}` | {d['file']} |" for name, d in deps["declared"].items()]
    out += ["", "## Third-party imports per package", ""]
    out += [f"- **{pkg}**: {', '.join(mods)}" for pkg, mods in deps["importsPerPackage"].items()]
    Path("report.md").write_text("\n".join(out) + "\n")
    code = sum(r["code"] for r in lines["perPackage"].values())
    print(f"Wrote report.md: {inv['files']} files, {code} lines of Python code, "
          f"{todos['count']} open markers, {len(deps['declared'])} declared dependencies.")


if __name__ == "__main__":
    main()
