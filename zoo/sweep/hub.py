"""Sweeps as Hugging Face Hub *dataset* repos: publish a population, read it back pinned by revision.

A pushed sweep is one commit of four files: `results.parquet` (one row per trial: the columns
people filter on, plus `row`, the trial's whole JSON row, so the table reads back losslessly),
`sweep.json` (the manifest), `edf.png`, and a README.md dataset card whose YAML front matter
says the space, band, recipe, dataset and counts. Parquet because the Hub's dataset viewer
and every dataframe library read it directly. `hf-hub:org/name[@revision]` reads it back into
a local sweep directory keyed by the commit it resolved to, so table, plot and fit work on it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write_text
from zoo.errors import HubError, SweepError, ZooError
from zoo.hub.client import check_repo_id, check_revision, commit_files, fetch_file, hub_settings
from zoo.sweep.checks import check_manifest, check_row
from zoo.sweep.table import MANIFEST, RESULTS, read_manifest, read_rows

PREFIX = "hf-hub:"
PARQUET = "results.parquet"
PLOT = "edf.png"
SEED_NOISE = "seed-noise.json"


def results_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The results table as Parquet bytes: scalar columns for browsing, `row` (JSON) for a lossless read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "trial": pa.array([int(r["trial"]) for r in rows], pa.int64()),
            "space": pa.array([str(r.get("space", "")) for r in rows], pa.string()),
            "error": pa.array([float(r["error"]) for r in rows], pa.float64()),
            "flops": pa.array([int(r.get("complexity", {}).get("flops", 0)) for r in rows], pa.int64()),
            "params": pa.array([int(r.get("complexity", {}).get("params", 0)) for r in rows], pa.int64()),
            "seconds": pa.array([float(r.get("seconds", 0.0)) for r in rows], pa.float64()),
            "row": pa.array([json.dumps(r, sort_keys=True) for r in rows], pa.string()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def rows_from_parquet(path: Path, where: str | None = None) -> list[dict[str, Any]]:
    """The rows of a pushed results table, each checked at the door (zoo.sweep.checks) as `where` row N."""
    import pyarrow.parquet as pq

    where = where or str(path)
    try:
        column = pq.read_table(path, columns=["row"]).column("row").to_pylist()
    except Exception as err:  # noqa: BLE001 - any unreadable file is one typed error
        raise SweepError(f"{where} is not a sweep results table ({type(err).__name__}: {err})") from None
    rows = []
    for number, text in enumerate(column, start=1):
        try:
            row = json.loads(text)
        except (TypeError, ValueError) as err:
            raise SweepError(f"{where} row {number}: row is not JSON text ({err})") from None
        rows.append(check_row(row, f"{where} row {number}"))
    return rows


def machines_of(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The distinct machines (cpu, isa, backend, jax) the rows were trained on; rows from before
    sweeps recorded it count as {"cpu": "not recorded"}."""
    seen: list[dict[str, str]] = []
    for row in rows:
        machine = row.get("machine") or {"cpu": "not recorded"}
        if machine not in seen:
            seen.append(machine)
    return seen


def _noise_lines(noise) -> str:
    lines = (
        f"Seed noise of this recipe ({noise.models} models x {noise.seeds}+ seeds): within-model sd "
        f"{noise.within_sd:.2f} points, between-model sd {noise.between_sd:.2f} points (ratio {noise.ratio:.2f}); "
        f"the same model and seed rerun with the same code is {'' if noise.bitwise_rerun_equal else 'not '}"
        "bitwise equal."
    )
    return lines + (f" Source: {noise.source}" if noise.source else "") + "\n\n"


