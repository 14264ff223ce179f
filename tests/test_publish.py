"""Publishing a sealed preset and restoring it from a URL or a tarball, offline: a loopback static
HTTP server stands in for the host (no directory listings, no HEAD, optional redirects and 503s)."""

import hashlib
import http.server
import json
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from grokstudy import config
from grokstudy.artifacts import integrity
from study_repo import REPO, SMOKE, SMOKE_RESULTS, clone, grokstudy, planned_jobs, run, snakemake

pytestmark = pytest.mark.workflow


class StaticHandler(http.server.BaseHTTPRequestHandler):
    """GET of files under the server's root; directories 404; HEAD refused; a mode for a second
    server that redirects every request, and one that answers 503."""

    def do_HEAD(self):
        self.send_error(405)

    def do_GET(self):
        server = self.server
        if server.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", server.target + self.path)
            self.end_headers()
            return
        if server.mode == "unavailable":
            self.send_error(503)
            return
        path = (server.root / self.path.lstrip("/")).resolve()
        if not path.is_relative_to(server.root) or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@contextmanager
def serve(root: Path, mode: str = "files", target: str = ""):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StaticHandler)
    server.root, server.mode, server.target = Path(root).resolve(), mode, target
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def published(sealed, tmp_path_factory) -> dict:
    """The sealed smoke preset published twice into one directory by its author."""
    out = tmp_path_factory.mktemp("published")
    first = grokstudy(sealed["author"], "publish", "--configfile", SMOKE, "--to", str(out))
    tarballs = {p.name: p.read_bytes() for p in out.glob("*.tar.gz")}
    again = grokstudy(sealed["author"], "publish", "--configfile", SMOKE, "--to", str(out))
    return {"dir": out, "first": first.stdout, "again": again.stdout, "tarballs": tarballs}


def reader(sealed, tmp_path: Path) -> Path:
    """A fresh clone that never saw the author's remote (its default remote does not exist)."""
    return clone(sealed["author"], tmp_path / "reader", remote_url="/nonexistent/dvc-remote")


def figures_of(repo: Path) -> dict[str, bytes]:
    root = repo / SMOKE_RESULTS / "figures"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def unchanged(repo: Path) -> bool:
    return not (repo / SMOKE_RESULTS / "figures").exists() and not (repo / ".snakemake" / "metadata").exists()


def test_publish_writes_the_tree_tarballs_and_manifest_and_adds_only_new_objects(published):
    out = published["dir"]
    objects = [p for p in (out / "remote" / "files" / "md5").rglob("*") if p.is_file()]
    assert objects and any(p.name.endswith(".dir") for p in objects)
    for p in objects:
        md5 = p.parent.name + p.name.removesuffix(".dir")
        assert hashlib.md5(p.read_bytes()).hexdigest() == md5
    assert " new" in published["first"] and ", 0 new" in published["again"]
    assert "huggingface" in published["first"] and "Zenodo" in published["first"]
    assert sorted(published["tarballs"]) == ["grokstudy-smoke-checkpoints.tar.gz", "grokstudy-smoke-evidence.tar.gz"]
    for name, first in published["tarballs"].items():
        assert (out / name).read_bytes() == first  # reproducible: the same bytes when published again
        recorded = (out / f"{name}.sha256").read_text().split()[0]
        assert hashlib.sha256(first).hexdigest() == recorded
    manifest = (out / "smoke.manifest.json").read_text()
    assert '"checkpoints"' in manifest and '"figures"' in manifest


def test_restore_through_a_redirecting_host_gives_the_authors_figures(sealed, published, tmp_path):
    repo = reader(sealed, tmp_path)
    with serve(published["dir"] / "remote") as origin, serve(REPO, "redirect", origin) as redirect:
        result = grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures", "--from", redirect)
    assert "all checked against their md5" in result.stdout
    assert figures_of(repo) == figures_of(sealed["author"])
    assert planned_jobs(repo) == {}


