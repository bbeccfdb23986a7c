"""``lgsp mappings test|try``: run a mapping folder's example pairs, or one file through a
mapping, on this machine — no hub needed, so a mapping is tested before it is deployed;
``lgsp mappings upload|list``: put it in the hub's registry (a new version, its pairs run there
first) and see what the hub has."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    app,
    client,
    emit,
    fail,
    hub_errors,
    list_documents,
    out,
    row,
    uploaded,
)
from hub.config import get_settings
from hub.errors import HubError, NotFound
from hub.mapping import MAX_MAPPED_BYTES, FolderSource, InvalidMapping, Mappings
from hub.mapping.sources import bundle_examples
from hub.schemas import Schemas

__all__ = ["list_", "test", "trial", "upload"]

mappings_app = typer.Typer(help="Mappings: test them on their examples, try them on a file.")
app.add_typer(mappings_app, name="mappings", no_args_is_help=True, rich_help_panel="Registry")

DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="The mapping folder (default: LGSP_MAPPING_DIR, the shipped ones)."),
]


SchemaDirOpt = Annotated[
    Path | None,
    typer.Option("--schema-dir", help="The schemas the mappings name (default: LGSP_SCHEMA_DIR)."),
]


def _mappings(folder: Path | None, schema_dir: Path | None = None) -> Mappings:
    settings = get_settings()
    folder = folder or settings.mapping_dir
    schema_dir = schema_dir or settings.schema_dir
    for what, path in (("mapping", folder), ("schema", schema_dir)):
        if not path.is_dir():
            raise fail(f"no {what} folder {path}")
    return Mappings(folder, Schemas(schema_dir))


@mappings_app.command()
def test(
    names: Annotated[list[str] | None, typer.Argument(help="Mappings (default: all).")] = None,
    folder: DirOpt = None,
    schema_dir: SchemaDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run every example pair (NAME.examples/CASE.in.* → CASE.out.*); exit 1 on a failure."""
    mappings = _mappings(folder, schema_dir)
    report = []
    for name in names or mappings.names():
        try:
            results = [r.as_dict() for r in mappings.test(name)]
            report.append({"mapping": name, "error": None, "examples": results})
        except InvalidMapping as exc:
            report.append({"mapping": name, "error": exc.message, "examples": []})
        except NotFound as exc:
            raise fail(exc.message) from None
        except (HubError, OSError) as exc:
            raise fail(f"mapping {name}: {getattr(exc, 'message', exc)}") from None
    passed = all(m["error"] is None and all(e["passed"] for e in m["examples"]) for m in report)
    table = Table("mapping", "case", "result", "first difference", "message")
    for m in report:
        if m["error"] is not None:
            table.add_row(*row(m["mapping"], "", "FAIL", "", m["error"]))
        elif not m["examples"]:
            table.add_row(*row(m["mapping"], "", "no examples", "", ""))
        for e in m["examples"]:
            result = "pass" if e["passed"] else "FAIL"
            table.add_row(*row(m["mapping"], e["case"], result, e["path"], e["message"]))
    emit({"passed": passed, "mappings": report}, as_json, table)
    if not passed:
        raise typer.Exit(1)


@mappings_app.command("try")
def trial(
    name: Annotated[str, typer.Argument(help="The mapping.")],
    file: Annotated[str, typer.Argument(help="The input, as the mapping reads it; - for stdin.")],
    folder: DirOpt = None,
    schema_dir: SchemaDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Map FILE and print the output with the validation on both sides; exit 1 if it fails."""
    mappings = _mappings(folder, schema_dir)
    try:
        with sys.stdin.buffer if file == "-" else open(file, "rb") as fh:
            data = fh.read(MAX_MAPPED_BYTES + 1)
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None
    if len(data) > MAX_MAPPED_BYTES:
        raise fail(f"{file} is over the {MAX_MAPPED_BYTES // 2**20} MiB a mapping takes")
    try:
        mapping = mappings.load(name)
        result = mapping.trial(data)
    except HubError as exc:
        raise fail(exc.message) from None
    report = {
        "name": name,
        "ok": result.ok,
        "source": {"schema": mapping.source.schema, "errors": result.source},
        "mapping": {"errors": result.mapping},
        "target": {"schema": mapping.target.schema, "errors": result.target},
        "output": _shown(result.output, mapping.target.type),
    }
    if as_json:
        emit(report, True)
    else:
        mapped = result.output is not None or bool(result.mapping)
        _print(report, {"source": True, "mapping": mapped, "target": result.output is not None})
    if not result.ok:
        raise typer.Exit(1)


def _shown(output: bytes | None, kind: str) -> Any:
    if output is None:
        return None
    if kind == "json":
        return json.loads(output)
    return output.decode("utf-8")


def _print(report: dict[str, Any], reached: dict[str, bool]) -> None:
    """One line per step (its verdict), its errors under it, then the output."""
    for step in ("source", "mapping", "target"):
        part = report[step]
        schema = part.get("schema")
        if not reached[step]:
            verdict = "not reached"
        elif part["errors"]:
            verdict = f"{len(part['errors'])} error(s)"
        elif step == "mapping":
            verdict = "ok"
        else:
            verdict = "valid" if schema else "no schema"
        label = f"{step} ({schema})" if schema else step
        out.print(f"{label}: {verdict}", markup=False, highlight=False)
        for error in part["errors"]:
            out.print(f"  {error['path']}: {error['message']}", markup=False, highlight=False)
    if report["output"] is not None:
        text = report["output"]
        if not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False, indent=2)
        sys.stdout.write(text.rstrip("\n") + "\n")


@mappings_app.command("list")
def list_(url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """The hub's mappings, with the version in force (0: the built-in file)."""
    list_documents("/v1/mappings", url, key, as_json)


@mappings_app.command()
def upload(
    name: Annotated[str, typer.Argument(help="The mapping (NAME.yaml and NAME.examples/).")],
    folder: DirOpt = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Upload a mapping and its example pairs to the hub, as its next version.

    The hub compiles it and runs every pair first; if one fails nothing is kept."""
    source = FolderSource(folder or get_settings().mapping_dir)
    try:
        _, document = source.get(name)
        examples = bundle_examples(source.examples(name))
    except HubError as exc:
        raise fail(exc.message) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"mapping {name}: {exc}") from None
    with hub_errors():
        result = client(url, key).json(
            "PUT",
            f"/v1/mappings/{name}",
            json={"mapping": document, "examples": examples},
            params={"reason": reason} if reason else None,
        )
    uploaded(name, result)
