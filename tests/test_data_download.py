"""The downloader and the MNIST/Fashion-MNIST file handling, against a local HTTP server."""

import dataclasses
import gzip
import hashlib
import http.server
import importlib
import threading

import numpy as np
import pytest

from ffnn import data
from ffnn.data import mnist
from ffnn.data.idx import write_idx
from ffnn.errors import DataError

# ``ffnn.data.download`` is the public function; the module of the same name is reached here.
dl = importlib.import_module("ffnn.data.download")
BODY = gzip.compress(b"the real file " * 100, mtime=0)
SHA = hashlib.sha256(gzip.decompress(BODY)).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes); ``/trunc/...`` lies about its length."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.server.hits.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        extra = 1000 if self.path.startswith("/trunc/") else 0
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.hits = {}, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FFNN_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _only(folder):
    return sorted(p.name for p in folder.iterdir())


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("FFNN_DATA", str(tmp_path))
    assert dl.cache_dir() == tmp_path
    monkeypatch.delenv("FFNN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(dl.sys, "platform", "linux")
    assert dl.cache_dir() == tmp_path / "xdg" / "ffnn"


def test_good_file(server, cache):
    server.files["/a/f.gz"] = BODY
    dest = cache / "f.gz"
    assert dl.fetch([server.url + "/a/f.gz"], dest, SHA) == dest
    assert dest.read_bytes() == BODY
    assert _only(cache) == ["f.gz"]


def test_md5_of_file_as_served(server, cache):
    server.files["/a/f.gz"] = BODY
    dl.fetch([server.url + "/a/f.gz"], cache / "f.gz", md5=hashlib.md5(BODY).hexdigest())
    with pytest.raises(DataError, match="MD5 mismatch"):
        dl.fetch([server.url + "/a/f.gz"], cache / "g.gz", md5="0" * 32)


def test_wrong_checksum(server, cache):
    server.files["/a/f.gz"] = gzip.compress(b"tampered")
    with pytest.raises(DataError) as err:
        dl.fetch([server.url + "/a/f.gz"], cache / "f.gz", SHA)
    message = str(err.value)
    assert "/a/f.gz" in message and "SHA-256 mismatch" in message
    assert SHA in message and hashlib.sha256(b"tampered").hexdigest() in message
    assert _only(cache) == []


def test_404(server, cache):
    with pytest.raises(DataError, match=r"/missing/f.gz: HTTP 404"):
        dl.fetch([server.url + "/missing/f.gz"], cache / "f.gz", SHA)
    assert _only(cache) == []


def test_truncated_body(server, cache):
    server.files["/trunc/f.gz"] = BODY
    with pytest.raises(DataError, match=f"truncated body: expected {len(BODY) + 1000} bytes, got {len(BODY)}"):
        dl.fetch([server.url + "/trunc/f.gz"], cache / "f.gz", SHA)
    assert _only(cache) == []


def test_unreachable_mirror(cache):
    with pytest.raises(DataError, match="127.0.0.1:9/f.gz"):
        dl.fetch(["http://127.0.0.1:9/f.gz"], cache / "f.gz", SHA, timeout=5)


def test_first_mirror_fails_second_succeeds(server, cache):
    server.files["/b/f.gz"] = BODY
    urls = [server.url + "/a/f.gz", server.url + "/trunc/f.gz", server.url + "/b/f.gz"]
    server.files["/trunc/f.gz"] = BODY
    dest = dl.fetch(urls, cache / "f.gz", SHA)
    assert dest.read_bytes() == BODY
    assert server.hits == ["/a/f.gz", "/trunc/f.gz", "/b/f.gz"]
    assert _only(cache) == ["f.gz"]


def test_all_mirrors_fail_lists_each(server, cache):
    server.files["/bad/f.gz"] = gzip.compress(b"other")
    with pytest.raises(DataError) as err:
        dl.fetch([server.url + "/a/f.gz", server.url + "/bad/f.gz"], cache / "f.gz", SHA)
    lines = str(err.value).splitlines()
    assert any("/a/f.gz: HTTP 404" in line for line in lines)
    assert any("/bad/f.gz: SHA-256 mismatch" in line for line in lines)


def test_good_cache_file_is_not_downloaded_again(server, cache):
    cache.mkdir()
    (cache / "f.gz").write_bytes(BODY)
    server.files["/a/f.gz"] = gzip.compress(b"something else")
    dl.fetch([server.url + "/a/f.gz"], cache / "f.gz", SHA)
    assert server.hits == [] and (cache / "f.gz").read_bytes() == BODY


def test_good_cache_file_survives_failed_download(server, cache, monkeypatch):
    cache.mkdir()
    (cache / "f.gz").write_bytes(BODY)
    monkeypatch.setattr(dl, "verify", lambda *a, **k: "pretend the cache is stale")
    with pytest.raises(DataError):
        dl.fetch([server.url + "/a/f.gz"], cache / "f.gz", SHA)
    assert (cache / "f.gz").read_bytes() == BODY and _only(cache) == ["f.gz"]


def test_corrupt_cache_file_is_replaced(server, cache):
    cache.mkdir()
    (cache / "f.gz").write_bytes(BODY[: len(BODY) // 2])  # an interrupted copy
    server.files["/a/f.gz"] = BODY
    dl.fetch([server.url + "/a/f.gz"], cache / "f.gz", SHA)
    assert (cache / "f.gz").read_bytes() == BODY


def test_corrupt_cache_file_never_used(cache):
    cache.mkdir()
    (cache / "f.gz").write_bytes(b"garbage")
    with pytest.raises(DataError):
        dl.fetch(["http://127.0.0.1:9/f.gz"], cache / "f.gz", SHA, timeout=5)


def test_fetch_needs_a_checksum(cache):
    with pytest.raises(DataError, match="checksum"):
        dl.fetch(["http://127.0.0.1:9/f.gz"], cache / "f.gz")


def test_content_sha256_ignores_compression(tmp_path):
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"abc", compresslevel=1))
    (tmp_path / "b").write_bytes(b"abc")
    assert dl.content_sha256(tmp_path / "a.gz") == dl.content_sha256(tmp_path / "b") \
        == hashlib.sha256(b"abc").hexdigest()


def _fake_mnist(folder):
    """Four small-alphabet IDX files with the real MNIST shapes; returns {name: bytes}."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": np.zeros((60000, 28, 28), np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 60000).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": np.full((10000, 28, 28), 255, np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 10000).astype(np.uint8),
    }
    files = {}
    for name, array in arrays.items():
        write_idx(folder / name, array)
        files[name] = (folder / name).read_bytes()
    return files


def test_mnist_download_and_load_via_mirror_env(server, cache, tmp_path, monkeypatch):
    files = _fake_mnist(tmp_path / "src")
    for name, body in files.items():
        server.files["/mirror/" + name] = body
    fake = dataclasses.replace(mnist.SOURCES["mnist"],
                               md5={k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    monkeypatch.setitem(mnist.SOURCES, "mnist", fake)
    monkeypatch.setenv("FFNN_MNIST_MIRROR", f"{server.url}/nothing-here/ {server.url}/mirror")
    paths = data.download("mnist")
    assert [p.name for p in paths] == list(mnist.FILES)
    assert all(p.parent == cache / "mnist" for p in paths)
    assert _only(cache / "mnist") == sorted(mnist.FILES)
    server.hits.clear()
    ds = data.load("mnist")  # served from the cache now
    assert server.hits == []
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.X_train.dtype == np.float32 and ds.X_test.max() == 1.0 and ds.X_train.max() == 0.0
    assert ds.y_train.dtype == np.int64 and ds.image_shape == (28, 28)
    assert "not downloaded" not in data.info("mnist")


def test_mnist_mirrors_default_and_env(monkeypatch):
    monkeypatch.delenv("FFNN_MNIST_MIRROR", raising=False)
    assert mnist.mirrors("mnist") == mnist.MNIST_MIRRORS
    monkeypatch.setenv("FFNN_MNIST_MIRROR", "http://a/,http://b/")
    assert mnist.mirrors("mnist") == ("http://a/", "http://b/")


def test_download_of_non_downloadable_sets():
    with pytest.raises(DataError, match="needs no download"):
        data.download("circle")
    with pytest.raises(DataError, match="unknown data set"):
        data.download("cifar")


@pytest.mark.parametrize("damage", ["truncated", "invalid-deflate"])
def test_verify_reports_a_damaged_gzip_file_instead_of_raising(tmp_path, damage):
    """zlib.error and EOFError from a cached file are a reason to download again, not a crash."""
    good = gzip.compress(bytes(range(256)) * 64)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(good[:len(good) // 2] if damage == "truncated" else good[:10] + b"\xff" * 8 + good[18:])
    problem = dl.verify(path, sha256="0" * 64)
    assert problem is not None and problem.startswith("unreadable")
