"""The guards of the SLURM test cluster (tests/slurm_cluster.py), decided on temporary directories: a
configuration these tests did not write is never overwritten, and nothing is installed unless asked."""

import pytest

from slurm_cluster import COMMANDS, INSTALL_VARIABLE, MARKER, gres_conf, plan, slurm_conf

ASKED = {INSTALL_VARIABLE: "1"}


def installed(name: str) -> str:
    return f"/usr/bin/{name}"


def not_installed(name: str) -> str | None:
    return "/usr/bin/apt-get" if name == "apt-get" else None


@pytest.mark.parametrize("name", ["slurm.conf", "gres.conf"])
@pytest.mark.parametrize("which", [installed, not_installed])
def test_a_configuration_without_the_marker_is_never_overwritten(tmp_path, name, which):
    foreign = tmp_path / name
    foreign.write_text(f"ClusterName=site\n{MARKER}\n")  # the marker counts on the first line only
    decision = plan(tmp_path, ASKED, which=which, euid=0)
    assert decision.skip is not None and str(foreign) in decision.skip and "not overwriting" in decision.skip
    assert not decision.install
    assert foreign.read_text() == f"ClusterName=site\n{MARKER}\n"


def test_an_unreadable_configuration_counts_as_foreign(tmp_path):
    (tmp_path / "slurm.conf").mkdir()  # exists, yet cannot be read as a file
    assert plan(tmp_path, ASKED, which=installed, euid=0).skip


def test_the_tests_own_configuration_may_be_replaced(tmp_path):
    (tmp_path / "slurm.conf").write_text(slurm_conf("node", tmp_path, 2, 1024))
    (tmp_path / "gres.conf").write_text(gres_conf("node"))
    assert plan(tmp_path, {}, which=installed, euid=0).skip is None


def test_missing_slurm_is_installed_only_when_the_environment_asks(tmp_path):
    for environ in ({}, {INSTALL_VARIABLE: "0"}, {INSTALL_VARIABLE: ""}):
        decision = plan(tmp_path, environ, which=not_installed, euid=0)
        assert not decision.install
        assert INSTALL_VARIABLE in decision.skip and all(command in decision.skip for command in COMMANDS)
    assert plan(tmp_path, ASKED, which=not_installed, euid=0).install
    assert plan(tmp_path, ASKED, which=not_installed, euid=0).skip is None


def test_asked_to_install_without_root_or_apt_get_skips(tmp_path):
    not_root = plan(tmp_path, ASKED, which=not_installed, euid=1000)
    assert not not_root.install and "root" in not_root.skip
    no_apt = plan(tmp_path, ASKED, which=lambda name: None, euid=0)
    assert not no_apt.install and "apt-get" in no_apt.skip


def test_installed_slurm_is_used_as_it_is(tmp_path):
    assert plan(tmp_path, ASKED, which=installed, euid=0) == plan(tmp_path, {}, which=installed, euid=0)
    assert not plan(tmp_path, ASKED, which=installed, euid=0).install
    assert "root" in plan(tmp_path, {}, which=installed, euid=1000).skip
