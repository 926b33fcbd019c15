"""The directory publisher: a batch of files written with one sync, each file old or new."""

from __future__ import annotations

from pathlib import Path

import pytest

from verdicts.render import publisher as publisher_module
from verdicts.render.publisher import DirectoryPublisher

pytestmark = pytest.mark.unit


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_batch_replaces_every_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    site = DirectoryPublisher(tmp_path / "site")
    site.publish("compare/a-vs-b/index.html", b"old", "text/html")
    site.publish_all(
        [
            ("compare/a-vs-b/index.html", b"<p>new</p>", "text/html"),
            ("compare/a-vs-b/index.json", b"{}", "application/json"),
            ("tools/a/index.html", b"first", "text/html"),
            ("tools/a/index.html", b"last", "text/html"),
        ]
    )
    assert files_under(tmp_path / "site") == {
        "compare/a-vs-b/index.html": b"<p>new</p>",
        "compare/a-vs-b/index.json": b"{}",
        "tools/a/index.html": b"last",
    }
    assert (tmp_path / "site/tools/a/index.html").stat().st_mode & 0o777 == 0o644


def test_a_path_outside_the_site_writes_nothing(tmp_path: Path) -> None:
    site = DirectoryPublisher(tmp_path / "site")
    with pytest.raises(ValueError, match="outside the site"):
        site.publish_all([("tools/a/index.html", b"a", "text/html"), ("../escape", b"x", "text/plain")])
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "site").exists() or files_under(tmp_path / "site") == {}


def test_a_failed_sync_renames_nothing_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = DirectoryPublisher(tmp_path / "site")
    site.publish("tools/a/index.html", b"old", "text/html")

    def failing_sync(*_: object, **__: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(site, "_sync", failing_sync)
    with pytest.raises(OSError, match="disk gone"):
        site.publish_all(
            [("tools/a/index.html", b"new", "text/html"), ("tools/b/index.html", b"b", "text/html")]
        )
    assert files_under(tmp_path / "site") == {"tools/a/index.html": b"old"}


def test_without_syncfs_each_file_and_directory_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher_module, "SYNCFS", None)
    site = DirectoryPublisher(tmp_path / "site")
    site.publish_all([("a/index.html", b"a", "text/html"), ("b/index.html", b"b", "text/html")])
    assert files_under(tmp_path / "site") == {"a/index.html": b"a", "b/index.html": b"b"}


def test_a_link_out_of_the_site_is_refused_whether_a_folder_or_the_file_itself(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.html").write_bytes(b"theirs")
    site = DirectoryPublisher(tmp_path / "site")
    site.publish_all([("tools/a/index.html", b"a", "text/html")])
    (tmp_path / "site/linked").symlink_to(outside)
    (tmp_path / "site/tools/b").mkdir()
    (tmp_path / "site/tools/b/index.html").symlink_to(outside / "index.html")
    (tmp_path / "site/tools/c").symlink_to(tmp_path / "site/tools/a")  # inside: followed, as before
    for path in ("linked/index.html", "tools/b/index.html", "tools/a/../../linked/x"):
        with pytest.raises(ValueError, match="outside the site"):
            site.publish_all([("tools/a/index.html", b"new", "text/html"), (path, b"x", "text/html")])
    assert (outside / "index.html").read_bytes() == b"theirs"
    assert sorted(p.name for p in outside.iterdir()) == ["index.html"]
    assert (tmp_path / "site/tools/a/index.html").read_bytes() == b"a"
    site.publish_all([("tools/c/index.html", b"via c", "text/html")])
    assert (tmp_path / "site/tools/a/index.html").read_bytes() == b"via c"
    assert site.resolve("tools/c/index.html") == (tmp_path / "site/tools/a/index.html").resolve()