def dataset_card(manifest: dict[str, Any], rows: list[dict[str, Any]], repo_id: str, seed_noise=None) -> str:
    """README.md: YAML front matter (space, bands, recipe, dataset, counts, machines, seed noise) and a
    short body; `seed_noise` is a zoo.sweep.report.SeedNoise of the recipe, where one was measured."""
    import yaml

    errors = sorted(float(r["error"]) for r in rows)
    machines = machines_of(rows)
    recipe = manifest.get("recipe", {})
    about: dict[str, Any] = {
        "space": manifest.get("space"),
        "bands": manifest.get("bands", {}),
        "dataset": recipe.get("dataset"),
        "recipe": recipe,
        "base": manifest.get("base", {}),
        "sweep_seed": manifest.get("seed"),
        "trials_planned": manifest.get("n"),
        "trials_finished": len(rows),
        "machines": machines,
    }
    front = {
        "tags": ["anynet-zoo", "design-space", "edf", str(manifest.get("space"))],
        "configs": [{"config_name": "default", "data_files": PARQUET}],
        "anynet_zoo_sweep": about,
    }
    if seed_noise is not None:
        about["seed_noise"] = {
            "within_model_sd": round(seed_noise.within_sd, 4),
            "between_model_sd": round(seed_noise.between_sd, 4),
            "bitwise_rerun_equal": seed_noise.bitwise_rerun_equal,
        }
    median = errors[len(errors) // 2] if errors else float("nan")
    body = (
        f"# {repo_id}: {len(rows)} models sampled from `{manifest.get('space')}`\n\n"
        "A design-space population written by `zoo sweep push` (anynet-zoo): each row is one model drawn "
        "at random from the space inside the complexity band and trained with the fixed recipe above; "
        "`error` is its final test error.\n\n"
        f"Finished trials: {len(rows)} of {manifest.get('n')}; min error {100 * errors[0]:.2f}%, "
        f"median {100 * median:.2f}%.\n\n"
        if errors
        else f"# {repo_id}\n\nNo finished trials yet.\n\n"
    )
    body += "Trained on: " + "; ".join(", ".join(m.values()) for m in machines) + ".\n\n"
    if seed_noise is not None:
        body += _noise_lines(seed_noise)
    body += f"![error EDF]({PLOT})\n\nRead it back: `zoo sweep table hf-hub:{repo_id}@<commit>`.\n"
    return "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + body


def push_sweep(
    directory: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool | None = None,
    seed_noise: str | os.PathLike | None = None,
) -> str:
    """Publish sweep `directory` as dataset repo `repo_id` in one commit; returns the commit id.
    `seed_noise` (the JSON `python -m zoo.sweep.report --seed-noise` reads) goes into the card and
    the repo, so a reader knows how far reseeding alone moves one model."""
    from huggingface_hub import CommitOperationAdd

    from zoo.sweep.edf import plot_edfs, summarize
    from zoo.sweep.report import read_seed_noise

    check_repo_id(repo_id)
    if revision is not None:
        check_revision(revision)
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        raise SweepError(f"{directory} has no {MANIFEST}: give the --out DIR of a `zoo sweep run`")
    rows = read_rows(directory, need=("complexity",))
    if not rows:
        raise SweepError(f"{directory} has no finished trials to publish; run the sweep first")
    noise = read_seed_noise(seed_noise) if seed_noise is not None else None
    s = hub_settings()
    if s.offline:
        raise HubError(f"cannot push to {repo_id!r}: offline mode is on (HF_HUB_OFFLINE); unset it to push")
    with tempfile.TemporaryDirectory() as tmp:
        plot = plot_edfs([summarize(directory)], Path(tmp) / PLOT, title=f"{manifest.get('space')} (n={len(rows)})")
        ops = [
            CommitOperationAdd(path_in_repo=PARQUET, path_or_fileobj=results_parquet(rows)),
            CommitOperationAdd(path_in_repo=MANIFEST, path_or_fileobj=(directory / MANIFEST).read_bytes()),
            CommitOperationAdd(path_in_repo=PLOT, path_or_fileobj=plot.read_bytes()),
            CommitOperationAdd(
                path_in_repo="README.md", path_or_fileobj=dataset_card(manifest, rows, repo_id, noise).encode()
            ),
        ]
        if seed_noise is not None:
            ops.append(CommitOperationAdd(path_in_repo=SEED_NOISE, path_or_fileobj=Path(seed_noise).read_bytes()))
        return commit_files(
            repo_id,
            ops,
            repo_type="dataset",
            revision=revision,
            private=private,
            commit_message=f"zoo sweep push: {len(rows)} trials of {manifest.get('space')}",
            settings=s,
        )


def is_hub_ref(text: str) -> bool:
    return isinstance(text, str) and text.startswith(PREFIX)


def fetch_sweep(ref: str) -> Path:
    """`hf-hub:org/name[@revision]` -> a local sweep directory (sweep.json + results.jsonl) of that commit."""
    spec = ref[len(PREFIX) :]
    repo_id, _, revision = spec.partition("@")
    check_repo_id(repo_id)
    if revision:
        check_revision(revision)
    s = hub_settings()
    files: dict[str, Path] = {}
    for name in (MANIFEST, PARQUET):  # the Hub client's fetch: offline mode, deadlines, checks, typed errors
        try:
            found = fetch_file(repo_id, name, revision=revision or None, settings=s, repo_type="dataset")
        except ZooError as err:  # the same type, saying which sweep and how one gets there
            raise type(err)(f"cannot read sweep {ref!r} (push it with `zoo sweep push DIR org/name`): {err}") from None
        assert found is not None  # required files are returned or raise
        files[name] = found
    commit = files[PARQUET].parent.name  # the snapshot folder is named for the commit it resolved to
    local = Path(s.cache_dir) / "zoo-sweeps" / repo_id.replace("/", "--") / commit
    if not (local / RESULTS).exists():
        rows = rows_from_parquet(files[PARQUET], f"{ref} {PARQUET}")
        try:
            manifest = json.loads(files[MANIFEST].read_bytes().decode("utf-8"))
        except ValueError as err:
            raise SweepError(f"{ref} {MANIFEST} cannot be read as JSON ({err}); the pushed sweep is corrupt") from None
        check_manifest(manifest, f"{ref} {MANIFEST}")
        atomic_write_text(local / MANIFEST, files[MANIFEST].read_text(encoding="utf-8"))
        atomic_write_text(local / RESULTS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return local


def resolve_sweep(ref: str) -> str:
    """A sweep directory for a CLI argument: local paths as given, `hf-hub:` refs fetched."""
    return str(fetch_sweep(ref)) if is_hub_ref(ref) else ref