def test_restore_from_a_published_tarball(sealed, published, tmp_path):
    repo = reader(sealed, tmp_path)
    tarball = published["dir"] / "grokstudy-smoke-evidence.tar.gz"
    grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures", "--from", str(tarball))
    assert figures_of(repo) == figures_of(sealed["author"])
    assert planned_jobs(repo) == {}


def _damaged_tree(published, sealed, tmp_path: Path, damage) -> Path:
    tree = Path(shutil.copytree(published["dir"] / "remote", tmp_path / "tree"))
    # "<md5>.dir": the listing a figures restore must read
    figures_listing = integrity.pointer_md5(sealed["author"] / SMOKE_RESULTS / "figures.dvc")
    damage(tree, figures_listing)
    return tree


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def _png_object(tree: Path, figures_listing: str) -> Path:
    """An object the figures class needs: a PNG that the figures listing names."""
    entries = json.loads((tree / integrity.object_key(figures_listing)).read_bytes())
    return tree / integrity.object_key(next(e["md5"] for e in entries if e["relpath"].endswith(".png")))


def _delete(tree, figures_listing) -> None:
    _png_object(tree, figures_listing).unlink()


def _flip_png(tree, figures_listing) -> None:
    _flip(_png_object(tree, figures_listing))


def _tamper_listing(tree, figures_listing) -> None:
    listing = tree / integrity.object_key(figures_listing)
    listing.chmod(0o644)
    listing.write_bytes(listing.read_bytes().replace(b".png", b".pnG", 1))


