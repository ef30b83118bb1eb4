"""Declared re-runs: `results/pending.json` lists every notebook whose results are older than its inputs, and
both READMEs say so first, so that a regeneration can span sittings and no reader mistakes old numbers for new."""

from __future__ import annotations

import re
from pathlib import Path

from mnist_study.workflow.fingerprints import PROJECT_ROOT
from mnist_study.workflow.provenance import git_output, read_json, write_json

PENDING_NAME = "pending.json"
NOTICE_START, NOTICE_END = "<!-- pending-rerun -->", "<!-- /pending-rerun -->"
NOTICE_PATTERN = re.compile(rf"{re.escape(NOTICE_START)}.*?{re.escape(NOTICE_END)}\n*", re.DOTALL)


def changed_paths(reasons: list[str]) -> list[str]:
    """The input paths named by stale_inputs' reasons ("src/x.py (changed)" -> "src/x.py")."""
    return [reason.split(" (")[0] for reason in reasons if " (" in reason]


def stale_since(recorded_commit: str | None, paths: list[str]) -> str:
    """The first commit after the one that made the results to change one of `paths`, or 'uncommitted changes'."""
    if recorded_commit and paths:
        log = git_output("log", "--reverse", "--format=%H", f"{recorded_commit}..HEAD", "--", *paths)
        if log:
            return log.splitlines()[0]
    return "uncommitted changes"


def pending_entries(stale: dict[str, list[str]], results_dir: Path) -> dict[str, dict]:
    """pending.json's entries for the stale notebooks: since which commit each is stale, and what changed."""
    entries = {}
    for name, reasons in stale.items():
        metrics_path = results_dir / "metrics" / f"{name}.json"
        commit = read_json(metrics_path)["provenance"].get("commit") if metrics_path.is_file() else None
        entries[name] = {"stale_since": stale_since(commit, changed_paths(reasons)), "results_commit": commit,
                         "changed": reasons}
    return entries


def read_pending(results_dir: Path) -> dict[str, dict]:
    path = results_dir / PENDING_NAME
    if not path.is_file():
        return {}
    pending = read_json(path).get("pending")
    if not isinstance(pending, dict):
        raise ValueError(f"{path}: expected an object with a 'pending' mapping of notebook names to entries")
    return pending


def notice(pending: dict[str, dict]) -> str:
    """The lines both READMEs start with while a re-run is pending (empty when nothing is)."""
    if not pending:
        return ""
    lines = [NOTICE_START, "> **Re-run pending.** The results of these notebooks were made by older code than is "
             "on this branch; their numbers and figures are from that run until `make all` re-runs them "
             "(`results/pending.json`):"]
    for name, entry in pending.items():
        since = entry["stale_since"]
        lines.append(f"> - `{name}`, stale since " + (f"commit `{since[:10]}`" if since != "uncommitted changes"
                                                      else since))
    return "\n".join([*lines, NOTICE_END]) + "\n\n"


def with_notice(text: str, pending: dict[str, dict]) -> str:
    """`text` with the pending notice, if any, right under its first heading (and any old notice removed)."""
    text = NOTICE_PATTERN.sub("", text)
    block = notice(pending)
    if not block:
        return text
    heading = re.search(r"^# .*\n\n?", text, re.MULTILINE)
    at = heading.end() if heading else 0
    return text[:at] + block + text[at:]


def readme_paths(results_dir: Path) -> list[Path]:
    """The READMEs that carry the notice: results/README.md, and the project's when these are its results."""
    paths = [results_dir / "README.md"]
    if results_dir.resolve() == (PROJECT_ROOT / "results").resolve():
        paths.append(PROJECT_ROOT / "README.md")
    return [path for path in paths if path.is_file()]


def write_pending(pending: dict[str, dict], results_dir: Path) -> None:
    """Write pending.json (an empty mapping when everything is fresh) and the READMEs' notices."""
    write_json({"pending": pending}, results_dir / PENDING_NAME)
    for path in readme_paths(results_dir):
        text = path.read_text()
        if (updated := with_notice(text, pending)) != text:
            path.write_text(updated)


def declaration_problems(stale: dict[str, list[str]], pending: dict[str, dict], results_dir: Path) -> list[str]:
    """Why the declared re-runs do not match the stale results (empty when the declaration is exact)."""
    problems = [f"stale: results of {name}: " + "; ".join(reasons) + " (not declared in results/pending.json)"
                for name, reasons in stale.items() if name not in pending]
    problems += [f"results/pending.json lists {name}, but its results are fresh; run 'make pending'"
                 for name in pending if name not in stale]
    for path in readme_paths(results_dir):
        if with_notice(path.read_text(), pending) != path.read_text():
            problems.append(f"{path.relative_to(results_dir.parent)}: its pending notice does not match "
                            "results/pending.json; run 'make pending'")
    return problems
