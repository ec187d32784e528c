import pytest

from btfarm.orchestrator.reports import dump as dump_module
from btfarm.orchestrator.reports.dump import dump_report
from btfarm.shared.errors import ReportError
from btfarm.shared.settings import reload_settings

pytestmark = pytest.mark.unit


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_default_path_is_mode_and_name_under_the_dump_folder(tmp_path):
    written = dump_report("# report\n", "backtest", "BTCUSDT_sma", dump_dir=tmp_path / "dump")
    assert written == (tmp_path / "dump" / "backtest" / "BTCUSDT_sma.md").resolve()
    assert written.read_text(encoding="utf-8") == "# report\n"
    assert files_under(tmp_path) == ["dump/backtest/BTCUSDT_sma.md"]


def test_the_dump_folder_comes_from_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("BTFARM_DUMP_DIR", str(tmp_path / "from-env"))
    reload_settings()
    try:
        written = dump_report("x", "walker", "w1")
    finally:
        monkeypatch.delenv("BTFARM_DUMP_DIR")
        reload_settings()
    assert written == (tmp_path / "from-env" / "walker" / "w1.md").resolve()


def test_a_relative_path_lands_inside_the_dump_folder(tmp_path):
    written = dump_report("x", "live", "ignored", path="custom/report.md", dump_dir=tmp_path)
    assert written == (tmp_path / "custom" / "report.md").resolve()


def test_an_absolute_path_inside_the_dump_folder_is_allowed(tmp_path):
    target = tmp_path / "live" / "abs.md"
    assert dump_report("x", "live", "n", path=target, dump_dir=tmp_path) == target.resolve()


@pytest.mark.parametrize("path", ["../x.md", "backtest/../../x.md"])
def test_a_path_climbing_out_is_refused_and_nothing_is_written(tmp_path, path):
    dump_dir = tmp_path / "dump"
    with pytest.raises(ReportError) as info:
        dump_report("x", "backtest", "n", path=path, dump_dir=dump_dir)
    message = str(info.value)
    assert path in message and str(dump_dir.resolve()) in message
    assert files_under(tmp_path) == []
    assert not dump_dir.exists()


def test_an_absolute_path_elsewhere_is_refused(tmp_path):
    outside = tmp_path / "elsewhere" / "x.md"
    with pytest.raises(ReportError, match="outside the dump folder"):
        dump_report("x", "backtest", "n", path=outside, dump_dir=tmp_path / "dump")
    assert files_under(tmp_path) == []


def test_a_name_climbing_out_is_refused(tmp_path):
    with pytest.raises(ReportError, match="outside the dump folder"):
        dump_report("x", "backtest", "../../escape", dump_dir=tmp_path / "dump")
    assert files_under(tmp_path) == []


def test_a_symlink_pointing_out_is_refused(tmp_path):
    dump_dir = tmp_path / "dump"
    outside = tmp_path / "outside"
    dump_dir.mkdir()
    outside.mkdir()
    (dump_dir / "backtest").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ReportError, match="outside the dump folder"):
        dump_report("x", "backtest", "n", dump_dir=dump_dir)
    assert list(outside.iterdir()) == []


def test_an_unknown_mode_is_refused(tmp_path):
    with pytest.raises(ReportError, match="'backtset'"):
        dump_report("x", "backtset", "n", dump_dir=tmp_path)


def test_an_existing_report_is_replaced_whole(tmp_path):
    dump_report("old\n", "backtest", "n", dump_dir=tmp_path)
    written = dump_report("new\n", "backtest", "n", dump_dir=tmp_path)
    assert written.read_text(encoding="utf-8") == "new\n"
    assert files_under(tmp_path) == ["backtest/n.md"]


def test_a_write_failing_midway_leaves_the_old_report_untouched(tmp_path):
    written = dump_report("old report\n", "backtest", "n", dump_dir=tmp_path)
    with pytest.raises(UnicodeEncodeError):
        dump_report("new start " * 1000 + "\udcff" + " end", "backtest", "n", dump_dir=tmp_path)
    assert written.read_text(encoding="utf-8") == "old report\n"
    assert files_under(tmp_path) == ["backtest/n.md"]  # no temporary file left behind


def test_a_failing_replace_leaves_the_old_report_untouched(tmp_path, monkeypatch):
    written = dump_report("old report\n", "backtest", "n", dump_dir=tmp_path)

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(dump_module.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        dump_report("new report\n", "backtest", "n", dump_dir=tmp_path)
    monkeypatch.undo()
    assert written.read_text(encoding="utf-8") == "old report\n"
    assert files_under(tmp_path) == ["backtest/n.md"]
