"""A tfds dataset that would need a download fails at once offline, with the remedy, instead of letting
tensorflow-datasets retry for minutes (issue 19, item 2). No request ever leaves the machine."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from zoo.cli import main
from zoo.data import open_split
from zoo.errors import DatasetError


@pytest.fixture
def requests_refused(monkeypatch):
    """Every HTTP request is recorded and refused (as tfds' downloader would see a dead network)."""
    tried: list[str] = []

    def get(self, url, *args, **kwargs):
        tried.append(url)
        raise requests.ConnectionError(f"test: no network for {url}")

    monkeypatch.setattr(requests.Session, "get", get)
    return tried


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "ZOO_OFFLINE", "no name resolution"])
def test_an_unprepared_tfds_dataset_offline_fails_at_once_with_the_remedy(tmp_path, monkeypatch, requests_refused, how):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    if how == "no name resolution":

        def no_dns(*args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    else:
        monkeypatch.setenv(how, "1")
    start = time.perf_counter()

    with pytest.raises(DatasetError) as info:
        open_split("cifar10", "train", data_dir=tmp_path)

    message = str(info.value)
    assert "'cifar10' is not prepared" in message and str(tmp_path) in message
    assert (how in message) if how != "no name resolution" else ("does not resolve" in message)
    assert "--data-dir" in message and "--dataset digits" in message
    assert requests_refused == []  # nothing was even tried
    assert time.perf_counter() - start < 30  # tfds' own retries took minutes


def test_zoo_train_on_an_unprepared_dataset_offline_is_one_line(tmp_path, requests_refused, capsys):
    code = main(
        ["train", "regnetx32", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("zoo: error:") and "cannot be downloaded" in err[0]
    assert requests_refused == []