DAMAGE = {
    "deleted object": (_delete, "not found (HTTP 404)"),
    "flipped byte": (_flip_png, "corrupt: its md5"),
    "tampered listing": (_tamper_listing, "corrupt: its md5"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_host_is_named_and_nothing_changes(sealed, published, tmp_path, case):
    damage, cause = DAMAGE[case]
    tree = _damaged_tree(published, sealed, tmp_path, damage)
    repo = reader(sealed, tmp_path)
    with serve(tree) as url:
        result = grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures", "--from", url, check=False)
    assert result.returncode == 2, result.stderr
    assert cause in result.stderr and url in result.stderr and "Nothing in results/" in result.stderr
    assert unchanged(repo)


def test_a_closed_port_and_a_failing_server_are_named(sealed, published, tmp_path):
    repo = reader(sealed, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures", "--from", closed, check=False)
    assert result.returncode == 2 and "connection refused" in result.stderr and closed in result.stderr
    with serve(published["dir"] / "remote", "unavailable") as url:
        result = grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures", "--from", url, check=False)
    assert result.returncode == 2 and "server error (HTTP 503)" in result.stderr
    assert unchanged(repo)


def test_a_tarball_whose_sha256_does_not_match_is_refused(sealed, published, tmp_path):
    repo = reader(sealed, tmp_path)
    tarball = Path(shutil.copy(published["dir"] / "grokstudy-smoke-evidence.tar.gz", tmp_path / "t.tar.gz"))
    (tmp_path / "t.tar.gz.sha256").write_text("0" * 64 + "  t.tar.gz\n")
    result = grokstudy(repo, "restore", "--configfile", SMOKE, "--only", "figures", "--from", str(tarball), check=False)
    assert result.returncode == 2 and "is corrupt: its sha256" in result.stderr
    assert unchanged(repo)


def test_seal_refuses_the_read_only_public_remote(sealed, tmp_path):
    repo = clone(sealed["author"], tmp_path / "no-local-remote")
    result = grokstudy(repo, "seal", "--configfile", SMOKE, check=False)
    assert result.returncode == 2
    assert "nobody can push to" in result.stderr and "dvc remote add -d --local public" in result.stderr


# Every committed seal predates the code's exact dependencies (grokstudy.jobs entries, error text
# outside the digests): its job record holds what made the files, so a restore with today's code
# plans the whole preset, every dataset job explained by its code, until the preset is resealed.
PRESETS = ["config/config.yaml", "config/extended.yaml", "config/recurrent.yaml", "config/monitors.yaml"]


def explained_since_the_seal(repo: Path, preset: str) -> None:
    """Snakemake plans every dataset job again, and `why` says it is their code that changed."""
    planned = planned_jobs(repo, preset)
    datasets = len(config.load(repo / preset)["datasets"])  # one per seed of each
    assert planned.get("prepare_dataset") == datasets and planned.get("train")
    explained = grokstudy(repo, "why", "--configfile", preset).stdout
    assert explained.count("        added    grokstudy.jobs.prepare") == datasets


def regenerated_results_page(repo: Path, preset: str) -> str:
    """The committed docs/results/<name>.md, checked byte for byte against what `grokstudy results-page`
    writes from the restored report; its text."""
    name = yaml.safe_load((repo / preset).read_text())["name"]
    page = repo / "docs" / "results" / f"{name}.md"
    committed = page.read_bytes()
    grokstudy(repo, "results-page", "--configfile", preset)
    assert page.read_bytes() == committed, f"{page.name} is not what `grokstudy results-page` writes from the evidence"
    return page.read_text()


@pytest.mark.parametrize("preset", PRESETS[:3])
def test_the_committed_evidence_restores_offline_and_regenerates_byte_identical_figures(tmp_path, preset):
    """A clone with no remote it can reach: the repository's own evidence tree serves the figures, and
    Snakemake plans exactly what changed since the seal, each job explained by `grokstudy why`; the
    results page and the README's status lines are what the restored report gives."""
    repo = tmp_path / "repo"
    run(tmp_path, "git", "clone", "-q", str(REPO), str(repo))
    grokstudy(repo, "restore", "--configfile", preset, "--only", "figures")
    explained_since_the_seal(repo, preset)
    table = grokstudy(repo, "claims-table", "--configfile", preset).stdout.strip()
    assert table in regenerated_results_page(repo, preset)
    lines = grokstudy(repo, "results-page", "--configfile", preset, "--status-lines").stdout.strip()
    assert lines.startswith("- **"), lines
    assert lines in (repo / "README.md").read_text(), "the README's status lines are not the report's"
    figure = repo / "results" / yaml.safe_load((repo / preset).read_text())["name"] / "figures"
    restored = (figure / "accuracy_curves.png").read_bytes()
    drawn = yaml.safe_load((repo / preset).read_text())["figures"]["accuracy_curves"]["runs"]
    restored_runs = {path.parent.name.rsplit(".s", 1)[0] for path in (figure.parent / "runs").glob("*/metrics.parquet")}
    if not set(drawn) <= restored_runs:
        pytest.skip(f"the accuracy figure draws {sorted(set(drawn) - restored_runs)}, added since the seal")
    # The figure as the target: a preset may have gained runs since its seal, whose files `all` needs.
    snakemake(
        repo,
        str((figure / "accuracy_curves.png").relative_to(repo)),
        "--configfile",
        preset,
        "--cores",
        "1",
        "--forcerun",
        "figure_accuracy_curves",
        "--allowed-rules",
        "figure_accuracy_curves",
    )
    assert (figure / "accuracy_curves.png").read_bytes() == restored


def test_the_committed_monitors_evidence_restores_offline_and_its_results_page_holds_its_table(tmp_path):
    """The monitors preset's results page, with its monitors table, is the one its sealed evidence gives."""
    preset = "config/monitors.yaml"
    repo = tmp_path / "repo"
    run(tmp_path, "git", "clone", "-q", str(REPO), str(repo))
    grokstudy(repo, "restore", "--configfile", preset, "--only", "figures", "probes")
    explained_since_the_seal(repo, preset)
    table = grokstudy(repo, "monitors-table", "--configfile", preset).stdout.strip()
    assert table.count("\n") >= 3
    assert table in regenerated_results_page(repo, preset), "the results page's monitors table is not the report's"
